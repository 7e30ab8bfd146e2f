"""One cell's formation voltage curve, as the cycler recorded it: stored once as a series and once
as the file the cycler exports (Arbin CSV), which becomes the cell's cycling table in exports."""

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from django.core.files.uploadedfile import SimpleUploadedFile

from audit.services import Actor
from measurements.models import Parameter, Source
from measurements.services import MeasurementInput, measurement_record
from measurements.services_catalog import parameter_create

from .line_data import NOMINAL_CAPACITY_AH
from .measure_cells import cycler
from .measure_data import CURVE_PARAMETER, FIRST_CHARGE, OCV
from .measure_rows import LineMade

CHARGED_AH, DISCHARGED_AH = 5.25, 4.63  # 88 % coulombic efficiency
RESISTANCE_OHM = 0.0165
SAMPLE_S = 60


@dataclass
class CyclerRecord:
    """The cycler's samples, one a minute; current positive when charging (Battery Data Format)."""

    rng: random.Random
    times: list[int] = field(default_factory=list)
    volts: list[float] = field(default_factory=list)
    amps: list[float] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)
    t: int = 0
    cycle: int = 1

    def sample(self, voltage: float, amperes: float = 0.0) -> None:
        self.times.append(self.t)
        self.volts.append(round(voltage + self.rng.gauss(0, 0.0005), 4))
        self.amps.append(round(amperes, 4))
        self.cycles.append(self.cycle)
        self.t += SAMPLE_S

    def csv(self) -> str:
        rows = ["Test_Time(s),Current(A),Voltage(V),Cycle_Index"]
        rows += [f"{x},{a},{v},{c}" for x, a, v, c in zip(self.times, self.amps, self.volts, self.cycles, strict=True)]
        return "\n".join(rows)


def formation_record(rng: random.Random) -> CyclerRecord:
    """First charge at 0.1C to 4.2 V with a CV tail to C/20, rest, discharge at 0.2C to 2.8 V,
    rest, charge at 0.2C to 30 % for aging."""
    record, dt, one_c, resistance = CyclerRecord(rng), SAMPLE_S, NOMINAL_CAPACITY_AH, RESISTANCE_OHM
    q, current = 0.0, 0.1 * one_c  # first charge: CC at 0.1C to 4.2 V ...
    while (voltage := _interpolate(FIRST_CHARGE, q / CHARGED_AH) + current * resistance + 0.03) < 4.2:
        record.sample(voltage, current)
        q += current * dt / 3600
    tau = (CHARGED_AH - q) / current * 3600  # ... then CV at 4.2 V until the current falls to C/20
    while current > 0.05 * one_c:
        record.sample(4.2, current)
        current *= math.exp(-dt / tau)
    for k in range(30):  # rest
        record.sample(4.2 - 0.045 * (1 - math.exp(-k * dt / 600)))
    q, current = 0.0, 0.2 * one_c  # discharge at 0.2C to 2.8 V
    while (voltage := _interpolate(OCV, 1 - q / DISCHARGED_AH) - current * resistance - 0.02) > 2.8:
        record.sample(voltage, -current)
        q += current * dt / 3600
    for k in range(30):  # rest
        record.sample(2.8 + 0.42 * (1 - math.exp(-k * dt / 900)))
    q, record.cycle = 0.0, 2  # to 30 % state of charge for aging
    while q < 0.3 * DISCHARGED_AH:
        record.sample(_interpolate(OCV, q / DISCHARGED_AH) + current * resistance + 0.02, current)
        q += current * dt / 3600
    return record


def formation_curve(actor: Actor, rng: random.Random, line: LineMade) -> tuple[str, int]:
    """Store the curve cell's record; returns the cell's code and the number of points."""
    if not Parameter.objects.filter(code=CURVE_PARAMETER["code"]).exists():
        parameter_create(actor=actor, **CURVE_PARAMETER)
    cell = line.curve_cell
    formation = line.operations[("formation", cell.code)]
    record = formation_record(rng)
    data = MeasurementInput(
        parameter=CURVE_PARAMETER["code"],
        item=cell.code,
        operation=formation.pk,
        measured_at=formation.started_at,
        source=Source.ONLINE,
        instrument=cycler(formation).instrument,
        method="CC 0.1C to 4.2 V, CV to C/20; CC 0.2C to 2.8 V; CC 0.2C to 30 % SOC",
    )
    series = {"x": record.times, "y": record.volts, "x_unit": "s", "x_kind": "time", "y_unit": "V"}
    measurement_record(actor=actor, data=replace(data, series=series))
    csv_file = SimpleUploadedFile("formation.csv", record.csv().encode(), content_type="text/csv")
    measurement_record(actor=actor, data=replace(data, method="cycler export, Arbin CSV"), file=csv_file)
    return cell.code, len(record.times)


def _interpolate(table: Sequence[tuple[float, ...]], x: float) -> float:
    xs = [point[0] for point in table]
    x = min(max(x, xs[0]), xs[-1])
    i = max(1, bisect.bisect_left(xs, x))
    (x0, y0), (x1, y1) = table[i - 1], table[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
