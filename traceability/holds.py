"""Holds and recalls: set-based writes, one INSERT ... SELECT over a recursive walk."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.values import moment_check, number
from lots.models import Item, ItemStatus

from .models import Hold, HoldItem
from .selectors import MAX_DEPTH, position_down_cte
from .services import EPSILON, station_get

# {walk} defines a CTE `walk(item_id, ...)` of everything to catch: the held item, or every item
# an operation at the station produced or consumed in the window, then (with downstream)
# everything made from them; or, for a stretch of a roll, the descendants that hold that stretch
# (not the roll itself: the rest of it stays usable, and operations check its held metres).
# Caught: items that still exist physically (active, already on hold, shipped). An item already
# on hold keeps the status it had before its first hold, so releasing either hold restores it.
_CATCH_SQL = """
INSERT INTO traceability_holditem (hold_id, item_id, previous_status)
{walk}
SELECT DISTINCT %(hold)s, i.id,
    CASE WHEN i.status = %(on_hold)s THEN COALESCE((
        SELECT MIN(hi.previous_status) FROM traceability_holditem hi
        JOIN traceability_hold h ON h.id = hi.hold_id
        WHERE hi.item_id = i.id AND h.released_at IS NULL
    ), %(active)s) ELSE i.status END
FROM walk d JOIN lots_item i ON i.id = d.item_id
WHERE i.status IN (%(active)s, %(on_hold)s, %(shipped)s){root}
"""
_STATUSES = {"active": ItemStatus.ACTIVE, "on_hold": ItemStatus.ON_HOLD, "shipped": ItemStatus.SHIPPED}

_WALK_FROM_SEED = """
WITH RECURSIVE seed(item_id) AS (
    {seed}
), walk(item_id, depth) AS (
    SELECT item_id, 0 FROM seed
    UNION
    SELECT e.child_id, d.depth + 1
    FROM walk d JOIN traceability_lineageedge e ON e.parent_id = d.item_id
    WHERE %(downstream)s AND d.depth < %(max_depth)s
)"""

_SEED_ITEM = "SELECT CAST(%(item)s AS BIGINT)"
_SEED_WINDOW = """
    SELECT i.id FROM lots_item i JOIN traceability_operation o ON o.id = i.produced_by_id
    WHERE o.station_id = %(station)s AND o.started_at < %(to)s
      AND COALESCE(o.ended_at, o.started_at) >= %(from)s
    UNION
    SELECT oi.item_id FROM traceability_operationinput oi
    JOIN traceability_operation o ON o.id = oi.operation_id
    WHERE o.station_id = %(station)s AND o.started_at < %(to)s
      AND COALESCE(o.ended_at, o.started_at) >= %(from)s
"""

# Restore what each item was, unless another unreleased hold still holds it.
_RELEASE_SQL = """
UPDATE lots_item SET status = (
    SELECT hi.previous_status FROM traceability_holditem hi
    WHERE hi.hold_id = %(hold)s AND hi.item_id = lots_item.id
)
WHERE status = %(on_hold)s
  AND id IN (SELECT item_id FROM traceability_holditem WHERE hold_id = %(hold)s)
  AND NOT EXISTS (
    SELECT 1 FROM traceability_holditem other
    JOIN traceability_hold h ON h.id = other.hold_id
    WHERE other.item_id = lots_item.id AND other.hold_id <> %(hold)s AND h.released_at IS NULL
  )
