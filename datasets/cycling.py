"""Cycling data of cells: per-cycle summaries of the BDF tables `cycler_files` reads, and the
cycling tables of a set of cells.

`cycle_summary` integrates the current (and the power, |voltage × current|) over time with the
trapezoid rule, for every format alike, rather than trusting each cycler's capacity columns (which
reset per step on some, per cycle on others).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .cycler_files import HEAD_BYTES, RAW_SCHEMA, cycler_read, detect_format

SUMMARY_SCHEMA = pa.schema(
    [
        ("cycle_count", pa.int64()),
        ("test_time_start", pa.float64()),
        ("test_time_end", pa.float64()),
        ("capacity_charge", pa.float64()),
        ("capacity_discharge", pa.float64()),
        ("coulomb_efficiency", pa.float64()),
        ("energy_charge", pa.float64()),
        ("energy_discharge", pa.float64()),
    ]
)


def cycle_summary(table: pa.Table) -> pa.Table:
    """One row per cycle: charge and discharge capacity (A·h) and energy (W·h), coulomb efficiency.

    Capacity is the trapezoid integral of the current over time, split by sign (charge: positive
    part, discharge: the magnitude of the negative part); energy likewise of |voltage × current|
    (a magnitude, as cyclers report it, also for the negative voltages of some test channels).
    Each interval between two samples counts towards the cycle of its later sample. Coulomb
    efficiency is discharge / charge, null for a cycle without both a charge and a discharge
    (not 0 for a charge alone, not infinite for a discharge alone).
    """
    if table.num_rows == 0:
        return SUMMARY_SCHEMA.empty_table()
    time = table.column("test_time_second").to_numpy(zero_copy_only=False).astype(np.float64)
    current = np.nan_to_num(table.column("current_ampere").to_numpy(zero_copy_only=False).astype(np.float64))
    voltage = np.nan_to_num(table.column("voltage_volt").to_numpy(zero_copy_only=False).astype(np.float64))
    cycle = table.column("cycle_count").to_numpy(zero_copy_only=False).astype(np.int64)
    dt = np.clip(np.nan_to_num(np.diff(time)), 0.0, None)  # a clock that steps back adds nothing
    power = voltage * current

    def trapezoid(values: np.ndarray) -> np.ndarray:
        return (values[1:] + values[:-1]) / 2.0 * dt / 3600.0

    q_charge = trapezoid(np.clip(current, 0.0, None))
    q_discharge = -trapezoid(np.clip(current, None, 0.0))
    e_charge = trapezoid(np.where(current > 0, np.abs(power), 0.0))
    e_discharge = trapezoid(np.where(current < 0, np.abs(power), 0.0))
    interval_cycle = cycle[1:]
    rows: dict[str, list[Any]] = {name: [] for name in SUMMARY_SCHEMA.names}
    for number in sorted(set(cycle.tolist())):
        samples = cycle == number
        intervals = interval_cycle == number
        charge = float(q_charge[intervals].sum())
        discharge = float(q_discharge[intervals].sum())
        rows["cycle_count"].append(number)
        rows["test_time_start"].append(float(np.nanmin(time[samples])))
        rows["test_time_end"].append(float(np.nanmax(time[samples])))
        rows["capacity_charge"].append(charge)
        rows["capacity_discharge"].append(discharge)
        rows["coulomb_efficiency"].append(discharge / charge if charge > 0 and discharge > 0 else None)
        rows["energy_charge"].append(float(e_charge[intervals].sum()))
        rows["energy_discharge"].append(float(e_discharge[intervals].sum()))
    return pa.Table.from_pydict(rows, schema=SUMMARY_SCHEMA)


# --- Cells ---------------------------------------------------------------------------------------


RAW_CELL_SCHEMA = RAW_SCHEMA.append(pa.field("cell", pa.string()))
SUMMARY_CELL_SCHEMA = SUMMARY_SCHEMA.append(pa.field("cell", pa.string()))
_CODES_PER_QUERY = 5000


@dataclass(frozen=True)
class FileCycling:
    """One cycler file of a cell: its raw table and per-cycle summary, each with the column `cell`."""

    raw: pa.Table
    summary: pa.Table


def cycling_files(*, cells: list[int | str], problems: list[dict[str, str]] | None = None) -> Iterator[FileCycling]:
    """The raw table and per-cycle summary, each with `cell`, of every cycler file of the cells (item
    ids or codes), one file at a time so that memory holds one file, not every cell's.

    Reads the current file measurements (those no correction supersedes) whose file is a cycler
    file of a supported format; other files (images, reports) are passed over. The summary is
    made per file, so a cell with two files has two runs of cycle numbers. Files come in the
    order of cell code, then time of measurement.

    A file that cannot be read is passed over and reported in `problems` as {"cell", "file",
    "message"} (no server path); without `problems` it raises ValueError with that message.
    """
    from django.db.models import Q

    from measurements.files import public_message
    from measurements.models import Measurement

    ids = [c for c in cells if isinstance(c, int)]
    codes = sorted(c for c in cells if isinstance(c, str))
    # A query per 5,000 cells keeps the IN list within what every database takes.
    chunks = [codes[i : i + _CODES_PER_QUERY] for i in range(0, len(codes), _CODES_PER_QUERY)] or [[]]
    for number, chunk in enumerate(chunks):
        match = Q(item__code__in=chunk) | (Q(item_id__in=ids) if number == 0 else Q(pk__in=[]))
        measurements = (
            Measurement.objects.filter(match, superseded_by__isnull=True)
            .exclude(file="")
            .select_related("item")
            .order_by("item__code", "measured_at", "id")
        )
        for measurement in measurements.iterator(chunk_size=500):
            name = Path(measurement.file.name).name
            assert measurement.item is not None
            code = measurement.item.code
            try:
                with measurement.file.open("rb") as handle:
                    if detect_format(name, handle.read(HEAD_BYTES)) is None:
                        continue
                    handle.seek(0)
                    raw = cycler_read(handle, name=name)
            except Exception as error:  # whatever a reader raises on a bad file: that file is skipped
                message = f"{name} of {code} could not be read: {public_message(error)}"
                if problems is None:
                    raise ValueError(message) from None
                problems.append({"cell": code, "file": name, "message": message})
                continue
            summary = cycle_summary(raw)
            yield FileCycling(
                raw=raw.append_column("cell", pa.array([code] * raw.num_rows, pa.string())),
                summary=summary.append_column("cell", pa.array([code] * summary.num_rows, pa.string())),
            )


def cells_cycling(*, cells: list[int | str]) -> tuple[pa.Table, pa.Table]:
    """The cycling data of cells (item ids or codes), whole: (raw table, per-cycle summary)."""
    raws: list[pa.Table] = []
    summaries: list[pa.Table] = []
    for file in cycling_files(cells=cells):
        raws.append(file.raw)
        summaries.append(file.summary)
    return (
        pa.concat_tables(raws) if raws else RAW_CELL_SCHEMA.empty_table(),
        pa.concat_tables(summaries) if summaries else SUMMARY_CELL_SCHEMA.empty_table(),
    )
