"""Where a value lies: a position on an item checked, or the item in process at a station and
the position on it, for one value (services.measurement_record) and for bulk rows (ingest_station).

A value assigned to a run by station and time holds the run (FOR SHARE) until its ingest
commits: finishing the run (traceability.runs.operation_finish, FOR UPDATE) waits for it and
then sees it (run_end_check), and a value whose run a finish ended meanwhile is assigned again.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Max

from core.errors import Conflict, ErrorCode, InvalidInput
from core.units import ureg
from core.values import number
from lots.models import Item
from traceability.models import Operation, Station

from .models import Measurement
from .selectors_in_process import InProcess, items_in_process


def position_check(item: Item | None, position_m: object, *, field: str = "position_m") -> float | None:
    if position_m is None:
        return None
    position = number(position_m, field=field)
    if position < 0:
        raise InvalidInput("position_m cannot be negative.", field=field, code=ErrorCode.BAD_POSITION)
    if item is not None:
        if item.length_m is None:
            raise InvalidInput(
                f"{item.code} has no length; position_m does not apply.", field=field, code=ErrorCode.BAD_POSITION
            )
        if position > item.length_m + 1e-9:
            raise InvalidInput(
                f"position_m {position:g} is beyond the {item.length_m:g} m of {item.code}.",
                field=field,
                code=ErrorCode.BAD_POSITION,
            )
    return position


@dataclass(frozen=True)
class Assignment:
    item: Item
    operation: Operation
    position_m: float | None
    how: str  # "encoder", "line_speed" or "whole"


def in_process_error(found: InProcess, *, station: str, at: datetime) -> Conflict | None:
    """Why nothing can be assigned by station and time (None when an item was found)."""
    if found.reason == "no_operation":
        return Conflict(
            f"No operation ran at {station} at {at.isoformat()}.",
            field="measured_at",
            code=ErrorCode.NO_OPERATION_AT_STATION,
        )
    if found.reason == "several_items":
        return Conflict(
            f"Operation {found.operation_id} at {station} has several items in process; send the item.",
            field="item",
            code=ErrorCode.AMBIGUOUS_ITEM,
        )
    if found.reason:
        return Conflict(
            f"No item was in process at {station} at {at.isoformat()}; send the item.",
            field="item",
            code=ErrorCode.AMBIGUOUS_ITEM,
        )
    return None


# Re-reads when finishes keep ending the runs found: one is usual, more means a station whose
# runs are finished as fast as values arrive.
HOLD_ATTEMPTS = 3


def runs_hold(operation_ids: Iterable[int]) -> dict[int, datetime | None]:
    """Each operation's `ended_at`, read under a share lock (PostgreSQL) kept until the caller's
    transaction ends: a finish waits for the values being stored, and this read waits for a
    finish under way and sees its end. One query whatever the number. SQLite has one writer at
    a time and no row locks: the read only."""
    ids = sorted(set(operation_ids))
    if not ids:
        return {}
    if connection.vendor != "postgresql":
        return dict(Operation.objects.filter(pk__in=ids).values_list("pk", "ended_at"))
    table = connection.ops.quote_name(Operation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, ended_at FROM {table} WHERE id = ANY(%s) ORDER BY id FOR SHARE", [ids])
        return dict(cursor.fetchall())


def items_in_process_held(keys: list[tuple[int, datetime, str | None]]) -> list[InProcess]:
    """selectors_in_process.items_in_process, with the operations given an item held by runs_hold; a key
    whose operation had been ended before its time (a finish committed after the first read)
    is read again, and what it finds held in turn. Inside the ingest's transaction."""
    found = items_in_process(keys)
    for _ in range(HOLD_ATTEMPTS):
        ends = runs_hold(f.operation_id for f in found if f.operation_id is not None and f.item_id is not None)
        stale = [n for n, f in enumerate(found) if _ended_before(ends.get(f.operation_id or 0), keys[n][1])]
        if not stale:
            return found
        for n, again in zip(stale, items_in_process([keys[n] for n in stale]), strict=True):
            found[n] = again
    raise Conflict(
        "The runs at the station were finished while the values were assigned; send them again.",
        field="measured_at",
        code=ErrorCode.NO_OPERATION_AT_STATION,
    )


def _ended_before(ended_at: datetime | None, at: datetime) -> bool:
    return ended_at is not None and ended_at < at


def item_in_process(*, station: Station, at: datetime, step: str | None = None) -> tuple[Operation, Item]:
    """The item a station was working on at `at` (the rule: selectors_in_process.items_in_process), its
    operation held until the value is committed (items_in_process_held)."""
    [found] = items_in_process_held([(station.pk, at, step)])
    error = in_process_error(found, station=station.code, at=at)
    if error is not None:
        raise error
    operation = Operation.objects.get(pk=found.operation_id or 0)
    return operation, Item.objects.select_related("kind").get(pk=found.item_id or 0)


def line_speed_m_per_s(operation: Operation) -> float | None:
    """The operation's line speed, from the first machine parameter that is a velocity."""
    numbers = []
    for entry in (operation.parameters or {}).values():
        unit = entry.get("unit") if isinstance(entry, dict) else None
        value = entry.get("value") if isinstance(entry, dict) else None
        if unit and isinstance(unit, str) and isinstance(value, int | float):
            numbers.append((unit, value))
    return _line_speed(tuple(numbers))


@functools.lru_cache(maxsize=4096)
def _line_speed(numbers: tuple[tuple[str, int | float], ...]) -> float | None:
    """Cached: a bulk upload assigns thousands of values to the same operation, and pint parses
    each unit anew."""
    velocity = ureg.Unit("m/s").dimensionality
    for unit, value in numbers:
        try:
            if ureg.Unit(unit).dimensionality == velocity:
                return float(ureg.Quantity(value, unit).to("m/s").magnitude)
        except Exception:  # a free-form unit in an old operation: not a speed
            continue
    return None


def station_assign(*, station: Station, at: datetime, position_m: float | None, step: str | None = None) -> Assignment:
    operation, item = item_in_process(station=station, at=at, step=step)
    return assigned_position(operation, item, at, position_m)


def assigned_position(operation: Operation, item: Item, at: datetime, position_m: object) -> Assignment:
    """Where on `item` a value at `at` lies: the sent position, else the line speed's, else none."""
    if position_m is not None:
        return Assignment(item, operation, position_check(item, position_m), "encoder")
    speed = line_speed_m_per_s(operation)
    if item.length_m is not None and speed is not None:
        position = speed * (at - operation.started_at).total_seconds()
        if position > item.length_m + 1e-9:
            raise InvalidInput(
                f"At {speed * 60:g} m/min, {at.isoformat()} is {position:g} m into {item.code}, beyond its "
                f"{item.length_m:g} m.",
                field="measured_at",
                code=ErrorCode.BAD_POSITION,
            )
        return Assignment(item, operation, round(position, 6), "line_speed")
    return Assignment(item, operation, None, "whole")


def run_end_check(*, operation: Operation, ended_at: datetime) -> None:
    """An open run is finished no earlier than the last value its station sent into it: a value
    the run caught would otherwise lie after its end, assigned to a roll no longer in process.
    (Values sent about the operation from elsewhere, a lab's, are not bound by its run.)"""
    latest = Measurement.objects.filter(operation=operation, station_id=operation.station_id).aggregate(
        latest=Max("measured_at")
    )["latest"]
    if latest is not None and latest > ended_at:
        raise InvalidInput(
            f"ended_at is before the last value {operation.station.code} sent into the run "
            f"({latest.isoformat()}): a run ends after its values.",
            field="ended_at",
        )