"""


def _stretch_check(item: Item, from_m: object, to_m: object, downstream: bool) -> tuple[float | None, float | None]:
    """A stretch [from_m, to_m) of a roll: both or neither, finite, 0 <= from < to <= its length."""
    if from_m is None and to_m is None:
        return None, None
    if from_m is None:
        raise InvalidInput("Give from_m with to_m.", field="from_m", code=ErrorCode.BAD_POSITION)
    if to_m is None:
        raise InvalidInput("Give to_m with from_m.", field="to_m", code=ErrorCode.BAD_POSITION)
    lo = number(from_m, field="from_m")
    hi = number(to_m, field="to_m")
    if not downstream:
        raise InvalidInput("A stretch is held with everything made from it: set downstream.", field="downstream")
    if item.length_m is None:
        raise InvalidInput(
            f"{item.code} has no length; a stretch does not apply.", field="from_m", code=ErrorCode.BAD_POSITION
        )
    if lo < 0:
        raise InvalidInput("from_m cannot be negative.", field="from_m", code=ErrorCode.BAD_POSITION)
    if hi <= lo:
        raise InvalidInput("to_m must be greater than from_m.", field="to_m", code=ErrorCode.BAD_POSITION)
    if hi > item.length_m * (1 + EPSILON):
        raise InvalidInput(
            f"to_m {hi:g} is beyond the {item.length_m:g} m of {item.code}.",
            field="to_m",
            code=ErrorCode.BAD_POSITION,
        )
    return lo, hi


# Locks what a hold catches, in primary-key order like the inputs an operation locks, and with
# the lock an UPDATE takes anyway (FOR NO KEY UPDATE: it still lets rows reference them).
_LOCK_SQL = "SELECT id FROM lots_item WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
_ATTEMPTS = 5


class _OutOfOrder(Exception):
    """The walk found items to lock below ones already locked."""


def _walk_ids(walk: str, params: dict[str, Any]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(walk + " SELECT DISTINCT item_id FROM walk", params)
        return {row[0] for row in cursor.fetchall()}


def _lock_caught(walk: str, params: dict[str, Any]) -> None:
    """Lock everything the walk reaches, until a walk after the last lock finds nothing new.

    An operation locks its inputs and only then makes their children, so once every item the
    walk reached is locked no child of them can appear until we commit; operations that wait
    for those rows then read them on hold (409). An operation that held one of them while we
    waited has committed by the time we get the row, and as READ COMMITTED gives each statement
    a fresh snapshot, the next walk sees its outputs; we lock those in turn. Rows are always
    taken in ascending id, as operations take theirs, so the two never deadlock; when a later
    walk finds an item below one already locked (new outputs normally have the highest ids), the
    locks are let go with the savepoint and taken again in order. SQLite has one writer at a time.
    """
    if not connection.features.has_select_for_update:
        return
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                locked: set[int] = set()
                while new := _walk_ids(walk, params) - locked:
                    # The last attempt locks whatever it finds; PostgreSQL would break a deadlock.
                    if locked and min(new) < max(locked) and attempt < _ATTEMPTS - 1:
                        raise _OutOfOrder
                    cursor.execute(_LOCK_SQL, [sorted(new)])
                    locked |= new
                return
        except _OutOfOrder:
            continue


@dataclass
class HoldResult:
    hold: Hold
    items: list[str]


def hold_items(hold: Hold) -> list[str]:
    return list(HoldItem.objects.filter(hold=hold).order_by("item__code").values_list("item__code", flat=True))


@transaction.atomic
def hold_place(
    *,
    actor: Actor,
    reason: str,
    item: Item | None = None,
    station: str | None = None,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    from_m: object = None,
    to_m: object = None,
    downstream: bool = False,
    from_station: str = "",
) -> HoldResult:
    """Hold one item (with `downstream`, a recall of all made from it), only what holds metres
    [from_m, to_m) of it (a defect on a coated roll: the roll itself is not put on hold, its
    held metres are refused to operations), or contain a station's output and input over a
    time window."""
    user = actor_user(actor)
    if user is None:
        raise InvalidInput("A hold is placed by a signed-in user.", field="actor")
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.", field="reason")
    if (item is None) == (station is None):
        raise InvalidInput("Give either an item or a station with a window.", field="item")
    params: dict[str, Any] = {"downstream": downstream, "max_depth": MAX_DEPTH}
    root = ""
    if item is not None:
        from_m, to_m = _stretch_check(item, from_m, to_m, downstream)
        hold = Hold.objects.create(
            reason=reason, item=item, from_m=from_m, to_m=to_m, downstream=downstream, created_by=user
        )
        if from_m is None:
            walk = _WALK_FROM_SEED.format(seed=_SEED_ITEM)
        else:
            walk = position_down_cte(half_open=True)
            params.update({"lo": from_m, "hi": to_m})
            root = " AND d.depth > 0"
        params["item"] = item.pk
    else:
        if from_m is not None or to_m is not None:
            raise InvalidInput("A stretch is held on an item.", field="from_m" if from_m is not None else "to_m")
        station_obj = station_get(station)
        if window_from is None:
            raise InvalidInput("A window start is required.", field="from")
        if window_to is None:
            raise InvalidInput("A window end is required.", field="to")
        moment_check(window_from, field="from")
        moment_check(window_to, field="to")
        if window_to <= window_from:
            raise InvalidInput("The window ends before it starts.", field="to")
        hold = Hold.objects.create(
            reason=reason,
            station=station_obj,
            window_from=window_from,
            window_to=window_to,
            downstream=downstream,
            created_by=user,
        )
        walk = _WALK_FROM_SEED.format(seed=_SEED_WINDOW)
        # Raw SQL gets no field adaptation: on SQLite an aware datetime would be compared as text
        # with its offset ("...+01:00") against stored naive UTC; adapt like the ORM does.
        adapt = connection.ops.adapt_datetimefield_value
        params.update({"station": station_obj.pk, "from": adapt(window_from), "to": adapt(window_to)})
    params["hold"] = hold.pk
    _lock_caught(walk, params)
    with connection.cursor() as cursor:
        cursor.execute(_CATCH_SQL.format(walk=walk, root=root), params | _STATUSES)
    Item.objects.filter(
        status__in=[ItemStatus.ACTIVE, ItemStatus.SHIPPED], pk__in=HoldItem.objects.filter(hold=hold).values("item_id")
    ).update(status=ItemStatus.ON_HOLD)
    caught = hold_items(hold)
    audit_record(
        actor=actor,
        action="hold.place",
        entity="hold",
        entity_id=hold.pk,
        station=from_station,
        after={
            "reason": reason,
            "downstream": downstream,
            "item": item.code if item else None,
            "from_m": from_m,
            "to_m": to_m,
            "station": station,
            "items": caught,
        },
    )
    return HoldResult(hold=hold, items=caught)


@transaction.atomic
def hold_release(*, actor: Actor, hold_id: int, reason: str, from_station: str = "") -> HoldResult:
    # Locked so two engineers releasing the same hold cannot both restore statuses.
    hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise NotFound(f"No hold {hold_id}.")
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.", field="reason")
    if hold.released_at is not None:
        raise Conflict("This hold is already released.", code=ErrorCode.HOLD_RELEASED)
    hold.released_at = timezone.now()
    hold.released_by = actor_user(actor)
    hold.release_reason = reason
    hold.save(update_fields=["released_at", "released_by", "release_reason"])
    # Its items locked in id order first, as a hold and an operation take them.
    list(
        Item.objects.select_for_update(no_key=True)
        .filter(pk__in=HoldItem.objects.filter(hold=hold).values("item_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, {"hold": hold.pk, "on_hold": ItemStatus.ON_HOLD})
    caught = hold_items(hold)
    audit_record(
        actor=actor,
        action="hold.release",
        entity="hold",
        entity_id=hold.pk,
        station=from_station,
        before={"released": False},
        after={"released": True, "reason": reason, "items": caught},
    )
    return HoldResult(hold=hold, items=caught)
