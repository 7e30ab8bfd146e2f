"""A value against the limits that apply to its subjects (`limits_check`), and the holds a value
outside a limit places ("on_violation": "hold").

A value with a position holds the stretch [position - LIMIT_HOLD_WINDOW_M, position +
LIMIT_HOLD_WINDOW_M] of its item (clipped to the item; the windows of one item and limit that
overlap are merged into one hold), with everything made from that stretch; a value without one
holds the whole item and what was made from it. The window (settings.LIMIT_HOLD_WINDOW_M,
default 0.5 m) is about the spacing of an online gauge's values, so one bad value holds the
metre it stands for. Measurements build on traceability, so the holds are placed from here
through traceability.holds, inside the transaction that records the values.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from audit.services import Actor
from lots.models import Item
from traceability.holds import HoldResult, hold_place
from traceability.models import Operation

from .models import OnViolation, SpecificationLimit
from .selectors_limits import LimitBook, limit_text

DEFAULT_HOLD_WINDOW_M = 0.5


def hold_window_m() -> float:
    return float(getattr(settings, "LIMIT_HOLD_WINDOW_M", DEFAULT_HOLD_WINDOW_M))


@dataclass(frozen=True)
class Violation:
    """A value outside a limit whose on_violation is "hold"."""

    limit: SpecificationLimit
    item_id: int
    value: float  # canonical unit; for a series, its worst point
    position_m: float | None


def limit_subjects(item: Item | None, operation: Operation | None) -> list[int]:
    """The items a value's limits are looked up for: its item, else what its operation made."""
    if item is not None:
        return [item.pk]
    if operation is not None:
        return list(operation.outputs.order_by("pk").values_list("pk", flat=True))  # type: ignore[attr-defined]
    return []


def limits_check(
    book: LimitBook | None,
    parameter_id: int,
    subjects: Sequence[int],
    points: Sequence[float],
    position: float | None,
) -> tuple[bool | None, list[Violation]]:
    """out_of_limits of a value about `subjects` (None: no limit applies to any), and the holds due.
    A value of an operation with several outputs is checked against each output's limit."""
    if book is None or not book:
        return None, []
    flags: list[bool] = []
    violations = []
    candidates: Sequence[int | None] = subjects or [None]
    for item_id in candidates:
        limit = book.limit(parameter_id, item_id)
        if limit is None:
            continue
        outside = [v for v in points if limit.excludes(v)]
        flags.append(bool(outside))
        if outside and item_id is not None and limit.on_violation == OnViolation.HOLD:
            worst = max(outside, key=lambda v: abs(v - (limit.target if limit.target is not None else v)))
            violations.append(Violation(limit=limit, item_id=item_id, value=worst, position_m=position))
    return (any(flags) if flags else None), violations


def _worst(limit: SpecificationLimit, violations: Sequence[Violation]) -> Violation:
    def distance(v: Violation) -> float:
        return max((limit.lower - v.value) if limit.lower is not None else 0.0, 0.0) + max(
            (v.value - limit.upper) if limit.upper is not None else 0.0, 0.0
        )

    return max(violations, key=distance)


def _reason(limit: SpecificationLimit, violations: Sequence[Violation]) -> str:
    worst = _worst(limit, violations)
    where = f" at {worst.position_m:g} m" if worst.position_m is not None else ""
    many = f" ({len(violations)} values outside, worst shown)" if len(violations) > 1 else ""
    return (
        f"Out of specification: {limit.parameter.code} {worst.value:g} {limit.parameter.unit}{where} "
        f"is outside {limit_text(limit)}{many}."
    )


def _stretches(violations: list[Violation], length: float, window: float) -> list[tuple[float, float, list[Violation]]]:
    """Overlapping windows around positioned values merged, clipped to [0, length]."""
    merged: list[tuple[float, float, list[Violation]]] = []
    for v in sorted(violations, key=lambda v: v.position_m or 0.0):
        position = v.position_m or 0.0
        lo, hi = max(0.0, position - window), min(length, position + window)
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi), [*merged[-1][2], v])
        else:
            merged.append((lo, hi, [v]))
    return merged


def limit_holds_place(*, actor: Actor, violations: Sequence[Violation], from_station: str = "") -> list[HoldResult]:
    """One hold per item and limit (per merged stretch for positioned values); one query for the items."""
    if not violations:
        return []
    groups: dict[tuple[int, int], list[Violation]] = defaultdict(list)
    for v in violations:
        groups[(v.item_id, v.limit.pk)].append(v)
    items = Item.objects.in_bulk({v.item_id for v in violations})
    window = hold_window_m()
    results = []
    for (item_id, _limit_pk), group in sorted(groups.items()):
        item, limit = items[item_id], group[0].limit
        positioned = [v for v in group if v.position_m is not None]
        whole = [v for v in group if v.position_m is None]
        if whole or item.length_m is None:
            results.append(
                hold_place(
                    actor=actor, reason=_reason(limit, group), item=item, downstream=True, from_station=from_station
                )
            )
            continue
        for lo, hi, stretch in _stretches(positioned, float(item.length_m), window):
            results.append(
                hold_place(
                    actor=actor,
                    reason=_reason(limit, stretch),
                    item=item,
                    from_m=lo,
                    to_m=hi,
                    downstream=True,
                    from_station=from_station,
                )
            )
    return results
