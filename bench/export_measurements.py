"""The measurements of bench/export.py (set-up, not measured): TRUNCATE and COPY a line's worth
over the catalog's parameters, spread the way a line produces them (see bench/export.py, step 1).

bench/ is sys.path[0] when bench/export.py runs, so it imports this module as `export_measurements`.
"""

from __future__ import annotations

import io
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from support import log

BASE_TIME = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
MONTH = timedelta(days=31)
DRY_ROOM = "dry-room-1"
DRY_ROOM_EVERY = timedelta(minutes=15)
OPERATION_SAMPLES = 30  # machine log samples per parameter of a (long) operation
STACKING_SAMPLES = 1
LAB_SAMPLES = {"slurry": 5, "lot": 3, "coated_roll": 5, "slit_roll": 5}
RAW_KINDS = (
    "cathode_active_material",
    "anode_active_material",
    "binder",
    "conductive_additive",
    "solvent",
    "current_collector_foil",
)
# Machine parameters of steps without operations of their own in the trace line, filed under the
# operation of the machine they run on (the dryer is inline with the coater).
OPERATION_STEP = {"drying": "coating", "post_drying": "slitting"}
COLUMNS = (
    "parameter_id, item_id, operation_id, room, position_m, measured_at, source, instrument, method, value, "
    "sent_value, sent_unit, file, file_sha256, out_of_range, correction_reason, created_at"
)


# --- Set-up: the measurements --------------------------------------------------------------------


