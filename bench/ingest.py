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
import random
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import Server, database_recreate, django_environment, dsn, log

RESULTS = Path(__file__).resolve().parent / "ingest-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_ingest"
ROLLS = 20
ROLL_M = 1000.0
STEP_M = 0.02
BASE_TIME = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
GOALS = {"bulk_vs_lean_copy_min": 0.5, "bulk_vs_naive_min": 5.0, "preloaded_bulk_vs_lean_copy_min": 0.5}
LEAN_TABLE = "bench_lean_measurement"
MEASUREMENT_TABLE = "measurements_measurement"
API_COLUMNS = ["parameter", "value", "unit", "item", "position_m", "measured_at", "source", "instrument"]
TABLE_COLUMNS = [
    "parameter_id",
    "item_id",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "value",
    "sent_value",
    "sent_unit",
    "file",
    "file_sha256",
    "out_of_range",
    "correction_reason",
    "created_at",
    "created_by_id",
]


# --- database ------------------------------------------------------------------------------------


def truncate() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # The table refuses TRUNCATE; a superuser (the bench's user) may switch its triggers off.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {MEASUREMENT_TABLE}, {LEAN_TABLE}")
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def measurement_count(table: str = MEASUREMENT_TABLE) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        return int(cursor.fetchone()[0])


def tables_prepare() -> None:
    """The bench's year of monthly partitions, and the lean table of the ceiling (see the module)."""
    from django.db import connection

    from measurements.partitioning import partitions_ensure

    partitions_ensure(months_ahead=1, months_back=12, now=BASE_TIME)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {LEAN_TABLE}")
        cursor.execute(f"CREATE TABLE {LEAN_TABLE} (LIKE {MEASUREMENT_TABLE} INCLUDING DEFAULTS)")
        cursor.execute(f"ALTER TABLE {LEAN_TABLE} ADD PRIMARY KEY (id)")
        cursor.execute(f"CREATE INDEX ON {LEAN_TABLE} (item_id, position_m)")
        cursor.execute(f"CREATE INDEX ON {LEAN_TABLE} (parameter_id, measured_at)")


def preload(setup: "Setup", rows: int) -> float:
    """`rows` measurements straight into the table by one INSERT ... SELECT (see the module)."""
    from django.db import connection

    loading, thickness = setup.parameters["mass_loading"], setup.parameters["coating_thickness"]
    rolls = [roll.pk for roll in setup.rolls]
    start = BASE_TIME - timedelta(days=365)
    span_s = (timedelta(days=365 + 15)).total_seconds()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MEASUREMENT_TABLE} (parameter_id, item_id, room, position_m, measured_at, source, "  # noqa: S608
            "instrument, method, value, sent_value, sent_unit, file, file_sha256, out_of_range, correction_reason, "
            "created_at, created_by_id) "
            "SELECT CASE WHEN n %% 2 = 0 THEN %s ELSE %s END, (%s::bigint[])[1 + (n / 2) %% %s], '', "
            "((n / 2) %% 50000) * 0.02, %s::timestamptz + make_interval(secs => n * %s), 'online', 'gauge-1', '', "
            "70.0 + (n %% 97) * 0.1, 700.0, 'g/m**2', '', '', false, '', now(), %s "
            "FROM generate_series(0, %s - 1) AS n",
            [loading.pk, thickness.pk, rolls, len(rolls), start, span_s / rows, setup.user.pk, rows],
        )
        cursor.execute("CHECKPOINT")
    return time.perf_counter() - started


