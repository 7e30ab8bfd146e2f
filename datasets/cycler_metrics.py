"""What the formation and end-of-line sections of the paper (4.1.8) ask of a cell's cycler file,
from its Battery Data Format table (`cycler_files.cycler_read`), with numpy over whole columns.

- Capacity per cycle and coulombic efficiency: `cycling.cycle_summary` (trapezoid integrals of
  the current); the formation values are those of the first cycle with a charge, with a
  discharge and with both; the end-of-line capacity that of the last cycle with a discharge.
- DCIR from a pulse: a segment of constant mode (charge or discharge) of at most
  `PULSE_MAX_SECONDS` right after a rest. R = ΔV/ΔI between the last sample of the rest and the
  last sample of the pulse (the resistance of a pulse test over the pulse's length).
- OCV drop over a rest: the longest rest of at least `REST_MIN_SECONDS`, voltage at its first
  sample minus voltage at its last (positive when the voltage falls), and that per second.

Segments are runs of samples of one step number and one mode (rest when the current is within
`_REST_SHARE` of the file's largest, as `cycler_files.derived_steps` has it).
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .cycling import cycle_summary

PULSE_MAX_SECONDS = 60.0
REST_MIN_SECONDS = 60.0
_REST_SHARE = 1e-3
_REST_FLOOR_AMPERE = 1e-6  # a file at rest throughout has no largest current to take a share of


@dataclass(frozen=True)
class CyclerMetrics:
    """The metrics of one cycler file; None where the file has nothing to derive it from."""

    cycles: list[int]
    charge_capacity: list[float]  # A·h per cycle
    discharge_capacity: list[float]
    first_charge_capacity: float | None
    first_discharge_capacity: float | None
    first_coulombic_efficiency: float | None  # discharge / charge, a fraction
    last_discharge_capacity: float | None
    dcir_ohm: float | None  # of the first pulse after a rest
    pulses: int
    ocv_drop_volt: float | None  # over the longest rest
    ocv_drop_volt_per_second: float | None
    rest_end_voltage: float | None  # the open-circuit voltage at the end of that rest


@dataclass(frozen=True)
class _Segments:
    start: np.ndarray  # first sample of each segment
    end: np.ndarray  # last sample
    mode: np.ndarray  # 1 charge, -1 discharge, 0 rest


def _columns(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def column(name: str, kind: type) -> np.ndarray:
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=kind)

    return (
        column("test_time_second", np.float64),
        column("voltage_volt", np.float64),
        np.nan_to_num(column("current_ampere", np.float64)),
        column("step_index", np.int64),
    )


def segments(current: np.ndarray, step: np.ndarray) -> _Segments:
    """Runs of one step number and one mode (charge, discharge, rest)."""
    largest = float(np.abs(current).max()) if current.size else 0.0
    threshold = max(largest * _REST_SHARE, _REST_FLOOR_AMPERE)
    mode = np.where(current > threshold, 1, np.where(current < -threshold, -1, 0))
    if current.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Segments(empty, empty, empty)
    change = np.flatnonzero((mode[1:] != mode[:-1]) | (step[1:] != step[:-1])) + 1
    start = np.concatenate(([0], change))
    end = np.concatenate((change - 1, [current.size - 1]))
    return _Segments(start, end, mode[start])


def _first(values: list[float | None], *, last: bool = False) -> float | None:
    present = [v for v in values if v is not None and v > 0]
    if not present:
        return None
    return present[-1] if last else present[0]


def _dcir(time: np.ndarray, voltage: np.ndarray, current: np.ndarray, seg: _Segments) -> tuple[float | None, int]:
    if seg.mode.size < 2:
        return None, 0
    # A pulse lasts from the rest's last sample to its own last.
    duration = time[seg.end] - time[np.concatenate(([0], seg.end[:-1]))]
    after_rest = np.concatenate(([False], seg.mode[:-1] == 0))
    pulse = (seg.mode != 0) & after_rest & (duration <= PULSE_MAX_SECONDS)
    indices = np.flatnonzero(pulse)
    if indices.size == 0:
        return None, 0
    before = seg.end[indices - 1]  # the last sample of the rest
    at = seg.end[indices]  # the last sample of the pulse
    delta_i = current[at] - current[before]
    delta_v = voltage[at] - voltage[before]
    valid = np.isfinite(delta_v) & (delta_i != 0)
    if not valid.any():
        return None, 0
    resistance = delta_v[valid] / delta_i[valid]
    return float(resistance[0]), int(valid.sum())


def _rest(time: np.ndarray, voltage: np.ndarray, seg: _Segments) -> tuple[float | None, float | None, float | None]:
    rests = np.flatnonzero(seg.mode == 0)
    if rests.size == 0:
        return None, None, None
    lengths = time[seg.end[rests]] - time[seg.start[rests]]
    longest = int(np.nanargmax(lengths)) if np.isfinite(lengths).any() else 0
    seconds = float(lengths[longest])
    if not seconds >= REST_MIN_SECONDS:
        return None, None, None
    first, last = seg.start[rests[longest]], seg.end[rests[longest]]
    drop = float(voltage[first] - voltage[last])
    if not np.isfinite(drop):
        return None, None, None
    return drop, drop / seconds, float(voltage[last])


def cycler_metrics(table: pa.Table) -> CyclerMetrics:
    """The metrics of one cycler file's table (see the module's docstring)."""
    summary = cycle_summary(table).to_pydict()
    charge, discharge = summary["capacity_charge"], summary["capacity_discharge"]
    efficiency = [e for e in summary["coulomb_efficiency"] if e is not None]
    time, voltage, current, step = _columns(table)
    seg = segments(current, step)
    dcir, pulses = _dcir(time, voltage, current, seg)
    drop, rate, ocv = _rest(time, voltage, seg)
    return CyclerMetrics(
        cycles=list(summary["cycle_count"]),
        charge_capacity=list(charge),
        discharge_capacity=list(discharge),
        first_charge_capacity=_first(charge),
        first_discharge_capacity=_first(discharge),
        first_coulombic_efficiency=efficiency[0] if efficiency else None,
        last_discharge_capacity=_first(discharge, last=True),
        dcir_ohm=dcir,
        pulses=pulses,
        ocv_drop_volt=drop,
        ocv_drop_volt_per_second=rate,
        rest_end_voltage=ocv,
    )
