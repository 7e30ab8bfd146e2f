"""The demo line's measurements: what its gauges, its lab, the dry-room sensors and the cycler recorded.

`load_demo` builds the line through the services, then hands what it made (`LineMade`) to
`demo_measurements_record`, inside its own transaction. The machine parameters are not here: they
travel with the operations and `operation_record` turns them into measurements. Recorded here:

- online profiles along the rolls: mass loading and dry coating thickness every 0.5 m of each
  coated roll, calendered thickness every 0.5 m of each calendered roll. Each value is the mean of
  one half-metre bin, placed at the bin's centre (0.25 m, 0.75 m, ...), so that no value sits on
  the edge of a sheet cut from the roll. One defect: a mass-loading dip on the cathode coated roll,
  on the stretch that became metres 8.0-8.5 of the calendered roll (and of both its lanes), which
  the notcher cuts into sheets of a few cells;
- offline lab values: particle sizes and surface area of the active-material lots, foil thickness,
  electrolyte density and viscosity, slurry viscosity, solid content and density, peel strength of
  the coated and calendered rolls, porosity and density of the calendered rolls, residual moisture
  of each lane after post-drying;
- dry-room readings every 15 minutes (dew point, water content, temperature) while the room
  works; they reach a cell through the operations it went through in that room;
- stack and cell data: stack weight and alignment, weld resistance, formation capacities,
  coulombic efficiency and resistance, gas volume, OCV drop and K-value from aging, the
  end-of-line OCV, resistance and capacity; and one formation voltage curve (a series).

Numbers come from a random.Random(SEED) used in a fixed order, so every load is the same.

Out of range, out of limits. The catalog's typical ranges are the paper's, and the paper gives
none for mass loading or capacity: those depend on the product. The demo product (DEMO_PRODUCT,
the `product` attribute of both slurries, inherited by all made from them) has specification
limits, set by the demo engineer through `limit_set` (audited) before any value is recorded: mass
loading per polarity within MASS_LOADING_TOLERANCE of its recipe's target, end-of-line capacity
from 4.40 Ah (`SPECS`). A value is stored with `out_of_range` against the catalog's typical range
and `out_of_limits` against the limit that applies to its item (measurements.selectors_limits,
the rule every write applies); the limits only flag (on_violation "flag"): load_demo places its
hold itself.

The formation curve needs a parameter the catalog lacks (a cell voltage over time): the demo
engineer creates `formation_voltage` through `parameter_create` (audited) the first time.

The rows are written with one bulk_create per kind of data, values already in the canonical unit
(each unit converted with `linear_to_canonical`, so a wrong unit fails loudly), and one audit event
per kind, as bulk ingest does. measurements.ingest is not used: it takes no operation.
"""

import bisect
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Max, Min

from audit.services import Actor, actor_user, audit_record
from lots.models import Item
from traceability.models import Operation
from traceability.selectors import position_map, position_track

from .models import Measurement, Parameter, Source
from .selectors import measurements_upstream
from .selectors_limits import LimitBook, limit_book
from .services import Linear, MeasurementInput, linear_to_canonical, measurement_record, out_of_range
from .services_catalog import parameter_create
from .services_limits import limit_set

SEED = 7
PROFILE_STEP_M = 0.5
DRY_ROOM_EVERY = timedelta(minutes=15)
# The cathode defect: the stretch of the coated roll that became these metres of the calendered roll.
DIP_CALENDERED_M = (8.0, 8.5)
DIP_DEPTH = 0.22  # fraction of the mass loading missing at the bottom of the dip
DIP_TAPER_M = 0.3  # on the coated roll, either side of the stretch
CURVE_PARAMETER = "formation_voltage"  # not in the catalog: created (audited) on first use


@dataclass(frozen=True)
class ElectrodeSpec:
    """What the demo knows of one polarity's electrode beyond its recipe (densities, lab results)."""

    solid_density_g_cm3: float  # of the dry coating's solids, from the formulation
    dry_porosity: float
    calendered_porosity: float
    foil_um: float
    d10_um: float
    d50_um: float
    d90_um: float
    bet_m2_g: float
    viscosity_pa_s: float  # at 10 1/s, 25 degC
    peel_coated_n_m: float
    peel_calendered_n_m: float
    moisture_ppm: float

    def coating_um(self, loading_mg_cm2: float) -> float:
        """Dry coating thickness of one side: mass per area over the density of the porous coating."""
        return loading_mg_cm2 * 10 / (self.solid_density_g_cm3 * (1 - self.dry_porosity))

    def calendered_um(self, loading_mg_cm2: float) -> float:
        """Both sides and the foil, after calendering to the target porosity."""
        return self.foil_um + 2 * loading_mg_cm2 * 10 / (self.solid_density_g_cm3 * (1 - self.calendered_porosity))


