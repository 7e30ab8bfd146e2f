#!/usr/bin/env python
"""Scale simulation: a line generated straight in SQL at three sizes, its storage and query
costs, and the growth fitted and extrapolated to a gigafactory year (10^7 cells, 10^10 values).

    .venv/bin/python bench/scale.py [--sizes 2000,10000,40000] [--values-per-cell 250]
                                    [--runs 5] [--database-url URL]

At each size the bench database (name must contain "bench" and "scale"; it is dropped) is
recreated and migrated, the catalog loaded, and a line is written with INSERT ... SELECT
generate_series into the project's real tables, in the shape bench/trace.py records through
the services: supplier lots -> slurry -> coated roll -> calendered roll -> 4 slit rolls ->
electrode sheets (10 per cell and polarity, 1,250 per lane) -> cells, with one operation per
step (mixing, coating, calendering, slitting per roll, cutting per lane, stacking per cell) and
the same edge stretches and lanes. Measurements, --values-per-cell per cell in all, in a
gigafactory's proportions: 60 % online profiles along the coated and calendered rolls (with
position), 20 % per cell (formation, end of line), 15 % per operation (machine logs), 5 % lab
values per slurry and slit roll. Cells come at a year's rate (10^7 / 365 a day), so the time
span grows with the size as it would.

Measured per size: the measurement table's total and index size, the database size, and the
median of --runs calls of the project's selectors: lineage_trace of a cell, lineage_track of an
active-material lot (a fixed lot size: ~3,000 cells whatever the size), track_ends of the
conductive-additive lot (one lot in the whole line: it reaches every cell, so it grows with the
size), roll_map of a cell, and datasets.table.dataset_rows of 1,000 cells read to the end.
Fits cost ~ a*N^b (least squares on log-log) and extrapolates to 10^7 cells. Writes
bench/scale-results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

from scale_line import YEAR_CELLS, Layout, generate
from support import database_recreate, django_environment, dsn, load, log

RESULTS = Path(__file__).resolve().parent / "scale-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_scale"
YEAR_VALUES = 10_000_000_000


# --- measurements of a size ------------------------------------------------------------------------


def storage() -> dict[str, int]:
    from django.db import connection

    from measurements.models import Measurement
    from traceability.models import LineageEdge

    with connection.cursor() as cursor:
        out: dict[str, int] = {}
        for name, model in (("measurement", Measurement), ("edge", LineageEdge)):
            table = model._meta.db_table
            # Partitioned or not: the sum over the table's partitions (itself when plain).
            cursor.execute(
                "SELECT coalesce(sum(pg_total_relation_size(r)), 0), coalesce(sum(pg_indexes_size(r)), 0) "
                "FROM (SELECT %s::regclass AS r UNION SELECT relid FROM pg_partition_tree(%s::regclass)) t",
                [table, table],
            )
            total, indexes = cursor.fetchone()
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            out[f"{name}_rows"] = int(cursor.fetchone()[0])
            out[f"{name}_bytes"], out[f"{name}_index_bytes"] = int(total), int(indexes)
        cursor.execute("SELECT pg_database_size(current_database())")
        out["database_bytes"] = int(cursor.fetchone()[0])
    return out


def timed(fn: Any, runs: int) -> float:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def queries(layout: Layout, runs: int) -> dict[str, float]:
    from datasets.table import dataset_rows
    from lots.models import Item
    from traceability.selectors import lineage_trace, lineage_track, roll_map, track_ends

    cell = Item.objects.get(pk=layout.base["cell"] + layout.cells // 2)
    am_lot = Item.objects.get(pk=layout.id("cathode", "am"))
    carbon = Item.objects.get(pk=layout.id("cathode", "carbon"))
    first = layout.base["cell"] + max(0, layout.cells // 2 - 500)
    codes = list(Item.objects.filter(pk__gte=first, pk__lt=first + 1000).values_list("code", flat=True))

    def export() -> None:
        _, rows = dataset_rows(filters={"codes": codes})
        for _row in rows:
            pass

    out = {
        "trace_cell_ms": timed(lambda: lineage_trace(item=cell), runs),
        "roll_map_cell_ms": timed(lambda: roll_map(item=cell), runs),
        "track_am_lot_ms": timed(lambda: lineage_track(item=am_lot), runs),
        "track_ends_carbon_lot_ms": timed(lambda: list(track_ends(item=carbon).values_list("pk", flat=True)), runs),
        "export_1000_cells_ms": timed(export, max(1, runs // 2)),
    }
    out["am_lot_cells"] = track_ends(item=am_lot).filter(kind_id="cell").count()
    out["carbon_lot_cells"] = track_ends(item=carbon).filter(kind_id="cell").count()
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def fit(xs: list[int], ys: list[float], at: int) -> dict[str, float]:
    """y ~ a*x^b by least squares on log-log; b and y at x = `at`."""
    import numpy as np

    b, log_a = np.polyfit(np.log(xs), np.log(ys), 1)
    return {"b": round(float(b), 3), "at_year": float(math.exp(log_a) * at**b)}


QUERY_FIGURES = (
    "trace_cell_ms",
    "roll_map_cell_ms",
    "track_am_lot_ms",
    "track_ends_carbon_lot_ms",
    "export_1000_cells_ms",
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4000,12000,40000", help="cells per size, comma separated")
    parser.add_argument("--values-per-cell", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SCALE_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1] or "scale" not in args.database_url.rsplit("/", 1)[-1]:
        raise SystemExit("--database-url: the database name must contain 'bench' and 'scale' (it is dropped)")
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    if len(args.sizes) < 2:
        raise SystemExit("--sizes: at least two sizes to fit a growth")
    return args


def measure_sizes(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per size: a fresh database, the line generated, its storage and query figures."""
    from django.core.management import call_command
    from django.db import connections

    results: list[dict[str, Any]] = []
    for n in args.sizes:
        connections.close_all()
        database_recreate(args.database_url)
        call_command("migrate", verbosity=0)
        layout = Layout(n)
        log(f"size {n:,} cells, {n * args.values_per_cell:,} values (load {load()})")
        gen = generate(layout, args.values_per_cell)
        row: dict[str, Any] = {"cells": n, "items": layout.items, "load_before": load()}
        row |= storage() | queries(layout, args.runs)
        row["generate_s"] = {k: round(v, 1) for k, v in gen.items()}
        row["load_after"] = load()
        results.append(row)
        log(f"    {json.dumps({k: v for k, v in row.items() if k != 'generate_s'})}")
    connections.close_all()
    return results