def plan(parameters: list[dict[str, Any]], sequence: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Which parameters go where: profile_coated, profile_calendered, lab_slurry, lab_lot,
    lab_coated, lab_slit, cell, operation (with its "op_step") and room."""
    groups: dict[str, list[dict[str, Any]]] = {
        key: []
        for key in (
            "profile_coated",
            "profile_calendered",
            "lab_slurry",
            "lab_lot",
            "lab_coated",
            "lab_slit",
            "cell",
            "operation",
            "room",
        )
    }
    stacking = sequence["stacking"]
    for p in parameters:
        step, scope, category = p["step_id"] or "", p["scope"], p["category"]
        if scope == "environment":
            groups["room"].append(p)
        elif scope == "material":
            groups["lab_lot" if step == "mixing" else "cell"].append(p)
        elif category == "MP":
            op_step = OPERATION_STEP.get(step, step)
            if op_step in {"mixing", "coating", "calendering", "slitting", "cutting", "stacking"}:
                groups["operation"].append({**p, "op_step": op_step})
            else:
                groups["cell"].append(p)
        elif step in {"coating", "drying"}:
            groups["profile_coated"].append(p)
            if step == "coating" and category == "SP":
                groups["lab_coated"].append(p)
        elif step == "calendering":
            groups["profile_calendered"].append(p)
        elif step == "mixing":
            groups["lab_slurry"].append(p)
        elif step in {"slitting", "post_drying", "cutting"}:
            groups["lab_slit"].append(p)
        elif sequence.get(step, 0) >= stacking:
            groups["cell"].append(p)
    return groups


def _line() -> tuple[dict[str, int], list[dict[str, Any]], dict[str, list[Any]], dict[str, list[Any]]]:
    """The steps' sequence, the catalog's parameters, the items (no sheets) per kind and the
    operations per step of the line in the database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT code, sequence FROM traceability_step")
        sequence = dict(cursor.fetchall())
        cursor.execute(
            "SELECT id, code, scope, step_id, category, unit, typical_min, typical_max "
            "FROM measurements_parameter ORDER BY code"
        )
        names = [c[0] for c in cursor.description]
        parameters = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute("SELECT id, kind_id, length_m, created_at FROM lots_item WHERE kind_id <> 'electrode_sheet'")
        items: dict[str, list[tuple[int, float | None, datetime]]] = {}
        for pk, kind, length, created in cursor.fetchall():
            items.setdefault(kind, []).append((pk, length, created))
        cursor.execute("SELECT id, step_id, started_at, COALESCE(ended_at, started_at) FROM traceability_operation")
        operations: dict[str, list[tuple[int, datetime, datetime]]] = {}
        for pk, step, started, ended in cursor.fetchall():
            operations.setdefault(step, []).append((pk, started, ended))
    return sequence, parameters, items, operations


class MeasurementCopy:
    """Rows into the COPY of measurements_measurement, each value drawn in its parameter's
    typical range, counted per group for the report."""

    def __init__(self, copy: Any, rng: random.Random) -> None:
        self.copy, self.rng = copy, rng
        self.written = 0
        self.rows: list[tuple[str, int]] = []  # (group, count) for the report

    def value_of(self, p: dict[str, Any]) -> float:
        low, high = p["typical_min"], p["typical_max"]
        if low is None and high is None:
            low, high = 0.0, 100.0
        elif low is None:
            low = 0.0 if high > 0 else high - 1.0
        elif high is None:
            high = low * 2 + 1.0 if low >= 0 else 0.0
        if high <= low:
            return float(low)
        middle, spread = (low + high) / 2, (high - low) / 8
        return min(high, max(low, self.rng.gauss(middle, spread)))

    def emit(self, p: dict[str, Any], *, item=None, operation=None, room="", position=None, when, source) -> None:
        value = self.value_of(p)
        instrument = "gauge" if source == "online" else "lab"
        self.copy.write_row(
            (p["id"], item, operation, room, position, when, source, instrument, "", value, value, p["unit"],
             "", "", False, "", when)
        )  # fmt: skip

    def count(self, group: str, n: int) -> None:
        self.written += n
        self.rows.append((group, n))


def _dry_room(out: MeasurementCopy, groups: dict[str, list[dict[str, Any]]]) -> None:
    """The dry room, every 15 minutes over the month."""
    n, when = 0, BASE_TIME - timedelta(days=1)
    while when <= BASE_TIME + MONTH:
        for p in groups["room"]:
            out.emit(p, room=DRY_ROOM, when=when, source="online")
            n += 1
        when += DRY_ROOM_EVERY
    out.count("dry room (room, every 15 min)", n)


def _operation_values(out: MeasurementCopy, groups: dict[str, list[dict[str, Any]]], operations: dict) -> None:
    """Machine parameters per operation."""
    n = 0
    for p in groups["operation"]:
        samples = STACKING_SAMPLES if p["op_step"] == "stacking" else OPERATION_SAMPLES
        for pk, started, ended in operations.get(p["op_step"], []):
            span = (ended - started) / samples
            for k in range(samples):
                out.emit(p, operation=pk, when=started + span * k, source="online")
                n += 1
    out.count("operation values (operation_id, no item)", n)


def _cell_values(out: MeasurementCopy, groups: dict[str, list[dict[str, Any]]], items: dict) -> None:
    """One value per cell and parameter of cell assembly, formation, aging and the EOL test."""
    n = 0
    for pk, _length, created in items["cell"]:
        for p in groups["cell"]:
            out.emit(p, item=pk, when=created + timedelta(days=2), source="offline")
            n += 1
    out.count("cell values (per cell)", n)


def _lab_values(out: MeasurementCopy, groups: dict[str, list[dict[str, Any]]], items: dict) -> None:
    """Lab values without a position, per slurry, raw-material lot, coated and slit roll."""
    n = 0
    for group, kinds in (
        ("lab_slurry", ("slurry",)),
        ("lab_lot", RAW_KINDS),
        ("lab_coated", ("coated_roll",)),
        ("lab_slit", ("slit_roll",)),
    ):
        for kind in kinds:
            samples = LAB_SAMPLES["lot" if kind in RAW_KINDS else kind]
            for pk, _length, created in items.get(kind, []):
                for p in groups[group]:
                    for k in range(samples):
                        out.emit(p, item=pk, when=created + timedelta(minutes=10 * k), source="offline")
                        n += 1
    out.count("lab values (slurry, lot, roll; no position)", n)


def _roll_profiles(out: MeasurementCopy, groups: dict[str, list[dict[str, Any]]], items: dict, total: int) -> None:
    """The rest up to `total`: online profiles along the coated and calendered rolls."""
    rolls = [(r, "profile_coated") for r in items["coated_roll"]] + [
        (r, "profile_calendered") for r in items.get("calendered_roll", [])
    ]
    need = max(0, total - out.written)
    n = 0
    for index, ((pk, length, created), group) in enumerate(rolls):
        share = need // len(rolls) + (1 if index < need % len(rolls) else 0)
        params = groups[group]
        scans = -(-share // len(params))
        if scans == 0:  # fewer values asked for than the other groups wrote: no profile here
            continue
        step = (length or 1000.0) / scans
        done = 0
        for scan in range(scans):
            when = created + timedelta(seconds=scan)
            for p in params:
                if done >= share:
                    break
                out.emit(p, item=pk, position=round(scan * step, 4), when=when, source="online")
                done += 1
        n += done
    out.count("online profiles along coated/calendered rolls", n)


def reload_measurements(total: int, seed: int) -> dict[str, Any]:
    """TRUNCATE and COPY `total` measurements over the catalog; returns what was loaded."""
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("load_catalog", stdout=io.StringIO())
    rng = random.Random(seed)
    sequence, parameters, items, operations = _line()
    if not items.get("cell") or not items.get("coated_roll"):
        sys.exit("No line in the database: run bench/trace.py first.")
    groups = plan(parameters, sequence)

    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # The table refuses TRUNCATE; a superuser (the bench's user) may switch its triggers off.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("TRUNCATE measurements_measurement RESTART IDENTITY")
        with cursor.cursor.copy(f"COPY measurements_measurement ({COLUMNS}) FROM STDIN") as copy:
            out = MeasurementCopy(copy, rng)
            _dry_room(out, groups)
            _operation_values(out, groups, operations)
            _cell_values(out, groups, items)
            _lab_values(out, groups, items)
            _roll_profiles(out, groups, items, total)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE measurements_measurement")
    analyze_s = time.perf_counter() - t0
    for group, n in out.rows:
        log(f"  {n:>10,}  {group}")
    log(f"loaded {out.written:,} measurements with COPY in {load_s:.1f} s, ANALYZE {analyze_s:.1f} s")
    return {
        "measurements": out.written,
        "copy_s": round(load_s, 2),
        "analyze_s": round(analyze_s, 2),
        "by_kind": dict(out.rows),
        "parameters_by_group": {k: len(v) for k, v in groups.items()},
    }