ELECTRODES: dict[str, ElectrodeSpec] = {
    # NMC811 92 %, carbon black 4 %, PVDF 4 %: solids 4.22 g/cm3.
    "cathode": ElectrodeSpec(4.22, 0.45, 0.28, 15.0, 6.1, 12.1, 19.8, 0.42, 5.2, 31.0, 24.0, 165.0),
    # Graphite 95.3 %, carbon black 1 %, CMC 1.5 %, SBR 2.2 %: solids 2.18 g/cm3.
    "anode": ElectrodeSpec(2.18, 0.50, 0.32, 8.0, 10.2, 17.4, 28.9, 1.9, 2.4, 12.5, 9.5, 290.0),
}
DEMO_PRODUCT = "NMC811-G-pouch-4.5Ah"
MASS_LOADING_TOLERANCE = 0.05  # the product spec: target +-5 %
NOMINAL_CAPACITY_AH = 4.5
# Product limits per parameter (lower, upper, unit); mass loading's are per polarity, from the recipe.
SPECS: dict[str, tuple[float | None, float | None, str]] = {"eol_capacity": (4.40, None, "A*h")}

# Open-circuit voltage of the NMC811/graphite cell against state of charge (fraction).
_OCV = (
    (0.0, 2.70), (0.01, 3.10), (0.03, 3.35), (0.06, 3.46), (0.1, 3.53), (0.2, 3.60), (0.3, 3.65),
    (0.4, 3.70), (0.5, 3.76), (0.6, 3.84), (0.7, 3.93), (0.8, 4.02), (0.9, 4.09), (1.0, 4.17),
)  # fmt: skip
# The first charge of a fresh cell: from about 0.5 V through the SEI plateau, then the OCV shifted
# by the lithium the SEI takes (fraction of the first-charge capacity).
_FIRST_CHARGE = (
    (0.0, 0.45), (0.005, 2.2), (0.01, 2.9), (0.03, 3.15), (0.06, 3.35), (0.1, 3.48), (0.2, 3.57),
    (0.3, 3.62), (0.4, 3.67), (0.5, 3.73), (0.6, 3.80), (0.7, 3.88), (0.8, 3.97), (0.9, 4.06), (1.0, 4.17),
)  # fmt: skip


@dataclass(frozen=True)
class ElectrodeMade:
    """One polarity's items, as load_demo made them."""

    polarity: str
    active_lot: Item
    foil: Item
    slurry: Item
    coated: Item
    calendered: Item
    lanes: Sequence[Item]
    mass_loading_mg_cm2: float
    solid_content_pct: float
    slurry_density_g_cm3: float


@dataclass(frozen=True)
class LineMade:
    electrodes: Sequence[ElectrodeMade]
    electrolyte: Item
    stacks: Sequence[Item]
    welded: Sequence[Item]
    cells: Sequence[Item]
    rejects: Sequence[str]  # codes of the cells that fail the end-of-line capacity check
    curve_cell: Item  # the cell whose formation curve is stored as a series
    operations: Mapping[tuple[str, str], Operation]  # (step, code of an item it made or passed) -> operation
    dry_room: str


@dataclass(frozen=True)
class Defect:
    coated: str
    coated_from_m: float
    coated_to_m: float
    calendered: str
    values: int  # mass-loading values out of limits
    cells: list[str]  # the cells whose upstream measurements include them


@dataclass
class DemoMeasurements:
    counts: dict[str, int] = field(default_factory=dict)  # kind of data -> rows
    flagged: dict[str, int] = field(default_factory=dict)  # kind of data -> rows out of range or limits
    defect: Defect | None = None
    curve_cell: str = ""
    curve_points: int = 0


# The catalog codes recorded here (the formation curve's parameter aside).
CODES = (
    "mass_loading", "coating_thickness", "electrode_thickness_calendered",
    "am_particle_size_d10", "am_particle_size_d50", "am_particle_size_d90", "am_specific_surface_area",
    "current_collector_thickness", "electrolyte_density", "electrolyte_viscosity",
    "slurry_viscosity", "solid_content", "slurry_density", "adhesion_strength", "calendered_adhesion",
    "porosity", "electrode_density", "residual_moisture",
    "dry_room_dew_point", "dry_room_h2o", "dry_room_temperature",
    "stack_weight", "stacking_offset", "weld_resistance",
    "formation_charge_capacity", "formation_discharge_capacity", "formation_coulombic_efficiency",
    "formation_internal_resistance", "formation_cell_thickness_change", "gas_volume",
    "ocv_drop", "k_value", "eol_ocv", "eol_dcir", "eol_capacity",
)  # fmt: skip


