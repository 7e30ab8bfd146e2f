"""What a station was working on at a time (station-time assignment): the one rule for a single
value and for a bulk upload, one statement for a whole batch of (station, time, step)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from lots.models import Item
from traceability.models import PASSES_THROUGH, Operation, OperationInput

# Of the operations running at the station at the time (the latest RUNNING_LIMIT), those of the
# parameter's step first, then the latest started; the first with any item in process decides:
# its one output, else its one input passing through (consumed=false, nothing taken: a cell at
# formation). Two or more is ambiguous. One statement for a whole batch of (station, time, step).
RUNNING_LIMIT = 10
_IN_PROCESS = f"""
WITH keys (n, station_id, at, step) AS ({{values}}),
running AS (
    SELECT k.n, o.id AS operation_id, CASE WHEN o.step_id = k.step THEN 0 ELSE 1 END AS other_step,
           ROW_NUMBER() OVER (PARTITION BY k.n ORDER BY o.started_at DESC, o.id DESC) AS recency
    FROM keys k
    JOIN {Operation._meta.db_table} o ON o.station_id = k.station_id AND o.started_at <= k.at
        AND (o.ended_at IS NULL OR o.ended_at >= k.at)
),
ops AS (SELECT DISTINCT operation_id FROM running WHERE recency <= {{limit}}),
candidates AS (
    SELECT c.operation_id, c.item_id, c.passing,
           ROW_NUMBER() OVER (PARTITION BY c.operation_id, c.passing ORDER BY c.item_id) AS nth
    FROM (
        SELECT i.produced_by_id AS operation_id, i.id AS item_id, 0 AS passing
        FROM {Item._meta.db_table} i WHERE i.produced_by_id IN (SELECT operation_id FROM ops)
        UNION ALL
        SELECT r.operation_id, r.item_id, 1 AS passing
        FROM {OperationInput._meta.db_table} r
        WHERE r.operation_id IN (SELECT operation_id FROM ops) AND r.consumed = %s AND r.quantity = {PASSES_THROUGH}
    ) c
)
SELECT r.n, r.operation_id, c.item_id, c.passing
FROM running r LEFT JOIN candidates c ON c.operation_id = r.operation_id AND c.nth <= 2
WHERE r.recency <= {{limit}}
ORDER BY r.n, r.other_step, r.recency, c.passing
"""


@dataclass(frozen=True)
class InProcess:
    """What a station worked on at a time: `item_id` and `operation_id`, or why not:
    `reason` "no_operation" (nothing ran), "several_items" (of `operation_id`) or "no_item"."""

    operation_id: int | None = None
    item_id: int | None = None
    reason: str = ""


def _decide(rows: list[tuple[int, int | None, int | None]]) -> InProcess:
    """`rows` (operation, item, passing) in the order of preference."""
    by_operation: dict[int, tuple[list[int], list[int]]] = {}
    for operation_id, item_id, passing in rows:
        outputs, through = by_operation.setdefault(operation_id, ([], []))
        if item_id is not None:
            (through if passing else outputs).append(item_id)
    if not by_operation:
        return InProcess(reason="no_operation")
    for operation_id, (outputs, through) in by_operation.items():
        candidates = outputs or through
        if len(candidates) == 1:
            return InProcess(operation_id=operation_id, item_id=candidates[0])
        if candidates:
            return InProcess(operation_id=operation_id, reason="several_items")
    return InProcess(reason="no_item")


def _array_text(text: str | None) -> str:
    """One element of a PostgreSQL text array literal: NULL, or quoted with \\ and \" escaped."""
    if text is None:
        return "NULL"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _in_process_rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    if connection.vendor == "postgresql":
        import psycopg

        # psycopg's own cursor binds the key arrays on the server, in binary; Django's binds on
        # the client, spelling thousands of keys out as text.
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, binary=True)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def items_in_process(keys: list[tuple[int, datetime, str | None]]) -> list[InProcess]:
    """For each (station id, time, step or None) what the station was working on, in one query
    whatever the number of keys (the same rule for one measurement and for a bulk upload)."""
    if not keys:
        return []
    distinct = list(dict.fromkeys(keys))
    if connection.vendor == "postgresql":
        # Three arrays, not a VALUES row per key: the query text stays the same whatever the
        # number of keys (psycopg converts a query of 20,000 placeholders slowly, every time).
        # Each array goes as one text literal: psycopg's list dumper costs about 5 us a key.
        values = (
            "SELECT n - 1, s, t, p FROM unnest(%s::text::bigint[], %s::text::timestamptz[], %s::text::text[]) "
            "WITH ORDINALITY AS k (s, t, p, n)"
        )
        stations, times, steps = zip(*distinct, strict=True)
        params: list[Any] = [
            "{" + ",".join([str(int(station)) for station in stations]) + "}",
            "{" + ",".join([at.isoformat() for at in times]) + "}",
            "{" + ",".join([_array_text(step) for step in steps]) + "}",
        ]
    else:  # SQLite compares the stored text of the times
        adapt = connection.ops.adapt_datetimefield_value
        values = "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(distinct))
        params = [x for n, (station, at, step) in enumerate(distinct) for x in (n, station, adapt(at), step)]
    sql = _IN_PROCESS.format(values=values, limit=RUNNING_LIMIT)
    found: dict[int, list[tuple[int, int | None, int | None]]] = {n: [] for n in range(len(distinct))}
    for n, operation_id, item_id, passing in _in_process_rows(sql, [*params, False]):
        found[n].append((operation_id, item_id, passing))
    decided = {key: _decide(found[n]) for n, key in enumerate(distinct)}
    return [decided[key] for key in keys]