def growth(results: list[dict[str, Any]], sizes: list[int]) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """The fits and the year extrapolated; adds other_bytes (database less measurements) to each size."""
    # Storage: the measurement table against its rows (to 10^10 values), the rest against cells.
    values = [r["measurement_rows"] for r in results]
    fits = {
        m: fit(values, [r[m] for r in results], YEAR_VALUES) for m in ("measurement_bytes", "measurement_index_bytes")
    }
    for r in results:
        r["other_bytes"] = r["database_bytes"] - r["measurement_bytes"]
    fits |= {
        m: fit(sizes, [max(r[m], 1e-3) for r in results], YEAR_CELLS)
        for m in ("edge_bytes", "other_bytes", *QUERY_FIGURES)
    }
    per_value = results[-1]["measurement_bytes"] / values[-1]
    year = {
        "bytes_per_value": round(per_value, 1),
        "measurement_tb": round(fits["measurement_bytes"]["at_year"] / 1e12, 2),
        "measurement_index_tb": round(fits["measurement_index_bytes"]["at_year"] / 1e12, 2),
        "database_tb": round((fits["measurement_bytes"]["at_year"] + fits["other_bytes"]["at_year"]) / 1e12, 2),
        "edges": round(results[-1]["edge_rows"] / sizes[-1] * YEAR_CELLS),
        "am_lot_cells": results[-1]["am_lot_cells"],
    }
    return fits, year


def report(results: list[dict[str, Any]], fits: dict[str, dict[str, float]], year: dict[str, Any]) -> None:
    print(f"\n{'cells':>8} {'values':>11} {'meas MB':>8} {'idx MB':>7} {'db MB':>7} "
          f"{'trace':>7} {'rollmap':>8} {'trackAM':>8} {'endsC':>8} {'export':>8}  (ms, median; load)")  # fmt: skip
    for r in results:
        print(
            f"{r['cells']:>8,} {r['measurement_rows']:>11,} {r['measurement_bytes'] / 1e6:>8.0f} "
            f"{r['measurement_index_bytes'] / 1e6:>7.0f} {r['database_bytes'] / 1e6:>7.0f} {r['trace_cell_ms']:>7.1f} "
            f"{r['roll_map_cell_ms']:>8.1f} {r['track_am_lot_ms']:>8.1f} {r['track_ends_carbon_lot_ms']:>8.1f} "
            f"{r['export_1000_cells_ms']:>8.1f}  {r['load_after']}"
        )
    print("\nfit y ~ a*N^b (N: values for the measurement table, else cells), at 10^10 values / 10^7 cells:")
    for m, f in fits.items():
        unit = f"{f['at_year'] / 1e12:.2f} TB" if m.endswith("bytes") else f"{f['at_year'] / 1000:.2f} s"
        print(f"  {m:<26} b = {f['b']:>6.3f}   year: {unit}")
    print(f"  year: {json.dumps(year)}")


def main() -> None:
    args = _arguments()
    django_environment(args.database_url)
    import django

    django.setup()
    started = time.perf_counter()
    results = measure_sizes(args)
    fits, year = growth(results, args.sizes)
    report(results, fits, year)
    seconds = round(time.perf_counter() - started, 1)
    RESULTS.write_text(
        json.dumps(
            {
                "sizes": results,
                "fits": fits,
                "year": year,
                "values_per_cell": args.values_per_cell,
                "runs": args.runs,
                "seconds": seconds,
                "database": dsn(args.database_url).rsplit("/", 1)[-1],
            },
            indent=2,
        )  # fmt: skip
        + "\n"
    )
    log(f"wrote {RESULTS} ({seconds} s)")


if __name__ == "__main__":
    main()