@dataclass(frozen=True)
class How:
    """Where a value comes from: online or offline, the instrument, the method."""

    source: str
    instrument: str
    method: str = ""


BETA_GAUGE = How(Source.ONLINE, "beta-gauge-1", "beta transmission, traversing head, mean of a 0.5 m bin")
COATER_CALIPER = How(Source.ONLINE, "laser-caliper-2", "laser triangulation, total minus foil, one side")
CALENDER_CALIPER = How(Source.ONLINE, "laser-caliper-3", "laser caliper, both sides and foil")
PSD = How(Source.OFFLINE, "laser-diffraction-1", "laser diffraction, wet dispersion")
BET = How(Source.OFFLINE, "bet-1", "N2 adsorption, BET 5-point")
MICROMETER = How(Source.OFFLINE, "micrometer-2", "contact micrometer, 5 points across the width")
DENSITY_METER = How(Source.OFFLINE, "density-meter-1", "oscillating U-tube, 25 degC, in the glovebox")
VISCOMETER = How(Source.OFFLINE, "viscometer-1", "rolling-ball viscometer, 25 degC")
RHEOMETER = How(Source.OFFLINE, "rheometer-1", "rotational rheometer, plate-plate, 25 degC, at 10 1/s")
MOISTURE_BALANCE = How(Source.OFFLINE, "moisture-analyser-1", "drying balance, 160 degC")
PYCNOMETER = How(Source.OFFLINE, "pycnometer-1", "metal pycnometer, 100 ml")
PEEL = How(Source.OFFLINE, "peel-tester-1", "90-degree peel, 25 mm tape, sample from the roll end")
DISCS = How(Source.OFFLINE, "balance-2", "punched discs: mass and thickness")
KARL_FISCHER = How(Source.OFFLINE, "karl-fischer-1", "coulometric Karl Fischer, oven 170 degC")
DEW_POINT = How(Source.ONLINE, "dp-sensor-DR1-01")
H2O_SENSOR = How(Source.ONLINE, "h2o-sensor-DR1-02")
THERMOMETER = How(Source.ONLINE, "t-sensor-DR1-03")
STACK_BALANCE = How(Source.ONLINE, "balance-STK-01")
STACK_CAMERA = How(Source.ONLINE, "camera-STK-01", "largest cathode-to-anode edge offset, top camera")
WELD_METER = How(Source.ONLINE, "milliohm-meter-WELD-01", "four-wire, tab to current-collector bundle")
THICKNESS_GAUGE = How(Source.OFFLINE, "thickness-gauge-1", "plate gauge at 1 kPa, before and after formation")
ARCHIMEDES = How(Source.OFFLINE, "archimedes-balance-1", "cell volume before and after formation")
OCV_SCANNER = How(Source.ONLINE, "ocv-scanner-FORM-01", "OCV at the start and end of aging")
EOL_TESTER = How(Source.ONLINE, "eol-tester-EOL-01")


class _Rows:
    """Measurement rows of one kind of data, in canonical units and flagged, written at once."""

    def __init__(self, actor: Actor, parameters: dict[str, Parameter], limits: LimitBook) -> None:
        self.actor = actor
        self.limits = limits
        self.user = actor_user(actor)
        self.parameters = parameters
        self.linears: dict[tuple[str, str], Linear] = {}
        self.rows: list[Measurement] = []

    def add(
        self,
        code: str,
        value: float,
        unit: str,
        at: datetime,
        how: How,
        *,
        item: Item | None = None,
        operation: Operation | None = None,
        room: str = "",
        position_m: float | None = None,
        uncertainty: float | None = None,
    ) -> Measurement:
        parameter = self.parameters[code]
        linear = self.linears.get((code, unit))
        if linear is None:
            linear = self.linears[(code, unit)] = linear_to_canonical(unit, parameter)
        canonical = linear(value)
        row = Measurement(
            parameter=parameter,
            item=item,
            operation=operation,
            station_id=operation.station_id if operation is not None else None,
            room=room,
            position_m=position_m,
            measured_at=at,
            source=how.source,
            instrument=how.instrument,
            method=how.method,
            uncertainty=abs(linear.scale) * uncertainty if uncertainty is not None else None,
            value=canonical,
            sent_value=value,
            sent_unit=unit,
            out_of_range=out_of_range(parameter, [canonical]),
            out_of_limits=self.limits.check(parameter.pk, item.pk if item is not None else None, [canonical]),
            created_by=self.user,
        )
        self.rows.append(row)
        return row

    def write(self, kind: str, result: DemoMeasurements) -> None:
        """One bulk INSERT and one audit event for the rows of one kind of data."""
        rows, self.rows = self.rows, []
        Measurement.objects.bulk_create(rows, batch_size=2000)
        flagged = sum(m.out_of_range or m.out_of_limits is True for m in rows)
        per_parameter = Counter(m.parameter.code for m in rows)
        result.counts[kind] = len(rows)
        result.flagged[kind] = flagged
        audit_record(
            actor=self.actor,
            action="measurement.bulk",
            entity="measurement",
            entity_id=f"load_demo:{kind}",
            after={
                "count": len(rows),
                "out_of_range": sum(m.out_of_range for m in rows),
                "out_of_limits": sum(m.out_of_limits is True for m in rows),
                "parameters": dict(sorted(per_parameter.items())),
            },
        )


