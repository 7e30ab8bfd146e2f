"""Reads of the genealogy: trace (upstream), track (downstream), position maps.

Each walk is one recursive CTE, the same SQL on PostgreSQL and SQLite, so the number of
queries never depends on the size of the graph.
"""

from dataclasses import dataclass
from typing import Literal

from django.db import connection

from lots.models import Item

Direction = Literal["upstream", "downstream"]
# Lineage is acyclic by construction; the cap only guards against imported cycles.
MAX_DEPTH = 64

_WALK_SQL = """
WITH RECURSIVE walk(item_id, from_id, edge_id, depth) AS (
    SELECT CAST(%s AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), 0
    UNION
    SELECT e.{next}, w.item_id, e.id, w.depth + 1
    FROM walk w
    JOIN traceability_lineageedge e ON e.{here} = w.item_id
    WHERE w.depth < %s
)
SELECT w.item_id, w.from_id, w.depth, i.code, i.kind_id, i.status,
       e.id, e.operation_id, o.step_id, e.parent_from_m, e.parent_to_m,
       e.child_from_m, e.child_to_m, e.lane, e.reversed
FROM walk w
JOIN lots_item i ON i.id = w.item_id
LEFT JOIN traceability_lineageedge e ON e.id = w.edge_id
LEFT JOIN traceability_operation o ON o.id = e.operation_id
ORDER BY w.depth, i.id
"""


@dataclass(frozen=True)
class GenealogyNode:
    code: str
    kind: str
    status: str
    depth: int


@dataclass(frozen=True)
class GenealogyEdge:
    parent: str
    child: str
    operation: int
    step: str
    from_m: float | None
    to_m: float | None
    child_from_m: float | None
    child_to_m: float | None
    lane: int | None
    reversed: bool


@dataclass(frozen=True)
class Genealogy:
    root: str
    direction: Direction
    nodes: list[GenealogyNode]
    edges: list[GenealogyEdge]


def lineage_walk(
    *, item: Item, direction: Direction, depth: int | None = None, kinds: set[str] | None = None
) -> Genealogy:
    """Everything upstream (trace) or downstream (track) of `item`, in one query.

    `kinds` filters the returned nodes; edges are all kept so that the graph still connects.
    """
    here, nxt = ("child_id", "parent_id") if direction == "upstream" else ("parent_id", "child_id")
    limit = MAX_DEPTH if depth is None else max(0, min(depth, MAX_DEPTH))
    with connection.cursor() as cursor:
        cursor.execute(_WALK_SQL.format(here=here, next=nxt), [item.pk, limit])
        rows = cursor.fetchall()

    codes: dict[int, str] = {}
    nodes: dict[int, GenealogyNode] = {}
    for item_id, _from, depth_, code, kind, status, *_ in rows:
        codes[item_id] = code
        if item_id not in nodes:  # rows come by depth, so the first is the shortest path
            nodes[item_id] = GenealogyNode(code=code, kind=kind, status=status, depth=depth_)
    edges: dict[int, GenealogyEdge] = {}
    for item_id, from_id, _d, _c, _k, _s, edge_id, op_id, step, p_from, p_to, c_from, c_to, lane, rev in rows:
        if edge_id is None or edge_id in edges:
            continue
        parent, child = (item_id, from_id) if direction == "upstream" else (from_id, item_id)
        edges[edge_id] = GenealogyEdge(
            parent=codes[parent],
            child=codes[child],
            operation=op_id,
            step=step,
            from_m=p_from,
            to_m=p_to,
            child_from_m=c_from,
            child_to_m=c_to,
            lane=lane,
            reversed=bool(rev),
        )
    node_list = [n for n in nodes.values() if not kinds or n.kind in kinds]
    return Genealogy(root=item.code, direction=direction, nodes=node_list, edges=list(edges.values()))


def lineage_trace(*, item: Item, depth: int | None = None, kinds: set[str] | None = None) -> Genealogy:
    return lineage_walk(item=item, direction="upstream", depth=depth, kinds=kinds)


def lineage_track(*, item: Item, depth: int | None = None, kinds: set[str] | None = None) -> Genealogy:
    return lineage_walk(item=item, direction="downstream", depth=depth, kinds=kinds)


# --- Position maps -----------------------------------------------------------------------------

# Carries an interval [lo, hi] of the current item up each edge (DESIGN.md, "The position map").
# NULL lo/hi means "the whole item". {greatest}/{least} are GREATEST/LEAST or MAX/MIN per vendor.
_POSITION_SQL = """
WITH RECURSIVE walk(item_id, lo, hi, depth) AS (
    SELECT CAST(%s AS BIGINT), CAST(%s AS DOUBLE PRECISION), CAST(%s AS DOUBLE PRECISION), 0
    UNION ALL
    SELECT e.parent_id,
        CASE
            WHEN e.parent_from_m IS NULL THEN NULL
            WHEN w.lo IS NULL OR e.child_from_m IS NULL THEN e.parent_from_m
            WHEN e.reversed THEN e.parent_to_m - ({least}(w.hi, e.child_to_m) - e.child_from_m)
                * (e.parent_to_m - e.parent_from_m) / (e.child_to_m - e.child_from_m)
            ELSE e.parent_from_m + ({greatest}(w.lo, e.child_from_m) - e.child_from_m)
                * (e.parent_to_m - e.parent_from_m) / (e.child_to_m - e.child_from_m)
        END,
        CASE
            WHEN e.parent_from_m IS NULL THEN NULL
            WHEN w.lo IS NULL OR e.child_from_m IS NULL THEN e.parent_to_m
            WHEN e.reversed THEN e.parent_to_m - ({greatest}(w.lo, e.child_from_m) - e.child_from_m)
                * (e.parent_to_m - e.parent_from_m) / (e.child_to_m - e.child_from_m)
            ELSE e.parent_from_m + ({least}(w.hi, e.child_to_m) - e.child_from_m)
                * (e.parent_to_m - e.parent_from_m) / (e.child_to_m - e.child_from_m)
        END,
        w.depth + 1
    FROM walk w
    JOIN traceability_lineageedge e ON e.child_id = w.item_id
    WHERE w.depth < %s
      AND (w.lo IS NULL OR e.child_from_m IS NULL
           OR (w.hi >= e.child_from_m AND w.lo <= e.child_to_m))
)
SELECT i.code, i.kind_id, w.depth, w.lo, w.hi
FROM walk w JOIN lots_item i ON i.id = w.item_id
WHERE w.depth > 0
ORDER BY w.depth, i.code, w.lo
"""


