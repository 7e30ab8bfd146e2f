#!/usr/bin/env python
"""Bulk-ingest benchmark: the same measurements loaded by psql \\copy, the bulk endpoint and a naive
serializer, against a lean table of the same columns measured in the same run.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--memory-rows 200000] [--naive-rows 100000]
                                     [--preload-rows 2000000] [--database-url URL] [--repeat 1]

What it does, in one run:

1. Points Django (config.settings.test) at a dedicated PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/celltrace_bench_ingest), drops and recreates it and
   migrates it. --database-url must name a database whose name contains "bench": it is dropped.
   The monthly partitions of the bench's year (the 12 months up to March 2026) are created.
2. Creates the parameters mass_loading (mg/cm**2) and coating_thickness (um) of the coating
   step, with typical ranges that flag some of the values, registers 20 coated rolls of
   1000 m through lots.services.item_register and an operator with an API token.
3. Writes a CSV of --rows measurements in the API's columns (parameter, value, unit, item,
   position_m, measured_at, source, instrument): mass_loading sent in g/m**2 (so every row is
   converted), coating_thickness in um, every 0.02 m along the rolls, one per 10 ms; and the same
   rows pre-converted to the table's columns for psql.
4. Loads them, the tables TRUNCATEd before each run (the measurement table's triggers refuse
   DELETE and TRUNCATE; the bench, a superuser, switches them off for it), and counts the rows:
   a. the ceiling: `psql \\copy` of the pre-converted CSV into `bench_lean_measurement`, a plain
      table the bench creates with the measurement table's columns, a primary key and the two
      indexes a measurement table needs, (item_id, position_m) and (parameter_id, measured_at):
      no partitions, no foreign keys, no checks, no triggers, no validation, no HTTP;
   a'. the same \\copy into the measurement table itself (partitioned, its indexes, foreign
      keys, checks and triggers): what the table costs, without the endpoint;
   b. POST /api/measurements/bulk/ over real HTTP: `manage.py runserver --noreload` in a
      subprocess (DATABASE_CONN_MAX_AGE=60), the CSV streamed from the file by requests with an
      operator's token. The server is started fresh for each upload size, and its peak RSS
      (VmHWM of /proc/<pid>/status) is read after an upload of --memory-rows rows and after one of
      --rows rows, to show memory does not grow with the upload;
   c. the naive baseline, in-process (no HTTP, no CSV parsing in the timing): a DRF
      ModelSerializer(many=True) with SlugRelatedFields for parameter and item validates
      --naive-rows rows (dicts from the same CSV; unit conversion through a cached
      measurements.services.linear_to_canonical, position and range checks as the service does),
      then Measurement.objects.bulk_create(batch_size=1000) in one transaction. Its rate is
      measured on that subset and taken as the rate for the full size (it is linear in rows);
   d. with --preload-rows N (0: skipped): N rows put straight into the measurement table by one
      INSERT ... SELECT FROM generate_series, spread evenly over the 12 months before the bench's
      rows and half a month past their start (so the partition they go to is not empty either),
      then the --rows upload of (b) again: the rate when the table already holds a year of data;
      then the lean table is given the same rows and the \\copy of (a) is timed into it again (the
      ceiling for a table that already holds them, measured after the upload, in the same run).
      The issue's figure is --preload-rows 50000000 (about 15 minutes of preload on 2 cores and
      some 20 GB of disk); the default, 2,000,000, keeps a run short.
5. Prints rows/s for each, bulk/lean \\copy, bulk/naive and preloaded bulk/lean \\copy, the
   memory figures and the goals (bulk >= 0.5 of the lean \\copy, empty and preloaded, and >= 5x
   naive, memory flat), and writes bench/ingest-results.json.

With --repeat N the \\copy and bulk loads run N times each and the best is kept (the naive
baseline and the preloaded run once). The machine's load average is recorded: on a shared machine
the figures move with it (the bulk endpoint needs two busy processes, its server and PostgreSQL;
psql one).
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest_data import (
    LEAN_TABLE,
    MEASUREMENT_TABLE,
    TABLE_COLUMNS,
    Setup,
    head,
    measurement_count,
    preload,
    server_version,
    tables_prepare,
    truncate,
    write_csvs,
)
from ingest_report import GOALS, Loads, Rates, results_record, summary_print
from support import Server, database_recreate, django_environment, dsn, log

RESULTS = Path(__file__).resolve().parent / "ingest-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_ingest"


def lean_preloaded(url: str, table_csv: Path) -> float:
    """The lean table given the measurement table's rows (the preload and the bulk upload), then
    the \\copy of the ceiling timed into it: the ceiling for a table that already holds them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LEAN_TABLE}")
        cursor.execute(f"INSERT INTO {LEAN_TABLE} SELECT * FROM {MEASUREMENT_TABLE}")  # noqa: S608
        cursor.execute("CHECKPOINT")
    return load_psql_copy(url, table_csv, LEAN_TABLE)