def demo_measurements_record(*, actor: Actor, line: LineMade) -> DemoMeasurements:
    """Record everything the demo line measured; call it inside load_demo's transaction."""
    parameters = {p.code: p for p in Parameter.objects.filter(code__in=CODES)}
    missing = sorted(set(CODES) - set(parameters))
    if missing:
        raise RuntimeError(f"The parameter catalog lacks {', '.join(missing)}; run `manage.py load_catalog`.")
    rng = random.Random(SEED)
    _limits_set(actor, line)
    # Every item of the line, scoped once (the demo database holds only the demo line).
    limits = limit_book(None, Item.objects.values_list("pk", flat=True))
    rows = _Rows(actor, parameters, limits)
    result = DemoMeasurements()

    dip: list[Measurement] = []
    for electrode in line.electrodes:
        dip += _profiles(rows, rng, electrode, line.operations)
    rows.write("online profiles", result)
    for electrode in line.electrodes:
        _lab(rows, rng, electrode, line.operations)
    _electrolyte(rows, line.electrolyte)
    rows.write("lab", result)
    _dry_room(rows, rng, line.dry_room)
    rows.write("dry room", result)
    _stacks(rows, rng, line)
    _cells(rows, rng, line)
    rows.write("stacks and cells", result)
    result.curve_cell, result.curve_points = _formation_curve(actor, rng, line)
    result.counts["formation curve (series)"] = 1
    result.counts["formation cycler export (file)"] = 1
    result.defect = _defect(line, [m for m in dip if m.out_of_limits])
    return result


def _limits_set(actor: Actor, line: LineMade) -> None:
    """The demo product's specification limits: mass loading per polarity around its recipe's
    target, and the capacity the cells must reach (flag only)."""
    for electrode in line.electrodes:
        target = electrode.mass_loading_mg_cm2
        limit_set(
            actor=actor,
            parameter="mass_loading",
            polarity=electrode.polarity,
            product=DEMO_PRODUCT,
            target=target,
            lower=round(target * (1 - MASS_LOADING_TOLERANCE), 4),
            upper=round(target * (1 + MASS_LOADING_TOLERANCE), 4),
            unit="mg/cm**2",
        )
    for code, (lower, upper, unit) in SPECS.items():
        limit_set(actor=actor, parameter=code, product=DEMO_PRODUCT, lower=lower, upper=upper, unit=unit)


def demo_measurements_report(measured: DemoMeasurements) -> list[str]:
    """The lines load_demo prints about the measurements: counts by kind, the curve, the defect."""
    machine = Measurement.objects.filter(item__isnull=True, operation__isnull=False).count()
    kinds = {"machine parameters (from the operations)": machine, **measured.counts}
    lines = [f"Measurements: {sum(kinds.values())}."]
    for kind, n in kinds.items():
        flagged = measured.flagged.get(kind, 0)
        lines.append(f"  {kind:<42} {n:>6}" + (f" ({flagged} out of range or limits)" if flagged else ""))
    lines.append(f"Formation voltage curve (a series of {measured.curve_points} points): cell {measured.curve_cell}.")
    defect = measured.defect
    if defect is None or not defect.cells:
        return lines
    first = defect.cells[0]
    return [
        *lines,
        f"Defect: mass-loading dip on cathode coated roll {defect.coated} at {defect.coated_from_m:g}-"
        f"{defect.coated_to_m:g} m ({defect.values} values out of limits), calendered into metres "
        f"{DIP_CALENDERED_M[0]:g}-{DIP_CALENDERED_M[1]:g} of {defect.calendered} and both its lanes.",
        f"  It is inside cells {', '.join(defect.cells)}. See it upstream of one:",
        '  curl -H "Authorization: Token $TOKEN" '
        f'"http://127.0.0.1:8000/api/measurements/?item={first}&upstream=true&parameter=mass_loading"',
    ]


# --- online profiles ----------------------------------------------------------------------------


