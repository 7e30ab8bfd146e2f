"""Online profiles along the rolls, and the cathode's mass-loading defect.

Mass loading and dry coating thickness every 0.5 m of each coated roll, calendered thickness every
0.5 m of each calendered roll. Each value is the mean of one half-metre bin, placed at the bin's
centre (0.25 m, 0.75 m, ...), so that no value sits on the edge of a sheet cut from the roll. One
defect: a mass-loading dip on the cathode coated roll, on the stretch that became metres 8.0-8.5 of
the calendered roll (and of both its lanes), which the notcher cuts into sheets of a few cells.
"""

import math
import random
from collections.abc import Mapping

from lots.models import Item
from measurements.models import Measurement
from measurements.selectors import measurements_upstream
from traceability.models import Operation
from traceability.selectors import position_track, roll_map

from .measure_data import DIP_CALENDERED_M, DIP_DEPTH, DIP_TAPER_M, ELECTRODES, INSTRUMENTS, PROFILE_STEP_M, PROFILES
from .measure_rows import Defect, ElectrodeMade, LineMade, MeasurementRows, along


def profiles(
    rows: MeasurementRows, rng: random.Random, made: ElectrodeMade, operations: Mapping[tuple[str, str], Operation]
) -> list[Measurement]:
    """Beta gauge and laser caliper behind the dryer, laser caliper behind the calender. Returns the
    cathode's mass-loading rows on and around the dip."""
    spec = ELECTRODES[made.polarity]
    coated, calendered = made.coated, made.calendered
    length, cal_length = float(coated.length_m or 0), float(calendered.length_m or 0)
    target = made.mass_loading_mg_cm2
    phase, slope = rng.uniform(0, 2 * math.pi), rng.uniform(-PROFILES.drift, PROFILES.drift)
    dip = _dip_on_coated(made) if made.polarity == "cathode" else None

    def loading(p: float) -> float:
        """The mass loading at metre p of the coated roll: start-up overshoot, a slow wave and
        drift (slurry settling in the die), and the dip."""
        wave = PROFILES.wave * math.sin(2 * math.pi * p / PROFILES.wave_period_m + phase)
        value = target * (1 + PROFILES.overshoot * math.exp(-p / PROFILES.overshoot_m) + wave + slope * p / length)
        return value * (1 - DIP_DEPTH * _dip_shape(p, *dip)) if dip is not None else value

    coating = operations[("coating", coated.code)]
    on_dip: list[Measurement] = []
    for p in _bins(length):
        at, true = along(coating, p / length), loading(p)
        ml = round(true * (1 + rng.gauss(0, PROFILES.loading_noise)), 3)
        row = rows.add(
            "mass_loading", ml, "mg/cm**2", at, INSTRUMENTS["beta_gauge"], item=coated, operation=coating, position_m=p,
            uncertainty=0.05,
        )  # fmt: skip
        if dip is not None and dip[0] - DIP_TAPER_M <= p <= dip[1] + DIP_TAPER_M:
            on_dip.append(row)
        thickness = round(spec.coating_um(true) + rng.gauss(0, PROFILES.coating_noise_um), 2)
        rows.add(
            "coating_thickness", thickness, "µm", at, INSTRUMENTS["coater_caliper"], item=coated, operation=coating,
            position_m=p, uncertainty=0.5,
        )  # fmt: skip

    # Metre x of the calendered roll is metre p of the coated roll, through the lineage (the
    # calender unwinds the coated roll last metre first and stretches 500 m into 520 m).
    calendering = operations[("calendering", calendered.code)]
    first, last = (_upstream_point(calendered, x, coated.code) for x in (0.0, cal_length))
    for x in _bins(cal_length):
        p = first + (last - first) * x / cal_length
        # Less material under the same gap compacts less: the thickness follows the loading weakly.
        compacted = spec.calendered_um(target) * (loading(p) / target) ** PROFILES.compaction_exponent
        thickness = round(compacted + rng.gauss(0, PROFILES.calendered_noise_um), 2)
        rows.add(
            "electrode_thickness_calendered", thickness, "µm", along(calendering, x / cal_length),
            INSTRUMENTS["calender_caliper"], item=calendered, operation=calendering, position_m=x, uncertainty=0.5,
        )  # fmt: skip
    return on_dip


def _bins(length: float) -> list[float]:
    """Centres of the half-metre bins of a roll."""
    return [round((j + 0.5) * PROFILE_STEP_M, 6) for j in range(int(round(length / PROFILE_STEP_M)))]


def _upstream_point(item: Item, x: float, ancestor: str) -> float:
    """Metre x of `item` on `ancestor`, through the roll map."""
    for stretch in roll_map(item=item, from_m=x, to_m=x):
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


def defect(line: LineMade, flagged: list[Measurement]) -> Defect | None:
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