# --- the three loads -----------------------------------------------------------------------------


def load_psql_copy(url: str, table_csv: Path, table: str) -> float:
    psql = shutil.which("psql")
    if psql is None:
        raise SystemExit("psql is not on PATH")
    empty = "room, method, file, file_sha256, correction_reason"  # '' rather than NULL (NOT NULL columns)
    command = (
        f"\\copy {table}({', '.join(TABLE_COLUMNS)}) FROM '{table_csv}' "
        f"WITH (FORMAT csv, HEADER, FORCE_NOT_NULL ({empty}))"
    )
    started = time.perf_counter()
    subprocess.run([psql, dsn(url), "-v", "ON_ERROR_STOP=1", "-q", "-c", command], check=True)
    return time.perf_counter() - started


def load_endpoint(env: dict[str, str], token: str, api_csv: Path) -> dict[str, Any]:
    """POST the CSV to a fresh server; seconds, response and the server's memory."""
    import requests

    server = Server(env)
    if not server.wait():
        raise SystemExit(f"runserver did not start; see {server.log.name}")
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        warm = session.get(f"http://127.0.0.1:{server.port}/api/kinds/", timeout=60)
        warm.raise_for_status()
        before = server.memory_kib()
        with api_csv.open("rb") as body:
            started = time.perf_counter()
            response = session.post(
                f"http://127.0.0.1:{server.port}/api/measurements/bulk/",
                data=body,  # streamed from the file, with its Content-Length
                headers={"Content-Type": "text/csv"},
                timeout=3600,
            )
            seconds = time.perf_counter() - started
        after = server.memory_kib()
        if response.status_code != 201:
            raise SystemExit(f"bulk endpoint answered {response.status_code}: {response.text[:2000]}")
        return {
            "seconds": seconds,
            "response": response.json(),
            "body_bytes": api_csv.stat().st_size,
            "server_rss_before_kib": before["VmRSS"],
            "server_peak_rss_kib": after["VmHWM"],
            "server_peak_growth_kib": after["VmHWM"] - before["VmHWM"],
        }
    finally:
        server.stop()


def load_naive(setup: Setup, api_csv: Path, rows: int) -> float:
    """The baseline a DRF project starts with: a ModelSerializer(many=True) and bulk_create."""
    from django.db import transaction
    from rest_framework import serializers

    from lots.models import Item
    from measurements.assignment import position_check
    from measurements.models import Measurement, Parameter
    from measurements.services import Linear, linear_to_canonical, out_of_range

    linears: dict[tuple[int, str], Linear] = {}

    class NaiveMeasurementSerializer(serializers.ModelSerializer[Measurement]):
        parameter = serializers.SlugRelatedField(slug_field="code", queryset=Parameter.objects.all())
        item = serializers.SlugRelatedField(slug_field="code", queryset=Item.objects.all())
        unit = serializers.CharField(write_only=True)

        class Meta:
            model = Measurement
            fields = ["parameter", "value", "unit", "item", "position_m", "measured_at", "source", "instrument"]

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            parameter, unit = attrs["parameter"], attrs.pop("unit")
            key = (parameter.pk, unit)
            if key not in linears:
                linears[key] = linear_to_canonical(unit, parameter)
            attrs["sent_value"], attrs["sent_unit"] = attrs["value"], unit
            attrs["value"] = linears[key](attrs["value"])
            attrs["out_of_range"] = out_of_range(parameter, [attrs["value"]])
            position_check(attrs["item"], attrs.get("position_m"))
            return attrs

    with api_csv.open(newline="") as source:
        data = [row for _, row in zip(range(rows), csv.DictReader(source), strict=False)]
    started = time.perf_counter()
    serializer = NaiveMeasurementSerializer(data=data, many=True)
    serializer.is_valid(raise_exception=True)
    with transaction.atomic():
        Measurement.objects.bulk_create(
            [Measurement(**fields, created_by=setup.user) for fields in serializer.validated_data],
            batch_size=1000,
        )
    return time.perf_counter() - started


# --- the run -------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=200_000, help="the smaller upload for the memory check")
    parser.add_argument("--naive-rows", type=int, default=100_000, help="rows the naive baseline is timed on")
    parser.add_argument("--preload-rows", type=int, default=2_000_000, help="rows in the table before (d); 0: skip")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=1, help="\\copy and bulk loads per size; the best is kept")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    if not 0 < args.memory_rows <= args.rows or not 0 < args.naive_rows <= args.rows or args.preload_rows < 0:
        parser.error("--memory-rows and --naive-rows must be positive and at most --rows; --preload-rows >= 0")
    return args


