"""The line of bench/scale.py, written straight in SQL: explicit id ranges per kind (Layout), then
INSERT ... SELECT generate_series into the project's real tables, one step per table or stage.

bench/ is sys.path[0] when bench/scale.py runs, so it imports this module as `scale_line`.
"""

from __future__ import annotations

import math
import time
from typing import Any

from support import log

YEAR_CELLS = 10_000_000
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
# Cells at a year's rate from 2026-01-01; a roll's electrode steps the day before its cells.
T0 = "timestamptz '2026-01-01 00:00+00'"
CELL_S = 86400.0 * 365 / YEAR_CELLS  # seconds per cell
ROLL_S = CELL_S * CELLS_PER_ROLL
STEP_STATION = {"mixing": "MIX-01", "coating": "COAT-01", "calendering": "CAL-01", "slitting": "SLT-01"}
SHARE = {"profile": 0.60, "cell": 0.20, "operation": 0.15, "lab": 0.05}  # of the values
MEASUREMENT_COLUMNS = (
    "parameter_id, item_id, operation_id, room, position_m, measured_at, source, instrument, method, value, "
    "sent_value, sent_unit, file, file_sha256, out_of_range, correction_reason, created_at"
)


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


def _operation_ids(layout: Layout) -> tuple[dict[str, int], int]:
    """The first operation id per polarity and step (stacking: one per cell), and their count."""
    ops: dict[str, int] = {}
    nxt = 1
    for pol in POLARITIES:
        for step in ("mixing", "coating", "calendering", "slitting"):
            ops[f"{pol}.{step}"] = nxt
            nxt += layout.rolls
        ops[f"{pol}.cutting"] = nxt
        nxt += layout.lanes
    ops["stacking"] = nxt
    return ops, nxt + layout.cells - 1


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


class LineWriter:
    """The INSERT ... SELECT statements of the line, each timed into its stage."""

    def __init__(self, layout: Layout) -> None:
        from lots.models import Item
        from measurements.models import Measurement
        from traceability.models import LineageEdge, Operation

        self.layout = layout
        self.item, self.edge, self.op, self.meas = (
            m._meta.db_table for m in (Item, LineageEdge, Operation, Measurement)
        )
        self.stations = _stations()
        self.ops, self.operations = _operation_ids(layout)
        self.times: dict[str, float] = {}

    def run(self, label: str, sql: str, params: list[Any] | None = None) -> None:
        from django.db import connection

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        self.times[label] = self.times.get(label, 0.0) + time.perf_counter() - started

    def items(self, kind: str, first: int, count: int, code: str, unit: str, qty: str, extra: dict[str, str]) -> None:
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
        self.run(
            "items",
            f"INSERT INTO {self.item} (id, code, status, quantity, initial_quantity, unit, kind_id, created_at, "
            f"{', '.join(cols)}) SELECT {first} + g, '{code}-' || g, 'active', {qty}, {qty}, '{unit}', "
            f"'{kind}', {T0} + (g * {ROLL_S}) * interval '1 second', {', '.join(cols.values())} "
            f"FROM generate_series(0, {count - 1}) g",
        )

    def operations_of(self, step: str, first: int, count: int, station: str, every_s: float, hours: float) -> None:
        self.run(
            "operations",
            f"INSERT INTO {self.op} (id, step_id, station_id, started_at, ended_at, parameters, created_at) "
            f"SELECT {first} + g, '{step}', {self.stations[station]}, s, s + interval '{hours} hours', "
            f"'{{}}'::jsonb, s FROM (SELECT g, {T0} + (g * {every_s}) * interval '1 second' AS s "
            f"FROM generate_series(0, {count - 1}) g) x",
        )

    def edges(
        self, parent: str, child: str, count: int, operation: str, stretch: str = "NULL, NULL, NULL, NULL",
        rev: bool = False, lane: str = "NULL",
    ) -> None:  # fmt: skip
        # parent/child/operation/lane: SQL of g (0..count-1); stretch: parent_from, parent_to, child_from, child_to
        self.run(
            "edges",
            f"INSERT INTO {self.edge} (parent_id, child_id, operation_id, parent_from_m, parent_to_m, child_from_m, "
            f"child_to_m, reversed, lane) SELECT {parent}, {child}, {operation}, {stretch}, {rev}, {lane} "
            f"FROM generate_series(0, {count - 1}) g",
        )

    def values(
        self, parameters: list[int], subject_first: int, subjects: int, per: int, item_sql: str, op_sql: str, pos: str
    ) -> None:
        """`per` values of each of `subjects` items or operations, cycling through `parameters`."""
        ids = "ARRAY[" + ",".join(map(str, parameters)) + "]::bigint[]"
        n = len(parameters)
        every_s = self.layout.cells * CELL_S / subjects  # the subjects spread over the line's time span
        self.run(
            "measurements",
            f"INSERT INTO {self.meas} ({MEASUREMENT_COLUMNS}) SELECT p.ids[1 + (g % {per}) % {n}], {item_sql}, "
            f"{op_sql}, '', {pos}, t, 'online', 'bench', '', v, v, '', '', '', false, '', t FROM (SELECT g, s, "
            f"{T0} + ((g / {per}) * {every_s} + (g % {per})) * interval '1 second' AS t, random() * 100 AS v "
            f"FROM (SELECT g, {subject_first} + g / {per} AS s FROM generate_series(0, {subjects * per - 1}) g) x) y, "
            f"(SELECT {ids} AS ids) p",
        )