def _profiles(
    rows: _Rows, rng: random.Random, made: ElectrodeMade, operations: Mapping[tuple[str, str], Operation]
) -> list[Measurement]:
    """Beta gauge and laser caliper behind the dryer, laser caliper behind the calender. Returns the
    cathode's mass-loading rows on and around the dip."""
    spec = ELECTRODES[made.polarity]
    coated, calendered = made.coated, made.calendered
    length, cal_length = float(coated.length_m or 0), float(calendered.length_m or 0)
    target = made.mass_loading_mg_cm2
    phase, slope = rng.uniform(0, 2 * math.pi), rng.uniform(-0.004, 0.004)
    dip = _dip_on_coated(made) if made.polarity == "cathode" else None

    def loading(p: float) -> float:
        """The mass loading at metre p of the coated roll: start-up overshoot, a slow wave and
        drift (slurry settling in the die), and the dip."""
        wave = 0.004 * math.sin(2 * math.pi * p / 157 + phase)
        value = target * (1 + 0.018 * math.exp(-p / 1.5) + wave + slope * p / length)
        return value * (1 - DIP_DEPTH * _dip_shape(p, *dip)) if dip is not None else value

    coating = operations[("coating", coated.code)]
    on_dip: list[Measurement] = []
    for p in _bins(length):
        at, true = _along(coating, p / length), loading(p)
        ml = round(true * (1 + rng.gauss(0, 0.006)), 3)
        row = rows.add(
            "mass_loading", ml, "mg/cm**2", at, BETA_GAUGE, item=coated, operation=coating, position_m=p,
            uncertainty=0.05,
        )  # fmt: skip
        if dip is not None and dip[0] - DIP_TAPER_M <= p <= dip[1] + DIP_TAPER_M:
            on_dip.append(row)
        thickness = round(spec.coating_um(true) + rng.gauss(0, 0.5), 2)
        rows.add(
            "coating_thickness", thickness, "µm", at, COATER_CALIPER, item=coated, operation=coating, position_m=p,
            uncertainty=0.5,
        )  # fmt: skip

    # Metre x of the calendered roll is metre p of the coated roll, through the lineage (the
    # calender unwinds the coated roll last metre first and stretches 500 m into 520 m).
    calendering = operations[("calendering", calendered.code)]
    first, last = (_upstream_point(calendered, x, coated.code) for x in (0.0, cal_length))
    for x in _bins(cal_length):
        p = first + (last - first) * x / cal_length
        # Less material under the same gap compacts less: the thickness follows the loading weakly.
        thickness = round(spec.calendered_um(target) * (loading(p) / target) ** 0.4 + rng.gauss(0, 0.6), 2)
        rows.add(
            "electrode_thickness_calendered", thickness, "µm", _along(calendering, x / cal_length),
            CALENDER_CALIPER, item=calendered, operation=calendering, position_m=x, uncertainty=0.5,
        )  # fmt: skip
    return on_dip


def _bins(length: float) -> list[float]:
    """Centres of the half-metre bins of a roll."""
    return [round((j + 0.5) * PROFILE_STEP_M, 6) for j in range(int(round(length / PROFILE_STEP_M)))]


def _along(operation: Operation, fraction: float) -> datetime:
    assert operation.ended_at is not None
    return operation.started_at + (operation.ended_at - operation.started_at) * fraction


def _upstream_point(item: Item, x: float, ancestor: str) -> float:
    """Metre x of `item` on `ancestor`, through the lineage's position map."""
    for stretch in position_map(item=item, from_m=x, to_m=x):
        if stretch.code == ancestor and stretch.from_m is not None:
            return stretch.from_m
    raise RuntimeError(f"Metre {x:g} of {item.code} does not come from {ancestor}.")


def _dip_on_coated(made: ElectrodeMade) -> tuple[float, float]:
    low, high = sorted(_upstream_point(made.calendered, x, made.coated.code) for x in DIP_CALENDERED_M)
    return low, high


def _dip_shape(p: float, low: float, high: float) -> float:
    """1 on [low, high], falling to 0 over DIP_TAPER_M either side (a cosine edge)."""
    if low <= p <= high:
        return 1.0
    distance = low - p if p < low else p - high
    return 0.0 if distance >= DIP_TAPER_M else 0.5 * (1 + math.cos(math.pi * distance / DIP_TAPER_M))


