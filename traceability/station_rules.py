"""What a step at a station does with what the operator scans: which inputs it uses up, what it
usually makes, how lanes span a roll, which input scrap is charged to. The station page applies
these; the API takes them from the request (a client says what it consumes, the service records
what a step does not take)."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet

from core.errors import InvalidInput
from lots.models import Item, ItemKind, ItemLevel

from .models import Station
from .services import ScrapSpec, StretchSpec

# What a step usually makes, to pre-select on the form (the operator may pick another kind).
OUTPUT_KINDS = {
    "mixing": "slurry",
    "coating": "coated_roll",
    "calendering": "calendered_roll",
    "slitting": "slit_roll",
    "cutting": "electrode_sheet",
    "stacking": "stack",
    "winding": "jelly_roll",
    "packaging": "cell",
}
# Steps whose run the station page records at its start and finishes at its end, because the
# machine streams values through it (thickness gauges, oven thermocouples, mixer torque) that
# find the roll or batch being made by station and time: the continuous steps making one item.
RUNS_STREAM = {"mixing", "coating", "drying", "calendering"}
# Steps that cut a lane into counted pieces, each piece a stretch of the lane (its positions).
CUTS_INTO_PIECES = {"cutting"}


@dataclass(frozen=True)
class TakenInput:
    """An input as the station form holds it: its code and the unit it is counted in."""

    item: str
    unit: str


def step_consumes(kind: ItemKind, step: str) -> bool:
    """Whole rolls and single pieces are used up by a step that makes something; batches are
    taken in part; a step that makes nothing (formation, post-drying) lets its items pass. A lane
    at cutting gives a stretch per cut: used up only when the operator says so."""
    whole = kind.level == ItemLevel.INSTANCE or (kind.is_roll and step not in CUTS_INTO_PIECES)
    return whole and step in OUTPUT_KINDS


def run_streams(step: str) -> bool:
    """Whether the station page offers to start `step` as an open run (RUNS_STREAM)."""
    return step in RUNS_STREAM


def kinds_made(station: Station, chosen: str) -> QuerySet[ItemKind]:
    """The kinds the station's steps make (and the one chosen), not every kind of the line."""
    made = [OUTPUT_KINDS[s] for s in station.steps.values_list("code", flat=True) if s in OUTPUT_KINDS]
    return ItemKind.objects.filter(code__in=[*made, chosen]).order_by("gtin_item_reference")


def lane_made_from(codes: Sequence[str]) -> list[StretchSpec]:
    """Slitting: every lane runs the whole length of the roll it was cut from."""
    rolls = Item.objects.filter(code__in=list(codes), length_m__isnull=False).order_by("code")
    made_from = [StretchSpec(item=roll.code, from_m=0, to_m=roll.length_m) for roll in rolls]
    if not made_from:
        raise InvalidInput("Lanes are cut from a roll: scan the roll to slit first.", field="output-lanes")
    return made_from


def scrap_charged(inputs: Sequence[TakenInput], *, quantity: float | None, unit: str, reason: str) -> list[ScrapSpec]:
    """Scrap at a station is charged to the first input, in its unit unless another is given."""
    if not quantity:
        return []
    if not inputs:
        raise InvalidInput("Scrap is taken from an input: scan one first.", field="scrap-quantity")
    first = inputs[0]
    return [ScrapSpec(item=first.item, quantity=quantity, unit=unit or first.unit, reason=reason or "scrap")]


def cut_lane(step: str, codes: Sequence[str], kind: str) -> Item | None:
    """The lane that a cutting operation cuts into counted pieces (its one input, which has a
    length, and an output kind that is counted); None for any other operation."""
    if step not in CUTS_INTO_PIECES or len(codes) != 1 or not kind:
        return None
    lane = Item.objects.select_related("kind").filter(code=codes[0]).first()
    if lane is None or lane.length_m is None:
        return None
    return lane if ItemKind.objects.filter(code=kind, level=ItemLevel.INSTANCE).exists() else None
