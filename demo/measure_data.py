"""The demo's measuring tables, read from demo/data/: electrodes, instruments, curves, limits."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from measurements.models import Source

from .readers import csv_floats, read_csv, read_toml


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


@dataclass(frozen=True)
class How:
    """Where a value comes from: online or offline, the instrument, the method."""

    source: str
    instrument: str
    method: str = ""


@dataclass(frozen=True)
class Spec:
    """A product limit (flag only)."""

    lower: float | None = None
    upper: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class Normal:
    mean: float
    sd: float


@dataclass(frozen=True)
class Profiles:
    """How the profiles along the rolls vary (demo/data/measurements.toml [profiles])."""

    overshoot: float
    overshoot_m: float
    wave: float
    wave_period_m: float
    drift: float
    loading_noise: float
    coating_noise_um: float
    calendered_noise_um: float
    compaction_exponent: float


@dataclass(frozen=True)
class CellStats:
    """The distributions a cell's data is drawn from, for good cells or for the rejects."""

    discharge_ah: Normal
    efficiency_pct: Normal
    k_value_mv_day: Normal
    formation_resistance_mohm: Normal
    eol_dcir_mohm: Normal


@dataclass(frozen=True)
class StackStats:
    weight_g: Normal
    offset_um: Normal
    weld_floor_mohm: float
    weld_spread_mohm: float


@dataclass(frozen=True)
class Electrolyte:
    density_g_cm3: float
    viscosity_mpa_s: float


def _cell_stats(table: dict[str, list[float]]) -> CellStats:
    return CellStats(**{name: Normal(mean, sd) for name, (mean, sd) in table.items()})


def _instruments() -> dict[str, How]:
    sources = {Source.ONLINE.value: Source.ONLINE, Source.OFFLINE.value: Source.OFFLINE}
    return {
        row["name"]: How(source=sources[row["source"]], instrument=row["instrument"], method=row["method"])
        for row in read_csv("instruments.csv")
    }


_MEASURING = read_toml("measurements.toml")

ELECTRODES: dict[str, ElectrodeSpec] = {
    polarity: ElectrodeSpec(**values) for polarity, values in read_toml("electrodes.toml").items()
}
INSTRUMENTS = _instruments()
# Open-circuit voltage of the NMC811/graphite cell against state of charge (fraction).
OCV = csv_floats("ocv.csv", "soc", "voltage")
# The first charge of a fresh cell: from about 0.5 V through the SEI plateau, then the OCV shifted
# by the lithium the SEI takes (fraction of the first-charge capacity).
FIRST_CHARGE = csv_floats("first_charge.csv", "charge", "voltage")

SEED: int = _MEASURING["seed"]
PROFILE_STEP_M: float = _MEASURING["profile_step_m"]
DRY_ROOM_EVERY = timedelta(minutes=_MEASURING["dry_room_every_min"])
DIP_CALENDERED_M: tuple[float, float] = tuple(_MEASURING["dip_calendered_m"])  # type: ignore[assignment]
DIP_DEPTH: float = _MEASURING["dip_depth"]
DIP_TAPER_M: float = _MEASURING["dip_taper_m"]
MASS_LOADING_TOLERANCE: float = _MEASURING["mass_loading_tolerance"]
CODES: tuple[str, ...] = tuple(_MEASURING["codes"])
SPECS: dict[str, Spec] = {code: Spec(**limits) for code, limits in _MEASURING["specs"].items()}
CURVE_PARAMETER: dict[str, Any] = _MEASURING["curve_parameter"]
PROFILES = Profiles(**_MEASURING["profiles"])
GOOD_CELLS = _cell_stats(_MEASURING["cells"]["good"])
REJECTED_CELLS = _cell_stats(_MEASURING["cells"]["rejected"])
_STACKS = _MEASURING["stacks"]
STACKS = StackStats(
    weight_g=Normal(*_STACKS["weight_g"]),
    offset_um=Normal(*_STACKS["offset_um"]),
    weld_floor_mohm=_STACKS["weld_floor_mohm"],
    weld_spread_mohm=_STACKS["weld_spread_mohm"],
)
ELECTROLYTE = Electrolyte(**_MEASURING["electrolyte"])
