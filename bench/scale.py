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

from support import database_recreate, django_environment, dsn, load, log

RESULTS = Path(__file__).resolve().parent / "scale-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_scale"
YEAR_CELLS = 10_000_000
YEAR_VALUES = 10_000_000_000
SHEETS_PER_CELL = 10  # per polarity
SHEETS_PER_LANE = 1250
LANES = 4
SHEET_M, HEAD_M, COATED_M, CALENDERED_M = 0.8, 20.0, 1000.0, 1040.0
CELLS_PER_ROLL = SHEETS_PER_LANE * LANES // SHEETS_PER_CELL  # 500
RAW = {  # kind: rolls per lot (per polarity); carbon: one lot for the whole line
    "am": 6,
    "binder": 10,
    "solvent": 5,
    "foil": 5,
}
POLARITIES = ("cathode", "anode")
AM_KIND = {"cathode": "cathode_active_material", "anode": "anode_active_material"}


class Layout:
    """Explicit id ranges per kind, so every edge is arithmetic on generate_series."""

    def __init__(self, cells: int) -> None:
        self.cells = cells
        self.rolls = math.ceil(cells / CELLS_PER_ROLL)  # per polarity
        self.lanes = self.rolls * LANES
        self.sheets = cells * SHEETS_PER_CELL
        self.lots = {k: math.ceil(self.rolls / per) for k, per in RAW.items()} | {"carbon": 1}
        self.base: dict[str, int] = {}
        nxt = 1
        for pol in POLARITIES:
            for name, count in [
                *((f"{k}", n) for k, n in self.lots.items()),
                ("slurry", self.rolls),
                ("coated", self.rolls),
                ("calendered", self.rolls),
                ("slit", self.lanes),
                ("sheet", self.sheets),
            ]:
                self.base[f"{pol}.{name}"] = nxt
                nxt += count
        self.base["cell"] = nxt
        self.items = nxt + cells - 1

    def id(self, pol: str, name: str) -> int:
        return self.base[f"{pol}.{name}"]


# --- generation ----------------------------------------------------------------------------------


def _stations() -> dict[str, int]:
    from django.contrib.auth.models import User

    from traceability.models import Station
    from traceability.services import station_create

    actor = User.objects.create_superuser(username="bench-scale")
    for code, steps in {
        "MIX-01": ["mixing"],
        "COAT-01": ["coating", "drying"],
        "CAL-01": ["calendering"],
        "SLT-01": ["slitting"],
        "CUT-01": ["cutting"],
        "STK-01": ["stacking"],
    }.items():
        station_create(actor=actor, code=code, name=code, steps=steps, room="dry-room-1")
    return dict(Station.objects.values_list("code", "pk"))