def lean_preloaded(url: str, table_csv: Path) -> float:
    """The lean table given the measurement table's rows (the preload and the bulk upload), then
    the \\copy of the ceiling timed into it: the ceiling for a table that already holds them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LEAN_TABLE}")
        cursor.execute(f"INSERT INTO {LEAN_TABLE} SELECT * FROM {MEASUREMENT_TABLE}")  # noqa: S608
        cursor.execute("CHECKPOINT")
    return load_psql_copy(url, table_csv, LEAN_TABLE)


def _server_version() -> int:
    from django.db import connection

    connection.ensure_connection()
    return int(connection.connection.info.server_version)


# --- data ----------------------------------------------------------------------------------------


class Setup:
    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from rest_framework.authtoken.models import Token

        from lots.services import item_register
        from measurements.models import Parameter

        self.parameters = {
            code: Parameter.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "scope": "step",
                    "step_id": "coating",
                    "category": "SP",
                    "unit": unit,
                    "typical_min": low,
                    "typical_max": high,
                },
            )[0]
            for code, name, unit, low, high in (
                ("mass_loading", "Mass loading", "mg/cm**2", 18.0, 25.0),
                ("coating_thickness", "Coating thickness after drying", "um", 50.0, 90.0),
            )
        }
        user = get_user_model().objects.create_user(username="bench-operator")
        user.groups.add(Group.objects.get_or_create(name="operator")[0])
        self.user = user
        self.token = Token.objects.create(user=user).key
        self.rolls = [
            item_register(
                actor=user, kind="coated_roll", quantity=ROLL_M, unit="m", code=f"CR-B{n:04d}", polarity="cathode"
            )
            for n in range(ROLLS)
        ]


def write_csvs(setup: Setup, rows: int, directory: Path) -> tuple[Path, Path]:
    """The API CSV and the same rows in the table's columns (values converted, flags computed)."""
    from measurements.services import linear_to_canonical, out_of_range

    rng = random.Random(1)
    api_path, table_path = directory / "measurements.csv", directory / "measurements-table.csv"
    loading, thickness = setup.parameters["mass_loading"], setup.parameters["coating_thickness"]
    sent = {loading.pk: "g/m**2", thickness.pk: "um"}
    linears = {
        pk: linear_to_canonical(unit, p) for p, (pk, unit) in zip((loading, thickness), sent.items(), strict=True)
    }
    created_at = datetime.now(UTC).isoformat()
    per_roll = int(ROLL_M / STEP_M)  # 50,000 points along a roll, both parameters at each
    with api_path.open("w", newline="") as api_file, table_path.open("w", newline="") as table_file:
        api, table = csv.writer(api_file), csv.writer(table_file)
        api.writerow(API_COLUMNS)
        table.writerow(TABLE_COLUMNS)
        for i in range(rows):
            point, which = divmod(i, 2)
            roll = setup.rolls[(point // per_roll) % ROLLS]
            position = round((point % per_roll) * STEP_M, 3)
            parameter = loading if which == 0 else thickness
            value = round(rng.gauss(215.0, 12.0), 2) if which == 0 else round(rng.gauss(70.0, 6.0), 2)
            at = (BASE_TIME + timedelta(milliseconds=10 * i)).isoformat()
            api.writerow([parameter.code, value, sent[parameter.pk], roll.code, position, at, "online", "gauge-1"])
            canonical = linears[parameter.pk](value)
            flagged = out_of_range(parameter, [canonical])
            table.writerow(
                [
                    parameter.pk,
                    roll.pk,
                    "",
                    position,
                    at,
                    "online",
                    "gauge-1",
                    "",
                    repr(canonical),
                    value,
                    sent[parameter.pk],
                    "",
                    "",
                    "t" if flagged else "f",
                    "",
                    created_at,
                    setup.user.pk,
                ]
            )
    return api_path, table_path


def head(path: Path, rows: int, directory: Path) -> Path:
    """The header and the first `rows` rows of a CSV (one row per line)."""
    out = directory / f"{path.stem}-{rows}.csv"
    with path.open() as source, out.open("w") as target:
        for n, line in enumerate(source):
            if n > rows:
                break
            target.write(line)
    return out


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


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
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

    server_env = django_environment(args.database_url) | {"DATABASE_CONN_MAX_AGE": "60"}

    log(f"recreating {args.database_url}")
    database_recreate(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    tables_prepare()
    setup = Setup()
    results: dict[str, Any] = {
        "database": args.database_url,
        "rows": args.rows,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "postgresql": _server_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "goals": GOALS,
    }
    with tempfile.TemporaryDirectory(prefix="celltrace-bench-ingest-") as tmp:
        directory = Path(tmp)
        log(f"writing {args.rows:,} rows of CSV")
        api_csv, table_csv = write_csvs(setup, args.rows, directory)
        small_csv = head(api_csv, args.memory_rows, directory)
        results["csv_bytes"] = api_csv.stat().st_size

        def best(label: str, run: Any, expected: int, repeat: int = args.repeat, table: str = MEASUREMENT_TABLE) -> Any:
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

        url = args.database_url
        log("a. psql \\copy into the lean table (ceiling)")
        lean_s = best("\\copy lean", lambda: load_psql_copy(url, table_csv, LEAN_TABLE), args.rows, table=LEAN_TABLE)
        log("a'. psql \\copy into the measurement table")
        copy_s = best("\\copy table", lambda: load_psql_copy(url, table_csv, MEASUREMENT_TABLE), args.rows)
        log(f"b. bulk endpoint, {args.memory_rows:,} rows (memory check)")
        small = best("bulk", lambda: load_endpoint(server_env, setup.token, small_csv), args.memory_rows)
        log(f"b. bulk endpoint, {args.rows:,} rows")
        full = best("bulk", lambda: load_endpoint(server_env, setup.token, api_csv), args.rows)
        log(f"c. naive serializer + bulk_create, {args.naive_rows:,} rows")
        naive_s = best("naive", lambda: load_naive(setup, api_csv, args.naive_rows), args.naive_rows, repeat=1)
        preloaded: dict[str, Any] | None = None
        if args.preload_rows:
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
            preloaded["lean_copy_seconds"] = lean_preloaded(url, table_csv)
        truncate()

    _report(args, results, lean_s, copy_s, small, full, naive_s, preloaded)


def _report(
    args: Any,
    results: dict[str, Any],
    lean_s: float,
    copy_s: float,
    small: dict[str, Any],
    full: dict[str, Any],
    naive_s: float,
    preloaded: dict[str, Any] | None,
) -> None:
    lean_rate = args.rows / lean_s
    copy_rate = args.rows / copy_s
    bulk_rate = args.rows / full["seconds"]
    naive_rate = args.naive_rows / naive_s
    results |= {
        "psql_copy_lean": {"rows": args.rows, "seconds": round(lean_s, 3), "rows_per_s": round(lean_rate)},
        "psql_copy_table": {"rows": args.rows, "seconds": round(copy_s, 3), "rows_per_s": round(copy_rate)},
        "bulk_endpoint": {
            "rows": args.rows,
            "seconds": round(full["seconds"], 3),
            "rows_per_s": round(bulk_rate),
            "response": full["response"],
            "body_bytes": full["body_bytes"],
        },
        "naive_serializer": {
            "rows_timed": args.naive_rows,
            "seconds": round(naive_s, 3),
            "rows_per_s": round(naive_rate),
            "note": "in-process (no HTTP, no CSV parsing timed); the rate on rows_timed stands for the full size",
        },
        "ratios": {
            "bulk_vs_lean_copy": round(bulk_rate / lean_rate, 3),
            "bulk_vs_table_copy": round(bulk_rate / copy_rate, 3),
            "table_copy_vs_lean_copy": round(copy_rate / lean_rate, 3),
            "bulk_vs_naive": round(bulk_rate / naive_rate, 2),
        },
        "memory": {
            "note": "runserver process, fresh per upload; VmHWM after the upload, VmRSS after one warm-up GET",
            f"upload_{args.memory_rows}_rows": {k: v for k, v in small.items() if k != "response"},
            f"upload_{args.rows}_rows": {k: v for k, v in full.items() if k != "response"},
        },
    }
    results["memory"]["peak_rss_ratio_large_vs_small"] = round(
        full["server_peak_rss_kib"] / small["server_peak_rss_kib"], 3
    )
    results["goals_met"] = {
        "bulk_vs_lean_copy": results["ratios"]["bulk_vs_lean_copy"] >= GOALS["bulk_vs_lean_copy_min"],
        "bulk_vs_naive": results["ratios"]["bulk_vs_naive"] >= GOALS["bulk_vs_naive_min"],
    }
    preloaded_rate = lean_preloaded_rate = None
    if preloaded is not None:
        preloaded_rate = args.rows / preloaded["seconds"]
        results["bulk_endpoint_preloaded"] = {
            "preload_rows": args.preload_rows,
            "preload_seconds": round(preloaded["preload_seconds"], 1),
            "rows": args.rows,
            "seconds": round(preloaded["seconds"], 3),
            "rows_per_s": round(preloaded_rate),
        }
        lean_preloaded_rate = args.rows / preloaded["lean_copy_seconds"]
        results["psql_copy_lean_preloaded"] = {
            "rows_before": args.preload_rows + args.rows,
            "seconds": round(preloaded["lean_copy_seconds"], 3),
            "rows_per_s": round(lean_preloaded_rate),
        }
        results["ratios"]["preloaded_bulk_vs_lean_copy"] = round(preloaded_rate / lean_rate, 3)
        results["ratios"]["preloaded_bulk_vs_preloaded_lean_copy"] = round(preloaded_rate / lean_preloaded_rate, 3)
        results["ratios"]["preloaded_bulk_vs_empty_bulk"] = round(preloaded_rate / bulk_rate, 3)
        results["goals_met"]["preloaded_bulk_vs_lean_copy"] = (
            results["ratios"]["preloaded_bulk_vs_lean_copy"] >= GOALS["preloaded_bulk_vs_lean_copy_min"]
        )
    results["load_average_at_end"] = os.getloadavg()
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")

    mib = 1024.0
    size = f"{results['csv_bytes'] / 2**20:,.0f} MiB of CSV"
    print(f"{args.rows:,} measurements, {size}, PostgreSQL {results['postgresql']}, {os.cpu_count()} CPUs")
    print(f"  load average at start {results['load_average_at_start']}, at end {results['load_average_at_end']}")
    print(f"  psql \\copy, lean table (ceiling) {lean_rate:>10,.0f} rows/s  ({lean_s:.1f} s)")
    print(f"  psql \\copy, measurement table   {copy_rate:>10,.0f} rows/s  ({copy_s:.1f} s)")
    print(f"  bulk endpoint (HTTP, CSV)        {bulk_rate:>10,.0f} rows/s  ({full['seconds']:.1f} s)")
    print(f"  naive serializer (in-proc)       {naive_rate:>10,.0f} rows/s  ({args.naive_rows:,} rows)")
    if preloaded is not None and preloaded_rate is not None:
        print(
            f"  bulk endpoint, {args.preload_rows:,} rows already in  {preloaded_rate:>10,.0f} rows/s  "
            f"({preloaded['seconds']:.1f} s; preload {preloaded['preload_seconds']:.0f} s)"
        )
    print(f"  bulk / lean \\copy   {bulk_rate / lean_rate:6.2f}   (goal >= {GOALS['bulk_vs_lean_copy_min']})")
    print(f"  table \\copy / lean  {copy_rate / lean_rate:6.2f}")
    if preloaded_rate is not None:
        print(f"  preloaded bulk / lean \\copy {preloaded_rate / lean_rate:6.2f}   (goal >= 0.5)")
    if preloaded_rate is not None and lean_preloaded_rate is not None:
        print(
            f"  psql \\copy, lean table holding the same rows {lean_preloaded_rate:,.0f} rows/s; "
            f"preloaded bulk / it {preloaded_rate / lean_preloaded_rate:6.2f}"
        )
    print(f"  bulk / naive         {bulk_rate / naive_rate:6.2f}   (goal >= {GOALS['bulk_vs_naive_min']})")
    print(
        f"  server peak RSS: {small['server_peak_rss_kib'] / mib:.0f} MiB after {args.memory_rows:,} rows, "
        f"{full['server_peak_rss_kib'] / mib:.0f} MiB after {args.rows:,} rows "
        f"(before upload {small['server_rss_before_kib'] / mib:.0f} / {full['server_rss_before_kib'] / mib:.0f} MiB)"
    )
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