@dataclass(frozen=True)
class UpstreamStretch:
    """The metres [from_m, to_m] of an upstream item that went into the start item.

    None for both means the whole item (a slurry, a raw lot).
    """

    code: str
    kind: str
    depth: int
    from_m: float | None
    to_m: float | None


def position_map(*, item: Item, from_m: float | None = None, to_m: float | None = None) -> list[UpstreamStretch]:
    """Map a stretch of `item` (or all of it, or one point when from_m == to_m) to every
    upstream item, through calendering's length change, slitting and cutting, in one query."""
    if (from_m is None) != (to_m is None):
        to_m = from_m if to_m is None else to_m
        from_m = to_m if from_m is None else from_m
    with connection.cursor() as cursor:
        cursor.execute(_POSITION_SQL.format(**vendor_functions()), [item.pk, from_m, to_m, MAX_DEPTH])
        rows = cursor.fetchall()
    return [
        UpstreamStretch(code=code, kind=kind, depth=depth, from_m=lo, to_m=hi) for code, kind, depth, lo, hi in rows
    ]


# The same interval walk downward: which stretch of each descendant holds [lo, hi] of the start.
# Named parameters: item, lo, hi, max_depth. Holds reuse this CTE to recall a stretch.
POSITION_DOWN_CTE = """
WITH RECURSIVE walk(item_id, lo, hi, depth) AS (
    SELECT CAST(%(item)s AS BIGINT), CAST(%(lo)s AS DOUBLE PRECISION), CAST(%(hi)s AS DOUBLE PRECISION), 0
    UNION ALL
    SELECT e.child_id,
        CASE
            WHEN e.child_from_m IS NULL THEN NULL
            WHEN w.lo IS NULL OR e.parent_from_m IS NULL THEN e.child_from_m
            WHEN e.reversed THEN e.child_from_m + (e.parent_to_m - {least}(w.hi, e.parent_to_m))
                * (e.child_to_m - e.child_from_m) / (e.parent_to_m - e.parent_from_m)
            ELSE e.child_from_m + ({greatest}(w.lo, e.parent_from_m) - e.parent_from_m)
                * (e.child_to_m - e.child_from_m) / (e.parent_to_m - e.parent_from_m)
        END,
        CASE
            WHEN e.child_from_m IS NULL THEN NULL
            WHEN w.lo IS NULL OR e.parent_from_m IS NULL THEN e.child_to_m
            WHEN e.reversed THEN e.child_from_m + (e.parent_to_m - {greatest}(w.lo, e.parent_from_m))
                * (e.child_to_m - e.child_from_m) / (e.parent_to_m - e.parent_from_m)
            ELSE e.child_from_m + ({least}(w.hi, e.parent_to_m) - e.parent_from_m)
                * (e.child_to_m - e.child_from_m) / (e.parent_to_m - e.parent_from_m)
        END,
        w.depth + 1
    FROM walk w
    JOIN traceability_lineageedge e ON e.parent_id = w.item_id
    WHERE w.depth < %(max_depth)s
      AND (w.lo IS NULL OR e.parent_from_m IS NULL
           OR (w.hi >= e.parent_from_m AND w.lo <= e.parent_to_m))
)
"""
_POSITION_DOWN_SQL = (
    POSITION_DOWN_CTE
    + """
SELECT i.code, i.kind_id, w.depth, w.lo, w.hi
FROM walk w JOIN lots_item i ON i.id = w.item_id
WHERE w.depth > 0
ORDER BY w.depth, i.code, w.lo
"""
)


def vendor_functions() -> dict[str, str]:
    if connection.vendor == "postgresql":
        return {"greatest": "GREATEST", "least": "LEAST"}
    return {"greatest": "MAX", "least": "MIN"}


def position_track(*, item: Item, from_m: float, to_m: float | None = None) -> list[UpstreamStretch]:
    """Every descendant that holds metres [from_m, to_m] of `item` (a defect at metre 123.4 of a
    coated roll: which lanes, sheets and cells contain it), with the stretch of each it became."""
    to_m = from_m if to_m is None else to_m
    with connection.cursor() as cursor:
        cursor.execute(
            _POSITION_DOWN_SQL.format(**vendor_functions()),
            {"item": item.pk, "lo": from_m, "hi": to_m, "max_depth": MAX_DEPTH},
        )
        rows = cursor.fetchall()
    return [
        UpstreamStretch(code=code, kind=kind, depth=depth, from_m=lo, to_m=hi) for code, kind, depth, lo, hi in rows
    ]
