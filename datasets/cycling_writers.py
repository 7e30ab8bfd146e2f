"""Writers of the cycling tables of a dataset's cells (`cycling`, the raw BDF table, and `cycles`,
one row per cycle) as Parquet, CSV or JSON Lines, each under a temporary name renamed when complete.
"""

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from core.spreadsheet import cell_text, cell_value

from .cycling import RAW_CELL_SCHEMA, SUMMARY_CELL_SCHEMA, cycling_files
from .table import BATCH_SIZE
from .writers import FORMATS, Written, file_sha256

CYCLING_TABLES = ("cycling", "cycles")


class TableWriter:
    """Writes Arrow tables of one `schema` (the cycling tables) one after another as `fmt`, under
    a temporary name renamed when the block ends without error, like `write_dataset`. `metadata`
    (JSON values) goes into the Parquet schema. `written` is set on success."""

    def __init__(self, path: Path | str, schema: pa.Schema, fmt: str, metadata: dict[str, Any] | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"Unknown format {fmt!r}: one of {', '.join(FORMATS)}.")
        self.target = Path(path)
        self.partial = self.target.with_name(self.target.name + ".part")
        self.schema = schema.remove_metadata()
        self.fmt = fmt
        self.rows = 0
        self.written: Written | None = None
        self._sink: Any = None
        if fmt == "parquet":
            encoded = {key: json.dumps(value) for key, value in (metadata or {}).items()}
            self._sink = pq.ParquetWriter(self.partial, self.schema.with_metadata(encoded), compression="zstd")
        elif fmt == "csv":
            self._sink = pa_csv.CSVWriter(self.partial, _csv_schema(self.schema))
        else:
            self._sink = self.partial.open("wb")

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        if self.fmt == "jsonl":
            for batch in table.to_batches(BATCH_SIZE):
                self._sink.write(b"".join(orjson.dumps(row) + b"\n" for row in batch.to_pylist()))
        elif self.fmt == "csv":
            self._sink.write_table(_csv_table(table))
        else:
            self._sink.write_table(table)
        self.rows += table.num_rows

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: Any) -> None:
        try:
            self._sink.close()
            if kind is None:
                os.replace(self.partial, self.target)
                self.written = Written(
                    path=self.target, rows=self.rows, columns=len(self.schema), sha256=file_sha256(self.target)
                )
        finally:
            self.partial.unlink(missing_ok=True)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([column.with_name(cell_text(column.name)) for column in schema])


def _csv_table(table: pa.Table) -> pa.Table:
    """`table` with its text columns and names by `cell_text`; each distinct text is looked at
    once (a cycling table repeats its cell code on every row)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type):
            distinct = pc.unique(column)
            safe = pa.array([cell_value(value) for value in distinct.to_pylist()], pa.string())
            if not safe.equals(distinct):
                column = pc.take(safe, pc.index_in(column, value_set=distinct))
        columns.append(column)
    return pa.table(columns, schema=_csv_schema(table.schema))


def cycling_paths(path: Path) -> dict[str, Path]:
    """Where the cycling tables of a dataset at `path` go: `<name>-cycling.<ext>`, `<name>-cycles.<ext>`."""
    return {table: path.with_name(f"{path.stem}-{table}{path.suffix}") for table in CYCLING_TABLES}


def write_cycling(
    *,
    cells: list[str],
    paths: dict[str, Path],
    fmt: str,
    metadata: dict[str, Any] | None = None,
    problems: list[dict[str, str]] | None = None,
) -> dict[str, Written]:
    """The cycling tables of `cells` (codes) in `fmt`: `cycling` (the raw Battery Data Format
    table) and `cycles` (one row per cycle), both with the column `cell`, to `paths[table]`;
    empty tables where no cell has a cycler file. Reads one cycler file at a time; an unreadable
    one goes to `problems` (see cycling_files)."""
    writers = {
        "cycling": TableWriter(paths["cycling"], RAW_CELL_SCHEMA, fmt, metadata),
        "cycles": TableWriter(paths["cycles"], SUMMARY_CELL_SCHEMA, fmt, metadata),
    }
    with writers["cycling"] as raw_writer, writers["cycles"] as summary_writer:
        for file in cycling_files(cells=list(cells), problems=problems):
            raw_writer.write(file.raw)
            summary_writer.write(file.summary)
    return {table: writer.written for table, writer in writers.items() if writer.written is not None}