def best_of(label: str, run: Callable[[], Any], expected: int, repeat: int, results: dict[str, Any], table: str) -> Any:
    """`run` `repeat` times into emptied tables, each checked for `expected` rows in `table`; the
    fastest outcome (seconds, or the endpoint's dict) is kept, every run's seconds recorded."""
    from django.db import connection

    outcomes = []
    for attempt in range(repeat):
        truncate()
        connection.close()  # no open transaction or connection state between runs
        outcome = run()
        count = measurement_count(table)
        if count != expected:
            raise SystemExit(f"{label}: {count} rows stored, expected {expected}")
        seconds = outcome["seconds"] if isinstance(outcome, dict) else outcome
        results.setdefault("runs_seconds", {}).setdefault(f"{label} {expected}", []).append(round(seconds, 3))
        log(f"  {label} run {attempt + 1}: {expected:,} rows in {seconds:.2f} s ({expected / seconds:,.0f}/s)")
        outcomes.append(outcome)
    return min(outcomes, key=lambda o: o["seconds"] if isinstance(o, dict) else o)


def preloaded_load(
    args: argparse.Namespace, setup: Setup, server_env: dict[str, str], api_csv: Path, table_csv: Path
) -> dict[str, Any]:
    """(d): the --rows upload into a table already holding --preload-rows, then the lean \\copy
    into a lean table holding the same rows."""
    from django.db import connection

    truncate()
    log(f"d. preloading {args.preload_rows:,} rows")
    preload_s = preload(setup, args.preload_rows)
    log(f"  preloaded in {preload_s:.1f} s; bulk endpoint, {args.rows:,} rows")
    connection.close()
    preloaded = load_endpoint(server_env, setup.token, api_csv)
    count = measurement_count()
    if count != args.preload_rows + args.rows:
        raise SystemExit(f"preloaded bulk: {count} rows, expected {args.preload_rows + args.rows}")
    preloaded["preload_seconds"] = preload_s
    log("  the same rows into the lean table, then \\copy into it (the preloaded ceiling)")
    preloaded["lean_copy_seconds"] = lean_preloaded(args.database_url, table_csv)
    return preloaded


def loads_measure(args: argparse.Namespace, setup: Setup, server_env: dict[str, str], results: dict[str, Any]) -> Loads:
    """Steps 3 and 4 of the module: the CSVs written, then every load timed on them."""
    url, repeat = args.database_url, args.repeat
    with tempfile.TemporaryDirectory(prefix="celltrace-bench-ingest-") as tmp:
        directory = Path(tmp)
        log(f"writing {args.rows:,} rows of CSV")
        api_csv, table_csv = write_csvs(setup, args.rows, directory)
        small_csv = head(api_csv, args.memory_rows, directory)
        results["csv_bytes"] = api_csv.stat().st_size

        def best(
            label: str, run: Callable[[], Any], expected: int, times: int = repeat, table: str = MEASUREMENT_TABLE
        ) -> Any:
            return best_of(label, run, expected, times, results, table)

        log("a. psql \\copy into the lean table (ceiling)")
        lean_s = best("\\copy lean", lambda: load_psql_copy(url, table_csv, LEAN_TABLE), args.rows, table=LEAN_TABLE)
        log("a'. psql \\copy into the measurement table")
        copy_s = best("\\copy table", lambda: load_psql_copy(url, table_csv, MEASUREMENT_TABLE), args.rows)
        log(f"b. bulk endpoint, {args.memory_rows:,} rows (memory check)")
        small = best("bulk", lambda: load_endpoint(server_env, setup.token, small_csv), args.memory_rows)
        log(f"b. bulk endpoint, {args.rows:,} rows")
        full = best("bulk", lambda: load_endpoint(server_env, setup.token, api_csv), args.rows)
        log(f"c. naive serializer + bulk_create, {args.naive_rows:,} rows")
        naive_s = best("naive", lambda: load_naive(setup, api_csv, args.naive_rows), args.naive_rows, times=1)
        preloaded = preloaded_load(args, setup, server_env, api_csv, table_csv) if args.preload_rows else None
        truncate()
    return Loads(lean_s, copy_s, small, full, naive_s, preloaded)


def main() -> None:
    args = arguments()
    server_env = django_environment(args.database_url) | {"DATABASE_CONN_MAX_AGE": "60"}

    log(f"recreating {args.database_url}")
    database_recreate(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tables_prepare()
    setup = Setup()
    results: dict[str, Any] = {
        "database": args.database_url,
        "rows": args.rows,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "postgresql": server_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "goals": GOALS,
    }
    loads = loads_measure(args, setup, server_env, results)
    rates = Rates.of(args, loads)
    results_record(args, results, loads, rates)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    summary_print(args, results, loads, rates)


if __name__ == "__main__":
    main()