def _defect(line: LineMade, flagged: list[Measurement]) -> Defect | None:
    """Which cells hold the out-of-limits stretch: walk down from it, then keep the candidates whose
    upstream measurements include a flagged value (a sheet between two bins holds none)."""
    if not flagged:
        return None
    cathode = next(e for e in line.electrodes if e.polarity == "cathode")
    positions = [float(m.position_m or 0) for m in flagged]
    below = position_track(item=cathode.coated, from_m=min(positions), to_m=max(positions))
    candidates = Item.objects.filter(code__in=[s.code for s in below if s.kind == "cell"]).order_by("code")
    cells = [
        cell.code
        for cell in candidates
        if any(v.measurement.out_of_limits for v in measurements_upstream(item=cell, parameter="mass_loading"))
    ]
    return Defect(
        coated=cathode.coated.code,
        coated_from_m=min(positions),
        coated_to_m=max(positions),
        calendered=cathode.calendered.code,
        values=len(flagged),
        cells=cells,
    )


# --- offline lab values ---------------------------------------------------------------------------


def _lab(rows: _Rows, rng: random.Random, made: ElectrodeMade, operations: Mapping[tuple[str, str], Operation]) -> None:
    """Goods-receipt checks of the lots, the slurry after mixing, peel tests and discs from the
    rolls, Karl Fischer of each lane after post-drying."""
    spec = ELECTRODES[made.polarity]

    def vary(value: float, relative: float, digits: int) -> float:
        return round(value * (1 + rng.gauss(0, relative)), digits)

    lot, foil = made.active_lot, made.foil
    received = lot.created_at + timedelta(hours=3)
    for code, d in (("d10", spec.d10_um), ("d50", spec.d50_um), ("d90", spec.d90_um)):
        rows.add(f"am_particle_size_{code}", vary(d, 0.01, 2), "µm", received, PSD, item=lot)
    rows.add("am_specific_surface_area", vary(spec.bet_m2_g, 0.02, 3), "m**2/g", received, BET, item=lot)
    at = foil.created_at + timedelta(hours=4)
    rows.add("current_collector_thickness", vary(spec.foil_um, 0.005, 2), "µm", at, MICROMETER, item=foil)

    slurry = made.slurry
    sampled = _end(operations[("mixing", slurry.code)]) + timedelta(minutes=20)
    rows.add("slurry_viscosity", vary(spec.viscosity_pa_s, 0.03, 2), "Pa*s", sampled, RHEOMETER, item=slurry)
    rows.add("slurry_density", vary(made.slurry_density_g_cm3, 0.005, 3), "g/cm**3", sampled, PYCNOMETER, item=slurry)
    solids = round(made.solid_content_pct + rng.gauss(0, 0.2), 2)
    at = sampled + timedelta(minutes=25)
    rows.add("solid_content", solids, "percent", at, MOISTURE_BALANCE, item=slurry, uncertainty=0.1)

    coated, calendered = made.coated, made.calendered
    at = _end(operations[("coating", coated.code)]) + timedelta(minutes=40)
    rows.add("adhesion_strength", vary(spec.peel_coated_n_m, 0.05, 1), "N/m", at, PEEL, item=coated)
    at = _end(operations[("calendering", calendered.code)]) + timedelta(minutes=30)
    porosity = spec.calendered_porosity * 100 + rng.gauss(0, 0.4)
    density = spec.solid_density_g_cm3 * (1 - porosity / 100)
    rows.add("porosity", round(porosity, 2), "percent", at, DISCS, item=calendered)
    rows.add("electrode_density", round(density, 3), "g/cm**3", at, DISCS, item=calendered)
    rows.add("calendered_adhesion", vary(spec.peel_calendered_n_m, 0.05, 1), "N/m", at, PEEL, item=calendered)
    for lane in made.lanes:
        at = _end(operations[("post_drying", lane.code)]) + timedelta(minutes=30)
        rows.add("residual_moisture", vary(spec.moisture_ppm, 0.08, 0), "ppm", at, KARL_FISCHER, item=lane)


def _electrolyte(rows: _Rows, drum: Item) -> None:
    received = drum.created_at + timedelta(hours=5)
    rows.add("electrolyte_density", 1.205, "g/cm**3", received, DENSITY_METER, item=drum)
    rows.add("electrolyte_viscosity", 3.9, "mPa*s", received + timedelta(minutes=30), VISCOMETER, item=drum)


def _end(operation: Operation) -> datetime:
    assert operation.ended_at is not None
    return operation.ended_at


# --- the dry room ---------------------------------------------------------------------------------