# --- the stages ----------------------------------------------------------------------------------


def _write_operations(line: LineWriter) -> None:
    """Mixing, coating, calendering and slitting per roll, cutting per lane, stacking per cell."""
    layout, ops = line.layout, line.ops
    for pol in POLARITIES:
        for step, station in STEP_STATION.items():
            line.operations_of(step, ops[f"{pol}.{step}"], layout.rolls, station, ROLL_S, 2.5)
        line.operations_of("cutting", ops[f"{pol}.cutting"], layout.lanes, "CUT-01", ROLL_S / LANES, 1.0)
    line.operations_of("stacking", ops["stacking"], layout.cells, "STK-01", CELL_S, 150 / 3600)


def _write_supplier_lots(line: LineWriter, pol: str) -> None:
    P = pol[0].upper()
    raw = {
        "am": (AM_KIND[pol], "kg"),
        "binder": ("binder", "kg"),
        "solvent": ("solvent", "L"),
        "foil": ("current_collector_foil", "m"),
        "carbon": ("conductive_additive", "kg"),
    }
    for name, (kind, unit) in raw.items():
        line.items(
            kind, line.layout.id(pol, name), line.layout.lots[name], f"{P}{name.upper()}", unit, "1000",
            {"supplier_lot": f"'{P}-{name}-' || g"} | ({"length_m": "5200"} if name == "foil" else {}),
        )  # fmt: skip


def _write_electrode_items(line: LineWriter, pol: str) -> None:
    """Slurry, coated, calendered and slit rolls, electrode sheets, each with the operation that made it."""
    layout, ops, P = line.layout, line.ops, pol[0].upper()
    made = {"polarity": f"'{pol}'", "station_id": "NULL"}
    rolls = layout.rolls
    line.items("slurry", layout.id(pol, "slurry"), rolls, f"{P}SL", "kg", "8",
               made | {"produced_by_id": f"{ops[f'{pol}.mixing']} + g"})  # fmt: skip
    line.items("coated_roll", layout.id(pol, "coated"), rolls, f"{P}CR", "m", "0",
               made | {"length_m": "1000", "produced_by_id": f"{ops[f'{pol}.coating']} + g"})  # fmt: skip
    line.items("calendered_roll", layout.id(pol, "calendered"), rolls, f"{P}CAL", "m", "0",
               made | {"length_m": "1040", "produced_by_id": f"{ops[f'{pol}.calendering']} + g"})  # fmt: skip
    slit = made | {
        "length_m": "1040",
        "produced_by_id": f"{ops[f'{pol}.slitting']} + g / {LANES}",
        "attributes": f"jsonb_build_object('lane', g % {LANES} + 1)",
    }
    line.items("slit_roll", layout.id(pol, "slit"), layout.lanes, f"{P}SLT", "m", "0", slit)
    cut = f"{ops[f'{pol}.cutting']} + g / {SHEETS_PER_LANE}"
    sheet_cols = made | {"length_m": "0.8", "produced_by_id": cut}
    line.items("electrode_sheet", layout.id(pol, "sheet"), layout.sheets, f"{P}ES", "count", "0", sheet_cols)


