"""The trace/track graph as JSON text built by PostgreSQL, for the API.

A lot's track holds ~33,000 nodes and ~60,000 edges: carrying 96,000 rows into Python, a
dataclass each, then orjson, cost as much again as the walk (issue 14). Here the same walk
(`selectors.walk_sql`'s CTE) ends in json_agg, and the body leaves the database as one text
value in the contract's shape. PostgreSQL only: other databases take `lineage_walk` + orjson.
"""

from typing import Any

import orjson
from psycopg.adapt import Loader

from core.routing import routed_connection as connection
from lots.models import Item

from .models import Operation
from .selectors import _EDGE_WALK, _NODE_WALK, MAX_DEPTH, Direction, lineage_walk

_ITEM = Item._meta.db_table
_OPERATION = Operation._meta.db_table


def json_number(column: str) -> str:
    """A nullable number as JSON text (PostgreSQL prints the shortest exact float)."""
    return f"COALESCE(CAST({column} AS TEXT), 'null')"


# Concatenated text, not json_build_object: a third faster on 93,000 objects. The nodes are
# joined to items once, their codes written as JSON once, and kept sorted as the body lists them
# (a sort of narrow rows, in memory: sorting the rendered text in the aggregate spilled 12 MB to
# disk). The aggregate reads the materialized rows in that order.
_NODES = f"""
nodes AS MATERIALIZED (
    SELECT n.item_id, n.depth, CAST(to_json(i.code) AS TEXT) AS code, i.kind_id, i.status
    FROM (SELECT item_id, MIN(depth) AS depth FROM walk GROUP BY item_id) n
    JOIN {_ITEM} i ON i.id = n.item_id
    ORDER BY n.depth, n.item_id
)
SELECT '{{{{"root":' || to_json(CAST(%(root)s AS TEXT)) || ',"direction":' || to_json(CAST(%(direction)s AS TEXT))
    || ',"nodes":[' || COALESCE((
        SELECT string_agg('{{{{"code":' || code || ',"kind":' || to_json(kind_id)
            || ',"status":' || to_json(status) || ',"depth":' || depth || '}}}}', ',')
        FROM nodes {{where}}), '')
    || '],"edges":[' || {{edges}} || ']}}}}'"""
# One row per edge, in no order (the contract gives none): the walk reaches an edge again at each
# depth it reaches the edge's near end, so only the crossing from that end's first depth is kept
# (a join on the nodes, which are there anyway, not a sort of 60,000 rows).
_EDGES = f"""COALESCE((
        SELECT string_agg('{{{{"parent":' || p.code || ',"child":' || c.code
            || ',"operation":' || e.operation_id || ',"step":' || o.step
            || ',"from_m":' || {json_number("e.p_from")} || ',"to_m":' || {json_number("e.p_to")}
            || ',"child_from_m":' || {json_number("e.c_from")} || ',"child_to_m":' || {json_number("e.c_to")}
            || ',"lane":' || {json_number("e.lane")} || ',"reversed":' || CASE WHEN e.rev THEN 'true' ELSE 'false' END
            || '}}}}', ',')
        FROM walk e
        JOIN nodes p ON p.item_id = e.{{parent}}
        JOIN nodes c ON c.item_id = e.{{child}}
        JOIN (SELECT id, CAST(to_json(step_id) AS TEXT) AS step FROM {_OPERATION}) o ON o.id = e.operation_id
        WHERE e.edge_id IS NOT NULL AND e.depth = {{near}}.depth + 1), '')"""


def graph_sql(direction: Direction, *, edges: bool, kinds: int = 0) -> str:
    here, nxt = ("child_id", "parent_id") if direction == "upstream" else ("parent_id", "child_id")
    walk = (_EDGE_WALK if edges else _NODE_WALK).format(here=here, next=nxt)
    where = ("WHERE kind_id IN (" + ", ".join(f"%(kind{k})s" for k in range(kinds)) + ")") if kinds else ""
    parent, child = ("item_id", "from_id") if direction == "upstream" else ("from_id", "item_id")
    near = "c" if direction == "upstream" else "p"  # the end the walk came from
    edge_json = _EDGES.format(parent=parent, child=child, near=near) if edges else "''"
    return walk + "," + _NODES.format(where=where, edges=edge_json)


class Utf8Bytes(Loader):
    """Text as the bytes PostgreSQL sent (UTF-8, the client encoding Django sets): a body of
    12 MB is decoded to str and encoded back otherwise, ~10 % of the request."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def fetch_text_bytes(cursor: Any, sql: str, params: dict[str, Any]) -> bytes:
    """The one text value `sql` selects, as bytes."""
    cursor.cursor.adapters.register_loader("text", Utf8Bytes)  # this cursor only
    cursor.execute(sql, params)
    (body,) = cursor.fetchone()
    return bytes(body)


def lineage_json(
    *,
    item: Item,
    direction: Direction,
    depth: int | None = None,
    kinds: set[str] | None = None,
    edges: bool = True,
) -> bytes:
    """`lineage_walk` as the API's JSON body, in one query: nodes by depth then id, edges by id.
    `kinds` filters the nodes (the edges are all kept)."""
    if connection.vendor != "postgresql":
        return orjson.dumps(lineage_walk(item=item, direction=direction, depth=depth, kinds=kinds, edges=edges))
    limit = MAX_DEPTH if depth is None else max(0, min(depth, MAX_DEPTH))
    kind_list = sorted(kinds or ())
    params: dict[str, Any] = {"item": item.pk, "max_depth": limit, "root": item.code, "direction": direction}
    params.update({f"kind{k}": kind for k, kind in enumerate(kind_list)})
    with connection.cursor() as cursor:
        return fetch_text_bytes(cursor, graph_sql(direction, edges=edges, kinds=len(kind_list)), params)
