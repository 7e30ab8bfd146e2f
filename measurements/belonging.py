"""Which measurements belong to an item, and which version of a measurement is current: each
rule written once, as SQL fragments (tables named through their models) that the roll map
(`measurements.selectors`) and the wide dataset (`datasets.aggregation_sql`) compose.

A value belongs to an item when it is about the item (along a roll: inside the stretch of it
that went in; a value about the whole roll, with no position, belongs to every stretch), when it
is a machine value of an operation that made the item or that the item passed through (taken
with no quantity), or when it was measured in the room of such an operation's station while the
operation ran. The walk of items is aliased `w`, a measurement `m`, an operation `o`.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from lots.models import Item
from traceability.models import PASSES_THROUGH, Operation, OperationInput, Station

from .models import Measurement


def measurement_table() -> str:
    return Measurement._meta.db_table


def current_filter() -> Q:
    """A measurement's current version, for a queryset: nothing supersedes it."""
    return Q(superseded_by__isnull=True)


def current_sql(m: str = "m") -> str:
    """`current_filter` in SQL. "IS NOT NULL" changes nothing but lets PostgreSQL read the few
    corrections from the index rather than hash every measurement."""
    return (
        f"NOT EXISTS (SELECT 1 FROM {measurement_table()} n "
        f"WHERE n.supersedes_id = {m}.id AND n.supersedes_id IS NOT NULL)"
    )


def along_sql(item: str, lo: str, hi: str, m: str = "m") -> str:
    """A value about `item` at a position inside [lo, hi]."""
    return f"{m}.item_id = {item} AND {m}.position_m >= {lo} AND {m}.position_m <= {hi}"


def unplaced_sql(m: str = "m") -> str:
    """A value about its item as a whole (a lab density of a roll): it belongs to every stretch."""
    return f"{m}.position_m IS NULL"


def about_operation_sql(operations: str, m: str = "m") -> str:
    """A machine value of one of `operations` (an expression, or a subquery of ids), about no item."""
    return f"{m}.operation_id IN ({operations}) AND {m}.item_id IS NULL"


@dataclass(frozen=True, slots=True)
class Window:
    """When an operation ran, as SQL: from `start` to `end` (its start if it has not ended)."""

    start: str
    end: str


def operation_window(o: str = "o") -> Window:
    return Window(f"{o}.started_at", f"COALESCE({o}.ended_at, {o}.started_at)")


def in_room_during_sql(room: str, start: str, end: str, m: str = "m") -> str:
    """A value measured in `room` between `start` and `end`. `room <> ''` spelled out lets the
    planner use the partial index of rooms' values (it cannot infer it from a join's room); without
    it, a window over densely timed values read the whole time range through BRIN."""
    return f"{m}.room <> '' AND {m}.room = {room} AND {m}.measured_at >= {start} AND {m}.measured_at <= {end}"


def room_operations_join(operation: str, o: str = "o", s: str = "s") -> str:
    """Joins the operation `operation` names, as `o`, and its station `s`, when it is in a room."""
    return (
        f"JOIN {Operation._meta.db_table} {o} ON {o}.id = {operation}\n"
        f"    JOIN {Station._meta.db_table} {s} ON {s}.id = {o}.station_id AND {s}.room <> ''"
    )


def item_operations_sql(columns: str, group_by: str = "") -> str:
    """The operations whose values belong to the items of `walk w`: the one that made each, and
    those it passed through (an input taken with no quantity: a cell at formation). Selects
    `operation_id, {columns}`, grouped by the operation and `group_by` if given."""
    item, taken = Item._meta.db_table, OperationInput._meta.db_table
    made = "GROUP BY i.produced_by_id, " + group_by if group_by else ""
    passed = "GROUP BY oi.operation_id, " + group_by if group_by else ""
    return f"""SELECT i.produced_by_id AS operation_id, {columns}
    FROM walk w JOIN {item} i ON i.id = w.item_id
    WHERE i.produced_by_id IS NOT NULL
    {made}
    UNION
    SELECT oi.operation_id, {columns}
    FROM walk w JOIN {taken} oi ON oi.item_id = w.item_id AND oi.quantity = {PASSES_THROUGH}
    {passed}"""


def measurements_join(inside: str, *, fence: bool = False) -> str:
    """Joins the measurements `m` that satisfy `inside`, as a range scan per row of what comes
    before: on PostgreSQL a LATERAL subquery (`fence`: OFFSET 0 keeps the planner from
    flattening it back into a merge join of everything); SQLite plans it that way by itself."""
    if connection.vendor == "postgresql":
        offset = " OFFSET 0" if fence else ""
        return f"CROSS JOIN LATERAL (SELECT * FROM {measurement_table()} m WHERE {inside}{offset}) m"
    return f"JOIN {measurement_table()} m ON {inside}"