def _write_electrode_edges(line: LineWriter, pol: str) -> None:
    """Lots -> slurry -> coated -> calendered -> slit -> sheets -> cells, with their stretches and lanes."""
    layout, ops = line.layout, line.ops
    mixing = f"{ops[f'{pol}.mixing']} + g"
    slurry = f"{layout.id(pol, 'slurry')} + g"
    for name, per in [*RAW.items(), ("carbon", 0)]:
        if name == "foil":
            continue
        lot = f"{layout.id(pol, name)}" + (f" + g / {per}" if per else "")
        line.edges(lot, slurry, layout.rolls, mixing)
    coated, coating = f"{layout.id(pol, 'coated')} + g", f"{ops[f'{pol}.coating']} + g"
    line.edges(slurry, coated, layout.rolls, coating)
    foil = f"{layout.id(pol, 'foil')} + g / {RAW['foil']}"
    a = f"(g % {RAW['foil']}) * {COATED_M}"
    line.edges(foil, coated, layout.rolls, coating, f"{a}, {a} + {COATED_M}, 0, {COATED_M}")
    calendered = f"{layout.id(pol, 'calendered')} + g"
    # Calendering unwinds from the outer end: the stretch is reversed.
    calendering = f"{ops[f'{pol}.calendering']} + g"
    line.edges(coated, calendered, layout.rolls, calendering, f"0, {COATED_M}, 0, {CALENDERED_M}", rev=True)
    line.edges(
        f"{layout.id(pol, 'calendered')} + g / {LANES}", f"{layout.id(pol, 'slit')} + g", layout.lanes,
        f"{ops[f'{pol}.slitting']} + g / {LANES}", f"0, {CALENDERED_M}, 0, {CALENDERED_M}", lane=f"g % {LANES} + 1",
    )  # fmt: skip
    k = f"(g % {SHEETS_PER_LANE})"
    line.edges(
        f"{layout.id(pol, 'slit')} + g / {SHEETS_PER_LANE}", f"{layout.id(pol, 'sheet')} + g", layout.sheets,
        f"{ops[f'{pol}.cutting']} + g / {SHEETS_PER_LANE}",
        f"{HEAD_M} + {k} * {SHEET_M}, {HEAD_M} + ({k} + 1) * {SHEET_M}, 0, {SHEET_M}",
    )  # fmt: skip
    line.edges(
        f"{layout.id(pol, 'sheet')} + g", f"{layout.base['cell']} + g / {SHEETS_PER_CELL}", layout.sheets,
        f"{ops['stacking']} + g / {SHEETS_PER_CELL}",
    )  # fmt: skip


def _parameter_groups() -> dict[str, list[int]]:
    """The catalog's parameters per kind of value (all of them where a group would be empty)."""
    from measurements.models import Parameter

    params = list(Parameter.objects.order_by("code").values_list("pk", "step_id"))
    pick = {
        "profile": [p for p, s in params if s in {"coating", "drying", "calendering"}],
        "cell": [p for p, s in params if s in {"formation", "aging", "end_of_line_test", "stacking"}],
        "operation": [p for p, s in params if s in {"stacking", "cutting", "mixing"}],
        "lab": [p for p, s in params if s in {"mixing", "slitting"}],
    }
    every = [p for p, _ in params]
    return {k: (v or every) for k, v in pick.items()}


def _write_measurements(line: LineWriter, values_per_cell: int, pick: dict[str, list[int]]) -> None:
    """Profiles along the rolls (with position), lab values per slit roll, values per cell and per stacking."""
    layout = line.layout
    total = values_per_cell * layout.cells
    for pol in POLARITIES:
        per_roll = max(1, round(total * SHARE["profile"] / 4 / layout.rolls))  # half coated, half calendered
        position = f"(g % {per_roll}) * {COATED_M} / {per_roll}"
        for name in ("coated", "calendered"):
            line.values(pick["profile"], layout.id(pol, name), layout.rolls, per_roll, "s", "NULL", position)
        per_slit = max(1, round(total * SHARE["lab"] / 2 / layout.lanes))
        line.values(pick["lab"], layout.id(pol, "slit"), layout.lanes, per_slit, "s", "NULL", "NULL")
    per_cell = max(1, round(values_per_cell * SHARE["cell"]))
    line.values(pick["cell"], layout.base["cell"], layout.cells, per_cell, "s", "NULL", "NULL")
    per_op = max(1, round(values_per_cell * SHARE["operation"]))
    line.values(pick["operation"], line.ops["stacking"], layout.cells, per_op, "NULL", "s", "NULL")


def generate(layout: Layout, values_per_cell: int) -> dict[str, float]:
    """The line and its measurements; returns seconds per stage."""
    from django.core.management import call_command
    from django.db import transaction

    line = LineWriter(layout)
    with transaction.atomic():
        _write_operations(line)
        for pol in POLARITIES:
            _write_supplier_lots(line, pol)
            _write_electrode_items(line, pol)
            _write_electrode_edges(line, pol)
        line.items("cell", layout.base["cell"], layout.cells, "CELL", "count", "1",
                   {"produced_by_id": f"{line.ops['stacking']} + g"})  # fmt: skip
    log(f"    line: {layout.items:,} items, {line.operations:,} operations ({_fmt(line.times)})")

    call_command("load_catalog", verbosity=0)
    _write_measurements(line, values_per_cell, _parameter_groups())
    line.run("analyze", f"ANALYZE {line.item}; ANALYZE {line.edge}; ANALYZE {line.op}; ANALYZE {line.meas}")
    return line.times


def _fmt(times: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
