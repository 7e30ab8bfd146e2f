"""The demo line's tables, read from demo/data/: stations, lots, recipes, constants, step parameters."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .readers import read_csv, read_toml


@dataclass(frozen=True)
class StationSpec:
    code: str
    name: str
    steps: list[str]
    room: str


@dataclass(frozen=True)
class LotSpec:
    key: str
    kind: str
    quantity: float
    unit: str
    supplier_lot: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ElectrodeRecipe:
    """One polarity's path from lots to sheets (demo/data/recipes.toml)."""

    polarity: str
    lots: dict[str, tuple[float, str]]  # lot key -> (quantity, unit) into the mixer
    slurry_kg: float
    solid_content_pct: float
    slurry_density_g_cm3: float
    foil: str
    coated_m: float
    slurry_for_coating_kg: float
    mass_loading_mg_cm2: float
    calendered_m: float
    lane_width_mm: float
    sheets_per_lane: int
    sheet_length_m: float
    sheet_pitch_m: float  # sheet plus the gap the notcher cuts away
    burr_sheets: dict[int, tuple[int, ...]]  # lane -> sheet indices rejected at cutting


@dataclass(frozen=True)
class ShortRoll:
    """A shorter roll from the same recipe: its lengths and the slurry it takes."""

    coated_m: float
    slurry_for_coating_kg: float
    calendered_m: float


@dataclass(frozen=True)
class LaneHold:
    """A hold on a slit lane, or on metres of it (from_m, to_m)."""

    polarity: str
    lane: int
    reason: str
    from_m: float | None = None
    to_m: float | None = None


def _stations() -> tuple[StationSpec, ...]:
    return tuple(
        StationSpec(code=r["code"], name=r["name"], steps=r["steps"].split(), room=r["room"])
        for r in read_csv("stations.csv")
    )


def _lots() -> tuple[LotSpec, ...]:
    return tuple(LotSpec(key=key, **spec) for key, spec in read_toml("lots.toml").items())


def _recipe(polarity: str) -> ElectrodeRecipe:
    table = dict(read_toml("recipes.toml")[polarity])
    lots = {key: (q, unit) for key, (q, unit) in table.pop("lots").items()}
    burrs = {int(lane): tuple(sheets) for lane, sheets in table.pop("burr_sheets").items()}
    return ElectrodeRecipe(polarity=polarity, lots=lots, burr_sheets=burrs, **table)


_LINE = read_toml("line.toml")

STATIONS = _stations()
LOTS = _lots()
LOT_KINDS = {spec.key: spec.kind for spec in LOTS}
CATHODE = _recipe("cathode")
ANODE = _recipe("anode")
WAITING_CATHODE = ShortRoll(**read_toml("recipes.toml")["waiting_cathode"])

LINE_START: datetime = _LINE["line_start"]
MARKER_STATION: str = _LINE["marker_station"]
ELECTRODE_HALL: str = _LINE["electrode_hall"]
DRY_ROOM: str = _LINE["dry_room"]
FORMATION_HALL: str = _LINE["formation_hall"]
DEMO_PRODUCT: str = _LINE["product"]
NOMINAL_CAPACITY_AH: float = _LINE["nominal_capacity_ah"]
RECIPE_VERSION: str = _LINE["recipe_version"]
CELLS: int = _LINE["cells"]
CATHODES_PER_STACK: int = _LINE["cathodes_per_stack"]
ANODES_PER_STACK: int = _LINE["anodes_per_stack"]
EOL_REJECTS: tuple[int, ...] = tuple(_LINE["eol_rejects"])
ELECTROLYTE_ML: float = _LINE["electrolyte_ml"]
COATING_SPEED_M_MIN: float = _LINE["coating_speed_m_min"]
SEPARATOR_PER_STACK_M: float = _LINE["separator_per_stack_m"]
POUCH_PER_CELL_M: float = _LINE["pouch_per_cell_m"]
SLITTING_TRIM_M: float = _LINE["slitting_trim_m"]
HELD_LANE = LaneHold(**_LINE["held_lane"])
HELD_STRETCH = LaneHold(**_LINE["held_stretch"])
RUNNING_CALENDERING: dict[str, Any] = _LINE["running_calendering"]  # demo.line_running


def param(value: float | str, unit: str | None = None) -> dict[str, Any]:
    """One machine parameter in the shape operations store."""
    return {"value": value} if unit is None else {"value": value, "unit": unit}


def step_parameters(step: str, polarity: str | None = None, **computed: float | str) -> dict[str, Any]:
    """The machine parameters of `step` (demo/data/steps.toml) in the file's order; those the file
    leaves to the line come from `computed`."""
    table: dict[str, dict[str, Any]] = read_toml("steps.toml")[step]
    unknown = set(computed) - set(table)
    if unknown:
        raise KeyError(f"steps.toml [{step}] has no {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for code, spec in table.items():
        if "value" in spec:
            value = spec["value"]
        elif polarity is not None and polarity in spec:
            value = spec[polarity]
        elif code in computed:
            value = computed[code]
        else:
            raise KeyError(f"steps.toml [{step}] {code}: no value for polarity {polarity!r} and none computed")
        out[code] = param(value, spec.get("unit"))
    return out