def _dry_room(rows: _Rows, rng: random.Random, room: str) -> None:
    """Every 15 minutes from the first operation in the room to the end of the last: dew point
    about -45 degC with a daily swing and a bump at each shift change (doors, people)."""
    span = Operation.objects.filter(station__room=room).aggregate(first=Min("started_at"), last=Max("ended_at"))
    first, last = span["first"], span["last"]
    if first is None or last is None:
        return
    at = first.replace(minute=first.minute - first.minute % 15, second=0, microsecond=0)
    phase = rng.uniform(0, 2 * math.pi)
    while at <= last:
        hours = at.hour + at.minute / 60
        since_shift = min((hours - shift) % 24 for shift in (6, 14, 22))
        swing = 1.0 * math.sin(2 * math.pi * hours / 24 + phase)
        dew_point = -45.0 + swing + 2.5 * math.exp(-since_shift / 0.5) + rng.gauss(0, 0.2)
        water = _ppmv(dew_point) * (1 + rng.gauss(0, 0.01))
        temperature = 21.0 + 0.4 * math.sin(2 * math.pi * (hours - 9) / 24) + rng.gauss(0, 0.1)
        rows.add("dry_room_dew_point", round(dew_point, 2), "degC", at, DEW_POINT, room=room)
        rows.add("dry_room_h2o", round(water, 1), "ppm", at, H2O_SENSOR, room=room)
        rows.add("dry_room_temperature", round(temperature, 2), "degC", at, THERMOMETER, room=room)
        at += DRY_ROOM_EVERY


def _ppmv(dew_point_c: float) -> float:
    """Water content of air at 1013.25 hPa for a frost point (Magnus formula over ice)."""
    vapour_hpa = 6.112 * math.exp(22.46 * dew_point_c / (272.62 + dew_point_c))
    return vapour_hpa / 1013.25 * 1e6


# --- stacks and cells -----------------------------------------------------------------------------


def _stacks(rows: _Rows, rng: random.Random, line: LineMade) -> None:
    for stack, welded in zip(line.stacks, line.welded, strict=True):
        stacking = line.operations[("stacking", stack.code)]
        at = _end(stacking)
        weight, offset = round(56.2 + rng.gauss(0, 0.25), 2), round(abs(rng.gauss(45, 20)), 1)
        rows.add("stack_weight", weight, "g", at, STACK_BALANCE, item=stack, operation=stacking)
        rows.add("stacking_offset", offset, "µm", at, STACK_CAMERA, item=stack, operation=stacking)
        welding = line.operations[("tab_welding", welded.code)]
        resistance = round(0.11 + abs(rng.gauss(0, 0.015)), 3)
        rows.add("weld_resistance", resistance, "mohm", _end(welding), WELD_METER, item=welded, operation=welding)


def _cells(rows: _Rows, rng: random.Random, line: LineMade) -> None:
    """Formation, degassing, aging and end-of-line values of every cell; the rejects lack capacity."""
    rejects = set(line.rejects)
    for cell in line.cells:
        bad = cell.code in rejects
        formation = line.operations[("formation", cell.code)]
        degassing = line.operations[("degassing", cell.code)]
        aging = line.operations[("aging", cell.code)]
        eol = line.operations[("eol_test", cell.code)]
        discharge = rng.gauss(4.37, 0.02) if bad else rng.gauss(4.63, 0.02)
        efficiency = rng.gauss(86.4, 0.3) if bad else rng.gauss(88.2, 0.3)
        k_value = rng.gauss(1.6, 0.2) if bad else rng.gauss(1.05, 0.12)
        cycler = _cycler(formation)
        formed = _end(formation)
        for code, value, unit in (
            ("formation_charge_capacity", round(discharge / efficiency * 100, 3), "A*h"),
            ("formation_discharge_capacity", round(discharge, 3), "A*h"),
            ("formation_coulombic_efficiency", round(efficiency, 2), "percent"),
            ("formation_internal_resistance", round(rng.gauss(17.5 if bad else 16.4, 0.4), 2), "mohm"),
        ):
            rows.add(code, value, unit, formed, cycler, item=cell, operation=formation)
        swelling = round(abs(rng.gauss(0.28, 0.04)), 3)
        rows.add("formation_cell_thickness_change", swelling, "mm", formed, THICKNESS_GAUGE, item=cell)
        gas = round(abs(rng.gauss(3.4, 0.35)), 2)
        rows.add("gas_volume", gas, "ml", degassing.started_at, ARCHIMEDES, item=cell, operation=degassing)
        aged = _end(aging)
        drop = k_value * (aged - aging.started_at).total_seconds() / 86400 + rng.gauss(0, 0.1)
        rows.add("k_value", round(k_value, 3), "mV/day", aged, OCV_SCANNER, item=cell, operation=aging)
        rows.add("ocv_drop", round(drop, 2), "mV", aged, OCV_SCANNER, item=cell, operation=aging)
        tested = _end(eol)
        for code, value, unit in (
            ("eol_ocv", round(3.652 - drop / 1000 + rng.gauss(0, 0.001), 4), "V"),
            ("eol_dcir", round(rng.gauss(18.6 if bad else 17.2, 0.4), 2), "mohm"),
            ("eol_capacity", round(discharge * 0.975 + rng.gauss(0, 0.008), 3), "A*h"),
        ):
            rows.add(code, value, unit, tested, EOL_TESTER, item=cell, operation=eol)