def generate(layout: Layout, values_per_cell: int) -> dict[str, float]:
    """The line and its measurements; returns seconds per stage."""
    from django.db import connection, transaction

    from lots.models import Item
    from measurements.models import Measurement, Parameter
    from traceability.models import LineageEdge, Operation

    item, edge, op, meas = (m._meta.db_table for m in (Item, LineageEdge, Operation, Measurement))
    st = _stations()
    times: dict[str, float] = {}
    # Cells at a year's rate from 2026-01-01; a roll's electrode steps the day before its cells.
    day = 86400.0 * 365 / YEAR_CELLS  # seconds per cell
    t0 = "timestamptz '2026-01-01 00:00+00'"
    roll_s = day * CELLS_PER_ROLL
    ops: dict[str, int] = {}
    nxt = 1
    for pol in POLARITIES:
        for step in ("mixing", "coating", "calendering", "slitting"):
            ops[f"{pol}.{step}"] = nxt
            nxt += layout.rolls
        ops[f"{pol}.cutting"] = nxt
        nxt += layout.lanes
    ops["stacking"] = nxt
    operations = nxt + layout.cells - 1
    step_station = {"mixing": "MIX-01", "coating": "COAT-01", "calendering": "CAL-01", "slitting": "SLT-01"}

    def run(label: str, sql: str, params: list[Any] | None = None) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        times[label] = times.get(label, 0.0) + time.perf_counter() - started

    def items(kind: str, first: int, count: int, code: str, unit: str, qty: str, extra: dict[str, str]) -> None:
        cols = {
            "length_m": "NULL",
            "polarity": "NULL",
            "supplier_lot": "''",
            "gtin": "''",  # NOT NULL without a database default
            "gs1_serial": "''",
            "produced_by_id": "NULL",
            "station_id": "NULL",
            "attributes": "'{}'::jsonb",
        } | extra
        run(
            "items",
            f"INSERT INTO {item} (id, code, status, quantity, initial_quantity, unit, kind_id, created_at, "
            f"{', '.join(cols)}) SELECT {first} + g, '{code}-' || g, 'active', {qty}, {qty}, '{unit}', "
            f"'{kind}', {t0} + (g * {roll_s}) * interval '1 second', {', '.join(cols.values())} "
            f"FROM generate_series(0, {count - 1}) g",
        )

    def operations_of(step: str, first: int, count: int, station: str, every_s: float, hours: float) -> None:
        run(
            "operations",
            f"INSERT INTO {op} (id, step_id, station_id, started_at, ended_at, parameters, created_at) "
            f"SELECT {first} + g, '{step}', {st[station]}, s, s + interval '{hours} hours', '{{}}'::jsonb, s "
            f"FROM (SELECT g, {t0} + (g * {every_s}) * interval '1 second' AS s "
            f"FROM generate_series(0, {count - 1}) g) x",
        )

    def edges(
        parent: str, child: str, count: int, operation: str, stretch: str = "NULL, NULL, NULL, NULL", rev: bool = False
    ) -> None:
        # parent/child/operation: SQL of g (0..count-1); stretch: parent_from, parent_to, child_from, child_to
        run(
            "edges",
            f"INSERT INTO {edge} (parent_id, child_id, operation_id, parent_from_m, parent_to_m, child_from_m, "
            f"child_to_m, reversed, lane) SELECT {parent}, {child}, {operation}, {stretch}, {rev}, NULL "
            f"FROM generate_series(0, {count - 1}) g",
        )

    with transaction.atomic():
        for pol in POLARITIES:
            for step, station in step_station.items():
                operations_of(step, ops[f"{pol}.{step}"], layout.rolls, station, roll_s, 2.5)
            operations_of("cutting", ops[f"{pol}.cutting"], layout.lanes, "CUT-01", roll_s / LANES, 1.0)
        operations_of("stacking", ops["stacking"], layout.cells, "STK-01", day, 150 / 3600)
        for pol in POLARITIES:
            P = pol[0].upper()
            raw = {
                "am": (AM_KIND[pol], "kg"),
                "binder": ("binder", "kg"),
                "solvent": ("solvent", "L"),
                "foil": ("current_collector_foil", "m"),
                "carbon": ("conductive_additive", "kg"),
            }
            for name, (kind, unit) in raw.items():
                items(
                    kind, layout.id(pol, name), layout.lots[name], f"{P}{name.upper()}", unit, "1000",
                    {"supplier_lot": f"'{P}-{name}-' || g"} | ({"length_m": "5200"} if name == "foil" else {}),
                )  # fmt: skip
            pol_sql = f"'{pol}'"
            made = {"polarity": pol_sql, "station_id": "NULL"}
            items(
                "slurry",
                layout.id(pol, "slurry"),
                layout.rolls,
                f"{P}SL",
                "kg",
                "8",
                made | {"produced_by_id": f"{ops[f'{pol}.mixing']} + g"},
            )
            items(
                "coated_roll",
                layout.id(pol, "coated"),
                layout.rolls,
                f"{P}CR",
                "m",
                "0",
                made | {"length_m": "1000", "produced_by_id": f"{ops[f'{pol}.coating']} + g"},
            )
            items(
                "calendered_roll",
                layout.id(pol, "calendered"),
                layout.rolls,
                f"{P}CAL",
                "m",
                "0",
                made | {"length_m": "1040", "produced_by_id": f"{ops[f'{pol}.calendering']} + g"},
            )
            items(
                "slit_roll",
                layout.id(pol, "slit"),
                layout.lanes,
                f"{P}SLT",
                "m",
                "0",
                made
                | {
                    "length_m": "1040",
                    "produced_by_id": f"{ops[f'{pol}.slitting']} + g / {LANES}",
                    "attributes": f"jsonb_build_object('lane', g % {LANES} + 1)",
                },
            )
            cut = f"{ops[f'{pol}.cutting']} + g / {SHEETS_PER_LANE}"
            sheet_cols = made | {"length_m": "0.8", "produced_by_id": cut}
            items("electrode_sheet", layout.id(pol, "sheet"), layout.sheets, f"{P}ES", "count", "0", sheet_cols)
            mixing = f"{ops[f'{pol}.mixing']} + g"
            slurry = f"{layout.id(pol, 'slurry')} + g"
            for name, per in [*RAW.items(), ("carbon", 0)]:
                if name == "foil":
                    continue
                lot = f"{layout.id(pol, name)}" + (f" + g / {per}" if per else "")
                edges(lot, slurry, layout.rolls, mixing)
            coated, coating = f"{layout.id(pol, 'coated')} + g", f"{ops[f'{pol}.coating']} + g"
            edges(slurry, coated, layout.rolls, coating)
            foil = f"{layout.id(pol, 'foil')} + g / {RAW['foil']}"
            a = f"(g % {RAW['foil']}) * {COATED_M}"
            edges(foil, coated, layout.rolls, coating, f"{a}, {a} + {COATED_M}, 0, {COATED_M}")
            calendered = f"{layout.id(pol, 'calendered')} + g"
            # Calendering unwinds from the outer end: the stretch is reversed.
            calendering = f"{ops[f'{pol}.calendering']} + g"
            edges(coated, calendered, layout.rolls, calendering, f"0, {COATED_M}, 0, {CALENDERED_M}", rev=True)
            slit = f"{layout.id(pol, 'slit')} + g"
            run(
                "edges",
                f"INSERT INTO {edge} (parent_id, child_id, operation_id, parent_from_m, parent_to_m, child_from_m, "
                f"child_to_m, reversed, lane) SELECT {layout.id(pol, 'calendered')} + g / {LANES}, {slit}, "
                f"{ops[f'{pol}.slitting']} + g / {LANES}, 0, {CALENDERED_M}, 0, {CALENDERED_M}, false, g % {LANES} + 1 "
                f"FROM generate_series(0, {layout.lanes - 1}) g",
            )
            k = f"(g % {SHEETS_PER_LANE})"
            edges(
                f"{layout.id(pol, 'slit')} + g / {SHEETS_PER_LANE}", f"{layout.id(pol, 'sheet')} + g", layout.sheets,
                f"{ops[f'{pol}.cutting']} + g / {SHEETS_PER_LANE}",
                f"{HEAD_M} + {k} * {SHEET_M}, {HEAD_M} + ({k} + 1) * {SHEET_M}, 0, {SHEET_M}",
            )  # fmt: skip
            edges(
                f"{layout.id(pol, 'sheet')} + g", f"{layout.base['cell']} + g / {SHEETS_PER_CELL}", layout.sheets,
                f"{ops['stacking']} + g / {SHEETS_PER_CELL}",
            )  # fmt: skip
        stacked = {"produced_by_id": f"{ops['stacking']} + g"}
        items("cell", layout.base["cell"], layout.cells, "CELL", "count", "1", stacked)
    log(f"    line: {layout.items:,} items, {operations:,} operations ({_fmt(times)})")

    from django.core.management import call_command

    call_command("load_catalog", verbosity=0)
    params = list(Parameter.objects.order_by("code").values_list("pk", "step_id"))
    pick = {
        "profile": [p for p, s in params if s in {"coating", "drying", "calendering"}],
        "cell": [p for p, s in params if s in {"formation", "aging", "end_of_line_test", "stacking"}],
        "operation": [p for p, s in params if s in {"stacking", "cutting", "mixing"}],
        "lab": [p for p, s in params if s in {"mixing", "slitting"}],
    }
    every = [p for p, _ in params]
    pick = {k: (v or every) for k, v in pick.items()}
    total = values_per_cell * layout.cells
    share = {"profile": 0.60, "cell": 0.20, "operation": 0.15, "lab": 0.05}
    cols = (
        "parameter_id, item_id, operation_id, room, position_m, measured_at, source, instrument, method, value, "
        "sent_value, sent_unit, file, file_sha256, out_of_range, correction_reason, created_at"
    )

    def values(group: str, subject_first: int, subjects: int, per: int, item_sql: str, op_sql: str, pos: str) -> None:
        ids = "ARRAY[" + ",".join(map(str, pick[group])) + "]::bigint[]"
        n = len(pick[group])
        every_s = layout.cells * day / subjects  # the subjects spread over the line's time span
        run(
            "measurements",
            f"INSERT INTO {meas} ({cols}) SELECT p.ids[1 + (g % {per}) % {n}], {item_sql}, {op_sql}, '', {pos}, "
            f"t, 'online', 'bench', '', v, v, '', '', '', false, '', t FROM (SELECT g, s, "
            f"{t0} + ((g / {per}) * {every_s} + (g % {per})) * interval '1 second' AS t, random() * 100 AS v "
            f"FROM (SELECT g, {subject_first} + g / {per} AS s FROM generate_series(0, {subjects * per - 1}) g) x) y, "
            f"(SELECT {ids} AS ids) p",
        )

    for pol in POLARITIES:
        per_roll = max(1, round(total * share["profile"] / 4 / layout.rolls))  # half coated, half calendered
        for name in ("coated", "calendered"):
            first = layout.id(pol, name)
            values("profile", first, layout.rolls, per_roll, "s", "NULL", f"(g % {per_roll}) * {COATED_M} / {per_roll}")
        per_slit = max(1, round(total * share["lab"] / 2 / layout.lanes))
        values("lab", layout.id(pol, "slit"), layout.lanes, per_slit, "s", "NULL", "NULL")
    per_cell = max(1, round(values_per_cell * share["cell"]))
    values("cell", layout.base["cell"], layout.cells, per_cell, "s", "NULL", "NULL")
    per_op = max(1, round(values_per_cell * share["operation"]))
    values("operation", ops["stacking"], layout.cells, per_op, "NULL", "s", "NULL")
    run("analyze", f"ANALYZE {item}; ANALYZE {edge}; ANALYZE {op}; ANALYZE {meas}")
    return times


def _fmt(times: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in times.items())


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4000,12000,40000", help="cells per size, comma separated")
    parser.add_argument("--values-per-cell", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SCALE_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1] or "scale" not in args.database_url.rsplit("/", 1)[-1]:
        raise SystemExit("--database-url: the database name must contain 'bench' and 'scale' (it is dropped)")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if len(sizes) < 2:
        raise SystemExit("--sizes: at least two sizes to fit a growth")
    django_environment(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    for n in sizes:
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

    # Storage: the measurement table against its rows (to 10^10 values), the rest against cells.
    values = [r["measurement_rows"] for r in results]
    fits = {
        m: fit(values, [r[m] for r in results], YEAR_VALUES) for m in ("measurement_bytes", "measurement_index_bytes")
    }
    for r in results:
        r["other_bytes"] = r["database_bytes"] - r["measurement_bytes"]
    fits |= {
        m: fit(sizes, [max(r[m], 1e-3) for r in results], YEAR_CELLS)
        for m in (
            "edge_bytes",
            "other_bytes",
            "trace_cell_ms",
            "roll_map_cell_ms",
            "track_am_lot_ms",
            "track_ends_carbon_lot_ms",
            "export_1000_cells_ms",
        )
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
