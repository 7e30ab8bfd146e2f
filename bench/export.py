#!/usr/bin/env python
"""Export benchmark: every cell of the trace line, wide, to Parquet, against the COPY ceiling.

    .venv/bin/python bench/export.py [--database-url URL] [--reload-measurements]
                                     [--measurements 2000000] [--seed 7] [--keep-file]

Uses the line that bench/trace.py generates (database celltrace_bench, 10,000 cells and 200,000
sheets; run that first). What it does:

1. Measurements (set-up, not measured). With --reload-measurements, or by itself when fewer than
   150 distinct parameters have measurements, it loads the catalog (`load_catalog`), TRUNCATEs
   measurements_measurement (a trigger refuses DELETE) and COPYs --measurements values over the
   catalog's parameters, spread the way a line produces them:
   - online profiles along the coated rolls (coating and drying structure/process parameters)
     and the calendered rolls (calendering ones), with positions: most of the rows;
   - lab values without a position: per slurry (mixing structure parameters), per raw-material
     lot (material parameters of mixing), per coated roll (coating structure parameters) and
     per slit roll (slitting, post-drying and cutting structure parameters);
   - per cell (formation, aging, end-of-line test and the other cell-assembly steps, electrolyte
     and separator materials), one value each;
   - per operation (operation_id, no item): machine parameters of the mixing, coating (with the
     dryer's), calendering, slitting (with post-drying's), cutting and stacking operations;
   - the dry room (room='dry-room-1'): the environment parameters every 15 minutes.
   then ANALYZEs the table.
2. The export: `manage.py export_dataset --format parquet --layout wide --out <tmp>` as a
   subprocess (DJANGO_SETTINGS_MODULE=config.settings.test, DATABASE_URL of the bench database),
   timed by wall clock; its peak resident memory is the ru_maxrss that wait4() reports for it.
3. The ceiling, the floor of the same work without the traceability: every stored measurement
   read once (`COPY (SELECT item_id, operation_id, room, position_m, parameter_id, value ...) TO
   STDOUT (FORMAT BINARY)` on a plain psycopg connection), then a table of the export's shape
   (its rows x columns of float64, numpy straight to Arrow) written as zstd Parquet. The export /
   ceiling ratio is printed, with the load average before and after.
4. Prints the figures against the goals (<= 30 s wall, <= 1 GB peak memory) and writes
   bench/export-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from export_measurements import reload_measurements
from support import dsn, log

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "export-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench"

GOALS = {"wall_s": 30.0, "peak_rss_mib": 1024.0, "min_parameters": 150}


# --- The export and the ceiling ------------------------------------------------------------------


def run_export(url: str, out: Path) -> dict[str, Any]:
    """`manage.py export_dataset` as a subprocess: wall time, peak RSS (wait4), rows and columns."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": url}
    command = [
        sys.executable,
        "manage.py",
        "export_dataset",
        "--format",
        "parquet",
        "--layout",
        "wide",
        "--out",
        str(out),
    ]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        text, errors = stdout.read().decode(), stderr.read().decode()
    if proc.returncode != 0:
        sys.exit(f"export_dataset failed ({proc.returncode}):\n{text}\n{errors[-4000:]}")
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(out).metadata
    return {
        "wall_s": round(wall, 2),
        "rows": meta.num_rows,
        "columns": meta.num_columns,
        "rows_per_s": round(meta.num_rows / wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "cpu_user_s": round(usage.ru_utime, 2),
        "cpu_sys_s": round(usage.ru_stime, 2),
        "file_mib": round(out.stat().st_size / 2**20, 2),
        "stdout": text.strip().splitlines()[:3],
    }


def run_ceiling(url: str, rows: int, columns: int) -> dict[str, Any]:
    """The floor of the same work, without the traceability: every stored measurement read once
    (binary COPY of what the export reads of each value: its item, operation, room, position,
    parameter and value) on a plain psycopg connection, then a table of the export's shape
    (`rows` x `columns` float64, numpy straight to Arrow) written as zstd Parquet."""
    import numpy as np
    import psycopg
    import pyarrow as pa
    import pyarrow.parquet as pq

    query = (
        "COPY (SELECT item_id, operation_id, room, position_m, parameter_id, value "
        "FROM measurements_measurement WHERE value IS NOT NULL) TO STDOUT (FORMAT BINARY)"
    )
    with psycopg.connect(dsn(url), options="-c jit=off", autocommit=True) as conn:
        size = 0
        t0 = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(query) as copy:
            for block in copy:
                size += len(block)
        read_s = time.perf_counter() - t0
    values = np.random.default_rng(1).normal(size=(columns, rows))
    t0 = time.perf_counter()
    table = pa.table({f"c{i}": values[i] for i in range(columns)})
    with tempfile.TemporaryDirectory(prefix="celltrace-bench-ceiling-") as folder:
        pq.write_table(table, Path(folder) / "floor.parquet", compression="zstd")
    write_s = time.perf_counter() - t0
    return {
        "seconds": round(read_s + write_s, 2),
        "read_s": round(read_s, 2),
        "write_s": round(write_s, 2),
        "copy_mib": round(size / 2**20, 1),
    }


# --- Main ----------------------------------------------------------------------------------------


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reload-measurements", action="store_true", help="TRUNCATE and COPY the measurements")
    parser.add_argument("--measurements", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-file", action="store_true", help="keep the Parquet file (path printed)")
    return parser.parse_args()


def measurements_in_place(args: argparse.Namespace) -> tuple[int, int, int, dict[str, Any] | None]:
    """The line's cells, its measurements and their parameters, reloaded first when asked or too
    few parameters are measured; and what the reload loaded (None without one)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), COUNT(DISTINCT parameter_id) FROM measurements_measurement")
        stored, distinct = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM lots_item WHERE kind_id = 'cell'")
        (cells,) = cursor.fetchone()
    if not cells:
        sys.exit("No line in the database: run bench/trace.py first.")
    load: dict[str, Any] | None = None
    if args.reload_measurements or distinct < GOALS["min_parameters"]:
        why = "--reload-measurements" if args.reload_measurements else f"only {distinct} parameters measured"
        log(f"reloading {args.measurements:,} measurements ({why}) ...")
        load = reload_measurements(args.measurements, args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*), COUNT(DISTINCT parameter_id) FROM measurements_measurement")
        stored, distinct = cursor.fetchone()
    connection.close()
    log(f"{cells:,} cells, {stored:,} measurements over {distinct} parameters")
    return cells, stored, distinct, load


def export_and_ceiling(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The export to a temporary Parquet file (kept with --keep-file), then the ceiling of its shape."""
    out = Path(tempfile.mkdtemp(prefix="celltrace-bench-export-")) / "dataset.parquet"
    log("export_dataset --format parquet --layout wide ...")
    export = run_export(args.database_url, out)
    log(f"  {export['wall_s']} s, {export['rows']:,} rows x {export['columns']} columns")
    log("ceiling: COPY every measurement out, write a table of the same shape ...")
    ceiling = run_ceiling(args.database_url, export["rows"], export["columns"])
    log(f"  {ceiling['seconds']} s (read {ceiling['read_s']} s, write {ceiling['write_s']} s)")
    if args.keep_file:
        log(f"Parquet file kept: {out}")
    else:
        out.unlink()
        out.parent.rmdir()
    return export, ceiling


def report(
    export: dict[str, Any], ceiling: dict[str, Any], ratio: float | None, met: dict[str, bool], distinct: int,
    load_before: float,
) -> None:  # fmt: skip
    print(f"  {'figure':40}{'value':>16}  goal")
    lines = (
        ("wall time (s)", f"{export['wall_s']:.1f}", f"<= {GOALS['wall_s']:.0f} s", met["wall_s"]),
        ("peak RSS of the worker (MiB)", f"{export['peak_rss_mib']:.0f}", "<= 1024 MiB", met["peak_rss_mib"]),
        ("load average (1 min) before / after", f"{load_before:.2f} / {os.getloadavg()[0]:.2f}", "", None),
        ("rows (cells) / columns", f"{export['rows']:,} / {export['columns']}", "", None),
        ("rows/s", f"{export['rows_per_s']:,.0f}", "", None),
        ("CPU of the worker, user+sys (s)", f"{export['cpu_user_s'] + export['cpu_sys_s']:.1f}", "", None),
        ("Parquet file (MiB)", f"{export['file_mib']:.1f}", "", None),
        ("ceiling: read + write (s)", f"{ceiling['read_s']:.1f} + {ceiling['write_s']:.1f}", "", None),
        ("ratio export / ceiling", f"{ratio:.2f}" if ratio else "-", "printed", None),
        ("parameters with measurements", f"{distinct}", ">= 150", met["min_parameters"]),
    )
    for name, value, goal, ok in lines:
        verdict = "" if ok is None else ("MET" if ok else "NOT MET")
        print(f"  {name:40}{value:>16}  {goal} {verdict}".rstrip())


def main() -> None:
    args = _arguments()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.conf import settings

    cells, stored, distinct, load = measurements_in_place(args)
    load_before = os.getloadavg()[0]
    export, ceiling = export_and_ceiling(args)
    ratio = export["wall_s"] / ceiling["seconds"] if ceiling["seconds"] else None
    met = {
        "wall_s": export["wall_s"] <= GOALS["wall_s"],
        "peak_rss_mib": export["peak_rss_mib"] <= GOALS["peak_rss_mib"],
        "min_parameters": distinct >= GOALS["min_parameters"],
    }
    print(f"\nexport of every cell, wide, Parquet: {cells:,} cells, {stored:,} measurements, {distinct} parameters")
    report(export, ceiling, ratio, met, distinct, load_before)

    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "database": args.database_url,
                "cells": cells,
                "measurements": stored,
                "parameters_measured": distinct,
                "load": load,
                "export": export,
                "ceiling": ceiling,
                "ratio_export_to_ceiling": round(ratio, 2) if ratio else None,
                "load_average": [load_before, os.getloadavg()[0]],
                "goals": GOALS,
                "met": met,
                "work_mem": settings.CELLTRACE_EXPORT_WORK_MEM,
                "self_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            },
            indent=2,
        )
        + "\n"
    )
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
