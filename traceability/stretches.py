"""Stretch holds on the item itself: metres [from_m, to_m) of a roll are held, the rest is not.

A stretch hold does not put its item on hold (what holds those metres downstream is caught), so
an operation taking the item is checked here against the held metres of each of its inputs.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from core.errors import Conflict, ErrorCode
from lots.models import Item

from .models import Hold

if TYPE_CHECKING:
    from .plans import EdgePlan


def open_stretch_holds(item_ids: Iterable[int]) -> dict[int, list[Hold]]:
    """The unreleased stretch holds of these items, by item id, in one query."""
    found: dict[int, list[Hold]] = defaultdict(list)
    ids = list(item_ids)
    if not ids:
        return found
    for hold in Hold.objects.filter(item_id__in=ids, released_at__isnull=True, from_m__isnull=False).order_by("pk"):
        found[hold.item_id].append(hold)  # type: ignore[index]
    return found


def stretch_warnings(item: Item) -> list[str]:
    """What a scan of an item with held metres says; the item itself is not on hold."""
    return [
        f"{hold.stretch} on hold: {hold.reason} (hold {hold.pk})"
        for hold in open_stretch_holds([item.pk]).get(item.pk, [])
    ]


def _overlapping(holds: Sequence[Hold], lo: float, hi: float) -> Hold | None:
    # Half-open: [lo, hi) and [from_m, to_m) share metres only when each starts before the other ends.
    return next((h for h in holds if lo < h.to_m and h.from_m < hi), None)  # type: ignore[operator]


def _refuse(item: Item, hold: Hold, field: str, what: str) -> Conflict:
    return Conflict(
        f"{item.code} {hold.stretch} are on hold (hold {hold.pk}: {hold.reason}); {what}.",
        field=field,
        code=ErrorCode.STRETCH_ON_HOLD,
    )


def held_stretches_check(
    *,
    inputs: Sequence[tuple[str, Item, float]],
    outputs: Sequence[Sequence["EdgePlan"]],
) -> None:
    """Refuse (409) an operation that would take held metres of an input.

    `inputs`: (field, item, quantity taken) per input; `outputs`: per output, its edges (EdgePlan).
    An input that gives metres overlapping a held stretch, or gives itself whole (no stretch,
    or taken with no output naming its metres), is refused;
    metres outside every held stretch may be taken. Runs after the inputs are locked, so a hold
    committed meanwhile is seen.
    """
    held = open_stretch_holds(item.pk for _field, item, _taken in inputs)
    if not held:
        return
    for field, item, taken in inputs:
        holds = held.get(item.pk)
        if not holds:
            continue
        named = False
        for index, stretches in enumerate(outputs):
            for j, edge in enumerate(stretches):
                lo, hi = edge.parent_from_m, edge.parent_to_m
                if edge.parent.pk != item.pk:
                    continue
                named = True
                if lo is None or hi is None:
                    raise _refuse(item, holds[0], f"outputs[{index}].from", "the whole item cannot be taken")
                hit = _overlapping(holds, lo, hi)
                if hit is not None:
                    where = f"outputs[{index}].from[{j}]"
                    raise _refuse(item, hit, where, f"{lo:g}-{hi:g} m overlaps them")
        if not named and taken > 0:
            raise _refuse(item, holds[0], f"{field}.item", "it cannot be taken without naming metres outside them")