def _cycler(formation: Operation) -> How:
    return How(Source.ONLINE, f"cycler-FORM-01/{formation.parameters['channel']['value']}")


def _formation_curve(actor: Actor, rng: random.Random, line: LineMade) -> tuple[str, int]:
    """The cycler's voltage record of one cell as a series: first charge at 0.1C to 4.2 V with a
    CV tail to C/20, rest, discharge at 0.2C to 2.8 V, rest, charge at 0.2C to 30 % for aging."""
    if not Parameter.objects.filter(code=CURVE_PARAMETER).exists():
        parameter_create(
            actor=actor,
            code=CURVE_PARAMETER,
            name="Cell voltage during formation (cycler record)",
            category="PP",
            unit="V",
            step="formation",
            online=True,
            techniques=["cell cycler"],
            source="not in paper; added by load_demo for the formation voltage curve",
        )
    cell = line.curve_cell
    formation = line.operations[("formation", cell.code)]
    charged, discharged = 5.25, 4.63  # Ah: 88 % coulombic efficiency
    resistance = 0.0165  # ohm
    one_c = NOMINAL_CAPACITY_AH  # A
    times: list[int] = []
    volts: list[float] = []
    amps: list[float] = []  # positive when charging, as the Battery Data Format counts
    cycles: list[int] = []
    t, dt, cycle = 0, 60, 1

    def sample(voltage: float, amperes: float = 0.0) -> None:
        nonlocal t
        times.append(t)
        volts.append(round(voltage + rng.gauss(0, 0.0005), 4))
        amps.append(round(amperes, 4))
        cycles.append(cycle)
        t += dt

    q, current = 0.0, 0.1 * one_c  # first charge: CC at 0.1C to 4.2 V ...
    while (voltage := _interpolate(_FIRST_CHARGE, q / charged) + current * resistance + 0.03) < 4.2:
        sample(voltage, current)
        q += current * dt / 3600
    tau = (charged - q) / current * 3600  # ... then CV at 4.2 V until the current falls to C/20
    while current > 0.05 * one_c:
        sample(4.2, current)
        current *= math.exp(-dt / tau)
    for k in range(30):  # rest
        sample(4.2 - 0.045 * (1 - math.exp(-k * dt / 600)))
    q, current = 0.0, 0.2 * one_c  # discharge at 0.2C to 2.8 V
    while (voltage := _interpolate(_OCV, 1 - q / discharged) - current * resistance - 0.02) > 2.8:
        sample(voltage, -current)
        q += current * dt / 3600
    for k in range(30):  # rest
        sample(2.8 + 0.42 * (1 - math.exp(-k * dt / 900)))
    q, cycle = 0.0, 2  # to 30 % state of charge for aging
    while q < 0.3 * discharged:
        sample(_interpolate(_OCV, q / discharged) + current * resistance + 0.02, current)
        q += current * dt / 3600
    # The cycler's record, once as a series and once as the file it exports (Arbin CSV), which
    # becomes the cell's cycling table in exports.
    record = MeasurementInput(
        parameter=CURVE_PARAMETER,
        item=cell.code,
        operation=formation.pk,
        measured_at=formation.started_at,
        source=Source.ONLINE,
        instrument=_cycler(formation).instrument,
        method="CC 0.1C to 4.2 V, CV to C/20; CC 0.2C to 2.8 V; CC 0.2C to 30 % SOC",
    )
    series = {"x": times, "y": volts, "x_unit": "s", "x_kind": "time", "y_unit": "V"}
    measurement_record(actor=actor, data=replace(record, series=series))
    rows = ["Test_Time(s),Current(A),Voltage(V),Cycle_Index"]
    rows += [f"{x},{a},{v},{c}" for x, a, v, c in zip(times, amps, volts, cycles, strict=True)]
    csv_file = SimpleUploadedFile("formation.csv", "\n".join(rows).encode(), content_type="text/csv")
    measurement_record(actor=actor, data=replace(record, method="cycler export, Arbin CSV"), file=csv_file)
    return cell.code, len(times)


def _interpolate(table: Sequence[tuple[float, float]], x: float) -> float:
    xs = [point[0] for point in table]
    x = min(max(x, xs[0]), xs[-1])
    i = max(1, bisect.bisect_left(xs, x))
    (x0, y0), (x1, y1) = table[i - 1], table[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
