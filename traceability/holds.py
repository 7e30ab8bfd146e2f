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
from lots.services import item_status_set

from .models import Hold, HoldItem, LineageEdge, Operation, OperationInput
from .selectors import MAX_DEPTH, position_down_cte
from .services import EPSILON, station_get

# Table and column names from the models, so the SQL follows them.
_ITEM = Item._meta.db_table
_ITEM_STATUS = Item._meta.get_field("status").column
_ITEM_PRODUCED_BY = Item._meta.get_field("produced_by").column
_T = {
    "item": _ITEM,
    "status": _ITEM_STATUS,
    "produced_by": _ITEM_PRODUCED_BY,
    "hold": Hold._meta.db_table,
    "hold_item": HoldItem._meta.db_table,
    "edge": LineageEdge._meta.db_table,
    "operation": Operation._meta.db_table,
    "input": OperationInput._meta.db_table,
}

# {walk} defines a CTE `walk(item_id, ...)` of everything to catch: the held item, or every item
# an operation at the station produced or consumed in the window, then (with downstream)
# everything made from them; or, for a stretch of a roll, the descendants that hold that stretch
# (not the roll itself: the rest of it stays usable, and operations check its held metres).
# Caught: items that still exist physically (active, already on hold, shipped). An item already
# on hold keeps the status it had before its first hold, so releasing either hold restores it.
_CATCH_SQL = """
INSERT INTO {hold_item} (hold_id, item_id, previous_status)
{{walk}}
SELECT DISTINCT %(hold)s, i.id,
    CASE WHEN i.{status} = %(on_hold)s THEN COALESCE((
        SELECT MIN(hi.previous_status) FROM {hold_item} hi
        JOIN {hold} h ON h.id = hi.hold_id
        WHERE hi.item_id = i.id AND h.released_at IS NULL
    ), %(active)s) ELSE i.{status} END
FROM walk d JOIN {item} i ON i.id = d.item_id
WHERE i.{status} IN (%(active)s, %(on_hold)s, %(shipped)s){{root}}
""".format(**_T)
_STATUSES = {"active": ItemStatus.ACTIVE, "on_hold": ItemStatus.ON_HOLD, "shipped": ItemStatus.SHIPPED}

_WALK_FROM_SEED = """
WITH RECURSIVE seed(item_id) AS (
    {{seed}}
), walk(item_id, depth) AS (
    SELECT item_id, 0 FROM seed
    UNION
    SELECT e.child_id, d.depth + 1
    FROM walk d JOIN {edge} e ON e.parent_id = d.item_id
    WHERE %(downstream)s AND d.depth < %(max_depth)s
)""".format(**_T)

_SEED_ITEM = "SELECT CAST(%(item)s AS BIGINT)"
# An open operation (no ended_at) is still running: a window after its start catches what it
# makes and takes, as a value sent by station and time then finds it (runs.py).
_SEED_WINDOW = """
    SELECT i.id FROM {item} i JOIN {operation} o ON o.id = i.{produced_by}
    WHERE o.station_id = %(station)s AND o.started_at < %(to)s
      AND (o.ended_at IS NULL OR o.ended_at >= %(from)s)
    UNION
    SELECT oi.item_id FROM {input} oi
    JOIN {operation} o ON o.id = oi.operation_id
    WHERE o.station_id = %(station)s AND o.started_at < %(to)s
      AND (o.ended_at IS NULL OR o.ended_at >= %(from)s)
""".format(**_T)


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
_LOCK_SQL = f"SELECT id FROM {_ITEM} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
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


@dataclass
class _Catch:
    """A new hold and the walk (SQL, parameters) of what it catches; `root` leaves out the seed."""

    hold: Hold
    walk: str
    params: dict[str, Any]
    root: str = ""


def _catch_item(item: Item, from_m: object, to_m: object, *, reason: str, downstream: bool, user: Any) -> _Catch:
    lo, hi = _stretch_check(item, from_m, to_m, downstream)
    hold = Hold.objects.create(reason=reason, item=item, from_m=lo, to_m=hi, downstream=downstream, created_by=user)
    params: dict[str, Any] = {"downstream": downstream, "max_depth": MAX_DEPTH, "item": item.pk}
    if lo is None:
        return _Catch(hold, _WALK_FROM_SEED.format(seed=_SEED_ITEM), params)
    params.update({"lo": lo, "hi": hi})
    return _Catch(hold, position_down_cte(half_open=True), params, root=" AND d.depth > 0")


def _catch_window(
    station: str | None,
    window_from: datetime | None,
    window_to: datetime | None,
    *,
    reason: str,
    downstream: bool,
    user: Any,
) -> _Catch:
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
    # Raw SQL gets no field adaptation: on SQLite an aware datetime would be compared as text
    # with its offset ("...+01:00") against stored naive UTC; adapt like the ORM does.
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "downstream": downstream,
        "max_depth": MAX_DEPTH,
        "station": station_obj.pk,
        "from": adapt(window_from),
        "to": adapt(window_to),
    }
    return _Catch(hold, _WALK_FROM_SEED.format(seed=_SEED_WINDOW), params)


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
    if item is not None:
        catch = _catch_item(item, from_m, to_m, reason=reason, downstream=downstream, user=user)
        from_m, to_m = catch.hold.from_m, catch.hold.to_m
    else:
        if from_m is not None or to_m is not None:
            raise InvalidInput("A stretch is held on an item.", field="from_m" if from_m is not None else "to_m")
        catch = _catch_window(station, window_from, window_to, reason=reason, downstream=downstream, user=user)
    hold, walk, params, root = catch.hold, catch.walk, catch.params, catch.root
    params["hold"] = hold.pk
    _lock_caught(walk, params)
    with connection.cursor() as cursor:
        cursor.execute(_CATCH_SQL.format(walk=walk, root=root), params | _STATUSES)
    # Those already on hold stay so; the others are active or shipped, which may be held.
    caught_ids = HoldItem.objects.filter(hold=hold).values("item_id")
    item_status_set(caught_ids, ItemStatus.ON_HOLD, actor=actor, reason=reason, hold=hold)
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


def _statuses_restore(hold: Hold, *, actor: Actor, reason: str) -> None:
    """Restore what each item was, unless another unreleased hold still holds it: one
    item_status_set per status restored (active, shipped)."""
    others = HoldItem.objects.filter(hold__released_at__isnull=True).exclude(hold=hold)
    restorable = HoldItem.objects.filter(hold=hold, item__status=ItemStatus.ON_HOLD).exclude(
        item_id__in=others.values("item_id")
    )
    for previous in restorable.order_by().values_list("previous_status", flat=True).distinct():
        item_ids = restorable.filter(previous_status=previous).values("item_id")
        item_status_set(item_ids, previous, actor=actor, reason=reason, hold=hold)


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
    _statuses_restore(hold, actor=actor, reason=reason)
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
