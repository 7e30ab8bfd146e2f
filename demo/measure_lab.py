"""Offline lab values and the dry room's readings.

Lab: particle sizes and surface area of the active-material lots, foil thickness, electrolyte
density and viscosity, slurry viscosity, solid content and density, peel strength of the coated
and calendered rolls, porosity and density of the calendered rolls, residual moisture of each lane
after post-drying. Dry room: dew point, water content and temperature every 15 minutes while the
room works; they reach a cell through the operations it went through in that room.
"""

import math
import random
from collections.abc import Mapping
from datetime import timedelta

from django.db.models import Max, Min

from lots.models import Item
from traceability.models import Operation

from .measure_data import DRY_ROOM_EVERY, ELECTRODES, ELECTROLYTE, INSTRUMENTS
from .measure_rows import ElectrodeMade, MeasurementRows, end_of


def lab(
    rows: MeasurementRows, rng: random.Random, made: ElectrodeMade, operations: Mapping[tuple[str, str], Operation]
) -> None:
    """Goods-receipt checks of the lots, the slurry after mixing, peel tests and discs from the
    rolls, Karl Fischer of each lane after post-drying."""
    spec = ELECTRODES[made.polarity]

    def vary(value: float, relative: float, digits: int) -> float:
        return round(value * (1 + rng.gauss(0, relative)), digits)

    lot, foil = made.active_lot, made.foil
    received = lot.created_at + timedelta(hours=3)
    for code, d in (("d10", spec.d10_um), ("d50", spec.d50_um), ("d90", spec.d90_um)):
        rows.add(f"am_particle_size_{code}", vary(d, 0.01, 2), "µm", received, INSTRUMENTS["psd"], item=lot)
    rows.add("am_specific_surface_area", vary(spec.bet_m2_g, 0.02, 3), "m**2/g", received, INSTRUMENTS["bet"], item=lot)
    at = foil.created_at + timedelta(hours=4)
    rows.add(
        "current_collector_thickness", vary(spec.foil_um, 0.005, 2), "µm", at, INSTRUMENTS["micrometer"], item=foil
    )

    slurry = made.slurry
    sampled = end_of(operations[("mixing", slurry.code)]) + timedelta(minutes=20)
    rows.add(
        "slurry_viscosity", vary(spec.viscosity_pa_s, 0.03, 2), "Pa*s", sampled, INSTRUMENTS["rheometer"], item=slurry
    )
    rows.add(
        "slurry_density",
        vary(made.slurry_density_g_cm3, 0.005, 3),
        "g/cm**3",
        sampled,
        INSTRUMENTS["pycnometer"],
        item=slurry,
    )
    solids = round(made.solid_content_pct + rng.gauss(0, 0.2), 2)
    at = sampled + timedelta(minutes=25)
    rows.add("solid_content", solids, "percent", at, INSTRUMENTS["moisture_balance"], item=slurry, uncertainty=0.1)

    coated, calendered = made.coated, made.calendered
    at = end_of(operations[("coating", coated.code)]) + timedelta(minutes=40)
    rows.add("adhesion_strength", vary(spec.peel_coated_n_m, 0.05, 1), "N/m", at, INSTRUMENTS["peel"], item=coated)
    at = end_of(operations[("calendering", calendered.code)]) + timedelta(minutes=30)
    porosity = spec.calendered_porosity * 100 + rng.gauss(0, 0.4)
    density = spec.solid_density_g_cm3 * (1 - porosity / 100)
    rows.add("porosity", round(porosity, 2), "percent", at, INSTRUMENTS["discs"], item=calendered)
    rows.add("electrode_density", round(density, 3), "g/cm**3", at, INSTRUMENTS["discs"], item=calendered)
    rows.add(
        "calendered_adhesion", vary(spec.peel_calendered_n_m, 0.05, 1), "N/m", at, INSTRUMENTS["peel"], item=calendered
    )
    for lane in made.lanes:
        at = end_of(operations[("post_drying", lane.code)]) + timedelta(minutes=30)
        rows.add(
            "residual_moisture", vary(spec.moisture_ppm, 0.08, 0), "ppm", at, INSTRUMENTS["karl_fischer"], item=lane
        )


def electrolyte(rows: MeasurementRows, drum: Item) -> None:
    received = drum.created_at + timedelta(hours=5)
    rows.add(
        "electrolyte_density", ELECTROLYTE.density_g_cm3, "g/cm**3", received, INSTRUMENTS["density_meter"], item=drum
    )
    rows.add(
        "electrolyte_viscosity",
        ELECTROLYTE.viscosity_mpa_s,
        "mPa*s",
        received + timedelta(minutes=30),
        INSTRUMENTS["viscometer"],
        item=drum,
    )


# --- the dry room ---------------------------------------------------------------------------------


def dry_room(rows: MeasurementRows, rng: random.Random, room: str) -> None:
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
        rows.add("dry_room_dew_point", round(dew_point, 2), "degC", at, INSTRUMENTS["dew_point"], room=room)
        rows.add("dry_room_h2o", round(water, 1), "ppm", at, INSTRUMENTS["h2o_sensor"], room=room)
        rows.add("dry_room_temperature", round(temperature, 2), "degC", at, INSTRUMENTS["thermometer"], room=room)
        at += DRY_ROOM_EVERY


def _ppmv(dew_point_c: float) -> float:
    """Water content of air at 1013.25 hPa for a frost point (Magnus formula over ice)."""
    vapour_hpa = 6.112 * math.exp(22.46 * dew_point_c / (272.62 + dew_point_c))
    return vapour_hpa / 1013.25 * 1e6
