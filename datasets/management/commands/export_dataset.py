"""Export the modeling dataset from the shell: `manage.py export_dataset --format parquet --out x`."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from datasets.columns import AGGREGATIONS, GRANULARITIES, GROUP_KEYS
from datasets.cycling_writers import cycling_paths, write_cycling
from datasets.dictionary import catalog_version, data_dictionary
from datasets.table import dataset_rows
from datasets.writers import FORMATS, LAYOUTS, write_dataset
from measurements.models import Criticality

_BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Write the per-cell (sheet, roll) dataset as Parquet, CSV or JSON Lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="parquet")
        parser.add_argument("--layout", choices=LAYOUTS, default="wide")
        parser.add_argument("--granularity", choices=GRANULARITIES, default="cell")
        parser.add_argument("--out", required=True, help="file to write")
        parser.add_argument(
            "--cycling",
            action="store_true",
            help="cells only: also write their cycler data next to --out, as <name>-cycling.<ext> "
            "(Battery Data Format) and <name>-cycles.<ext> (one row per cycle)",
        )
        parser.add_argument("--codes", nargs="+", help="only these items")
        parser.add_argument("--created-after", help="ISO date and time")
        parser.add_argument("--created-before", help="ISO date and time")
        parser.add_argument("--parameters", nargs="+", help="only these catalog parameters")
        parser.add_argument(
            "--aggregations",
            nargs="+",
            choices=AGGREGATIONS,
            help="of the parameters with several values per row (default all); one value per row is its value",
        )
        parser.add_argument(
            "--split-by", choices=[stem for stem, _kind in GROUP_KEYS], help="add a train/test column by this group"
        )
        parser.add_argument("--split-test", type=float, default=0.2, help="fraction of rows for test (default 0.2)")
        parser.add_argument("--split-seed", type=int, default=1, help="seed of the split (default 1)")
        for model in ("empirical", "continuum", "discrete", "ml"):
            parser.add_argument(
                f"--criticality-{model}",
                choices=Criticality.values,
                help=f"at least this criticality for {model} models",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        request = _request(options)
        try:
            columns, rows = dataset_rows(
                granularity=options["granularity"],
                filters=request.filters,
                parameters=options["parameters"],
                criticality=request.criticality or None,
                split=request.split,
                aggregations=options["aggregations"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        if options["cycling"] and options["granularity"] != "cell":
            raise CommandError("--cycling is for --granularity cell: only cells are cycled.")
        total = columns[0].coverage  # every row has a code
        self.stdout.write(f"{total} rows, {len(columns)} columns; writing {options['format']} ({options['layout']})")
        version = catalog_version()
        codes: list[str] = []
        written = write_dataset(
            path=options["out"],
            columns=columns,
            rows=rows,
            fmt=options["format"],
            layout=options["layout"],
            metadata={
                "celltrace.query": request.query,
                "celltrace.catalog_version": version,
                "celltrace.dictionary": data_dictionary(columns),
            },
            progress=_ProgressBar(self.stderr, total if options["layout"] == "wide" else 0),
            query=request.query,
            catalog_version=version,
            codes=codes,
        )
        self.stderr.write("")  # end the progress line
        self.stdout.write(json.dumps(written.provenance))
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {written.path}: {written.rows} rows, {written.columns} columns, sha256 {written.sha256}"
            )
        )
        if options["cycling"]:
            self._write_cycling(
                options, codes, {"celltrace.query": request.query, "celltrace.catalog_version": version}
            )

    def _write_cycling(self, options: dict[str, Any], codes: list[str], metadata: dict[str, Any]) -> None:
        paths = cycling_paths(Path(options["out"]))
        problems: list[dict[str, str]] = []
        tables = write_cycling(cells=codes, paths=paths, fmt=options["format"], metadata=metadata, problems=problems)
        for problem in problems:
            self.stderr.write(self.style.WARNING(f"Skipped: {problem['message']}"))
        for table in tables.values():
            self.stdout.write(self.style.SUCCESS(f"Wrote {table.path}: {table.rows} rows, sha256 {table.sha256}"))


@dataclass(frozen=True)
class _Request:
    """The dataset the options ask for, and the query recorded in the file's provenance."""

    filters: dict[str, Any]
    criticality: dict[str, str]
    split: dict[str, Any] | None
    query: dict[str, Any]


def _request(options: dict[str, Any]) -> _Request:
    filters = {key: options[key] for key in ("codes", "created_after", "created_before") if options[key] is not None}
    criticality = {
        model: options[f"criticality_{model}"]
        for model in ("empirical", "continuum", "discrete", "ml")
        if options[f"criticality_{model}"]
    }
    split = (
        {"by": options["split_by"], "test": options["split_test"], "seed": options["split_seed"]}
        if options["split_by"]
        else None
    )
    query: dict[str, Any] = {
        "granularity": options["granularity"],
        "filters": filters,
        "parameters": options["parameters"],
        "criticality": criticality,
        "split": split,
    }
    if options["aggregations"]:
        query["aggregations"] = options["aggregations"]
    return _Request(filters=filters, criticality=criticality, split=split, query=query)


class _ProgressBar:
    """A progress bar on one line of stderr, redrawn with a carriage return; a count of rows
    where the total is not known (0: the long layout writes several rows per root)."""

    def __init__(self, stream: OutputWrapper, total: int) -> None:
        self.stream = stream
        self.total = total

    def __call__(self, done: int) -> None:
        total = self.total
        if total:
            filled = _BAR_WIDTH * done // total
            line = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total} rows ({100 * done // total} %)"
        else:
            line = f"{done} rows"
        self.stream.write(f"\r{line}", ending="")
        self.stream.flush()
