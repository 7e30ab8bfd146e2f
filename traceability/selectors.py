"""Reads of the genealogy: trace (upstream), track (downstream), roll maps.

Each walk is one recursive CTE, the same SQL on PostgreSQL and SQLite, so the number of
queries never depends on the size of the graph.
"""

from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from core.routing import replica_safe
from core.routing import routed_connection as connection
from lots.models import Item

from .intervals import stretch_hi_sql, stretch_lo_sql, stretch_reaches_sql, vendor_functions
from .models import LineageEdge, Operation, Station

Direction = Literal["upstream", "downstream"]
# Lineage is acyclic by construction; the cap only guards against imported cycles.
MAX_DEPTH = 64
_ITEM = Item._meta.db_table
_EDGE = LineageEdge._meta.db_table
_OPERATION = Operation._meta.db_table

# The walk carries each edge's columns as it crosses it, so the result needs no join back to the
# edges; items are joined once per node (not per edge) and steps once per operation. Rows come
# in three shapes, told apart by the first column: 0 node, 1 edge, 2 operation.
_EDGE_WALK = f"""
WITH RECURSIVE walk(item_id, from_id, edge_id, depth, operation_id, p_from, p_to, c_from, c_to, lane, rev) AS (
    SELECT CAST(%(item)s AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), 0, CAST(NULL AS BIGINT),
           CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION),
           CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS INTEGER), FALSE
    UNION
    SELECT e.{{next}}, w.item_id, e.id, w.depth + 1, e.operation_id,
           e.parent_from_m, e.parent_to_m, e.child_from_m, e.child_to_m, e.lane, e.reversed
    FROM walk w
    JOIN {_EDGE} e ON e.{{here}} = w.item_id
    WHERE w.depth < %(max_depth)s
)"""
# Without edges the walk needs only (item, depth): narrower rows, a cheaper de-duplication.
_NODE_WALK = f"""
WITH RECURSIVE walk(item_id, depth) AS (
    SELECT CAST(%(item)s AS BIGINT), 0
    UNION
    SELECT e.{{next}}, w.depth + 1
    FROM walk w
    JOIN {_EDGE} e ON e.{{here}} = w.item_id
    WHERE w.depth < %(max_depth)s
)"""
_NODE_ROWS = f"""
SELECT 0, n.item_id, NULL, n.depth, i.code, i.kind_id, i.status,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM (SELECT item_id, MIN(depth) AS depth FROM walk GROUP BY item_id) n
JOIN {_ITEM} i ON i.id = n.item_id"""
_EDGE_ROWS = f"""
UNION ALL
SELECT 1, w.item_id, w.from_id, w.depth, NULL, NULL, NULL,
       w.edge_id, w.operation_id, w.p_from, w.p_to, w.c_from, w.c_to, w.lane, w.rev
FROM walk w WHERE w.edge_id IS NOT NULL
UNION ALL
SELECT 2, w.operation_id, NULL, NULL,
       (SELECT o.step_id FROM {_OPERATION} o WHERE o.id = w.operation_id),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM (SELECT DISTINCT operation_id FROM walk WHERE operation_id IS NOT NULL) w"""


def walk_sql(direction: "Direction", *, edges: bool, kinds: int = 0) -> str:
    here, nxt = ("child_id", "parent_id") if direction == "upstream" else ("parent_id", "child_id")
    if edges:
        return (_EDGE_WALK + _NODE_ROWS + _EDGE_ROWS).format(here=here, next=nxt)
    # Without edges no node is needed to name an edge's ends, so the kind filter runs in SQL.
    where = (" WHERE i.kind_id IN (" + ", ".join(f"%(kind{k})s" for k in range(kinds)) + ")") if kinds else ""
    return (_NODE_WALK + _NODE_ROWS + where).format(here=here, next=nxt)


# Slotted, mutable dataclasses: a track of a lot builds ~100,000 of them, and frozen ones cost
# an object.__setattr__ per field.
@dataclass(slots=True)
class GenealogyNode:
    code: str
    kind: str
    status: str
    depth: int


@dataclass(slots=True)
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


@dataclass(slots=True)
class Genealogy:
    root: str
    direction: Direction
    nodes: list[GenealogyNode]
    edges: list[GenealogyEdge]


@replica_safe
def lineage_walk(
    *,
    item: Item,
    direction: Direction,
    depth: int | None = None,
    kinds: set[str] | None = None,
    edges: bool = True,
) -> Genealogy:
    """Everything upstream (trace) or downstream (track) of `item`, in one query.

    `kinds` filters the returned nodes; edges are all kept so that the graph still connects.
    `edges=False` returns nodes only: "which cells contain this lot" without the 60,000 edges.
    """
    limit = MAX_DEPTH if depth is None else max(0, min(depth, MAX_DEPTH))
    kind_list = sorted(kinds or ())
    params: dict[str, Any] = {"item": item.pk, "max_depth": limit}
    params.update({f"kind{k}": kind for k, kind in enumerate(kind_list)})
    with connection.cursor() as cursor:
        cursor.execute(walk_sql(direction, edges=edges, kinds=0 if edges else len(kind_list)), params)
        rows = cursor.fetchall()

    nodes: dict[int, tuple[int, GenealogyNode]] = {}
    steps: dict[int, str] = {}
    edge_rows = []
    for row in rows:
        shape, item_id = row[0], row[1]
        if shape == 0:
            nodes[item_id] = (item_id, GenealogyNode(code=row[4], kind=row[5], status=row[6], depth=row[3]))
        elif shape == 1:
            edge_rows.append(row)
        else:
            steps[item_id] = row[4]
    edge_map: dict[int, GenealogyEdge] = {}
    for _shape, item_id, from_id, _d, _c, _k, _s, edge_id, op_id, p_from, p_to, c_from, c_to, lane, rev in edge_rows:
        if edge_id in edge_map:  # the same edge reached again at another depth
            continue
        parent, child = (item_id, from_id) if direction == "upstream" else (from_id, item_id)
        edge_map[edge_id] = GenealogyEdge(
            parent=nodes[parent][1].code,
            child=nodes[child][1].code,
            operation=op_id,
            step=steps[op_id],
            from_m=p_from,
            to_m=p_to,
            child_from_m=c_from,
            child_to_m=c_to,
            lane=lane,
            reversed=bool(rev),
        )
    ordered = sorted(nodes.values(), key=lambda pair: (pair[1].depth, pair[0]))
    node_list = [node for _id, node in ordered if not kinds or node.kind in kinds]
    return Genealogy(root=item.code, direction=direction, nodes=node_list, edges=list(edge_map.values()))


def lineage_trace(*, item: Item, depth: int | None = None, kinds: set[str] | None = None) -> Genealogy:
    return lineage_walk(item=item, direction="upstream", depth=depth, kinds=kinds)


def lineage_track(*, item: Item, depth: int | None = None, kinds: set[str] | None = None) -> Genealogy:
    return lineage_walk(item=item, direction="downstream", depth=depth, kinds=kinds)


# The track's node walk as a subquery of item ids (positional parameters: item, max_depth).
_TRACK_IDS = (
    _NODE_WALK.format(here="parent_id", next="child_id").replace("%(item)s", "%s").replace("%(max_depth)s", "%s")
    + "SELECT item_id FROM walk"
)


@replica_safe
def track_ends(*, item: Item, kind: str = "cell") -> QuerySet[Item]:
    """What a recall of `item` reaches in the end: every downstream item of `kind` and every
    downstream item nothing is made from yet (a sheet not stacked, a scrapped lane), `item`
    itself left out. One query, the track's walk as a subquery, however large the track."""
    has_children = LineageEdge.objects.filter(parent=OuterRef("pk"))
    return (
        Item.objects.filter(pk__in=RawSQL(_TRACK_IDS, [item.pk, MAX_DEPTH]))
        .exclude(pk=item.pk)
        .filter(Q(kind_id=kind) | ~Exists(has_children))
        .select_related("kind")
        .order_by("code")
    )


# --- Position maps -----------------------------------------------------------------------------


# Carries an interval [lo, hi] of the current item up each edge (`traceability.intervals`). NULL
# lo/hi means the whole item.
def _roll_map_sql() -> str:
    return f"""
WITH RECURSIVE walk(item_id, lo, hi, depth) AS (
    SELECT CAST(%s AS BIGINT), CAST(%s AS DOUBLE PRECISION), CAST(%s AS DOUBLE PRECISION), 0
    UNION ALL
    SELECT e.parent_id,
        {stretch_lo_sql()},
        {stretch_hi_sql()},
        w.depth + 1
    FROM walk w
    JOIN {_EDGE} e ON e.child_id = w.item_id
    WHERE w.depth < %s AND {stretch_reaches_sql()}
)
SELECT i.code, i.kind_id, w.depth, w.lo, w.hi
FROM walk w JOIN {_ITEM} i ON i.id = w.item_id
WHERE w.depth > 0
ORDER BY w.depth, i.code, w.lo
"""


@dataclass(frozen=True)
class Stretch:
    """The metres [from_m, to_m] of an item related to the start item: upstream, the stretch
    that went into it (roll_map); downstream, the stretch that holds the start stretch
    (position_track). None for both means the whole item (a slurry, a supplier lot, a cell)."""

    code: str
    kind: str
    depth: int
    from_m: float | None
    to_m: float | None


@replica_safe
def roll_map(*, item: Item, from_m: float | None = None, to_m: float | None = None) -> list[Stretch]:
    """The roll map's stretches: map a stretch of `item` (or all of it, or one point when
    from_m == to_m) to every upstream item, through calendering's length change, slitting and
    cutting, in one query."""
    if (from_m is None) != (to_m is None):
        to_m = from_m if to_m is None else to_m
        from_m = to_m if from_m is None else from_m
    with connection.cursor() as cursor:
        cursor.execute(_roll_map_sql(), [item.pk, from_m, to_m, MAX_DEPTH])
        rows = cursor.fetchall()
    return [Stretch(code=code, kind=kind, depth=depth, from_m=lo, to_m=hi) for code, kind, depth, lo, hi in rows]


# The same interval walk downward: which stretch of each descendant holds [lo, hi] of the start.
# Named parameters: item, lo, hi, max_depth. Holds reuse this CTE to recall a stretch, with a
# half-open overlap ({gt} / {lt} strict): a sheet cut from 13.5 m on does not hold [12.0, 13.5).
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
    JOIN {edge_table} e ON e.parent_id = w.item_id
    WHERE w.depth < %(max_depth)s
      AND (w.lo IS NULL OR e.parent_from_m IS NULL
           OR (w.hi {gt} e.parent_from_m AND w.lo {lt} e.parent_to_m))
)
"""
_POSITION_DOWN_SQL = (
    POSITION_DOWN_CTE
    + """
SELECT i.code, i.kind_id, w.depth, w.lo, w.hi
FROM walk w JOIN {item_table} i ON i.id = w.item_id
WHERE w.depth > 0
ORDER BY w.depth, i.code, w.lo
"""
)


def position_down_cte(*, half_open: bool = False) -> str:
    """POSITION_DOWN_CTE for this database. Closed intervals find a point (a defect at one
    metre); half-open ones [lo, hi) are what a stretch hold catches, so touching is not holding."""
    strict = {"gt": ">", "lt": "<"} if half_open else {"gt": ">=", "lt": "<="}
    return POSITION_DOWN_CTE.format(**vendor_functions(), **strict, edge_table=_EDGE)


@replica_safe
def position_track(*, item: Item, from_m: float, to_m: float | None = None) -> list[Stretch]:
    """Every descendant that holds metres [from_m, to_m] of `item` (a defect at metre 123.4 of a
    coated roll: which lanes, sheets and cells contain it), with the stretch of each it became."""
    to_m = from_m if to_m is None else to_m
    with connection.cursor() as cursor:
        cursor.execute(
            _POSITION_DOWN_SQL.format(**vendor_functions(), gt=">=", lt="<=", edge_table=_EDGE, item_table=_ITEM),
            {"item": item.pk, "lo": from_m, "hi": to_m, "max_depth": MAX_DEPTH},
        )
        rows = cursor.fetchall()
    return [Stretch(code=code, kind=kind, depth=depth, from_m=lo, to_m=hi) for code, kind, depth, lo, hi in rows]


# --- Cutting: where the next sheet starts on a lane, and how long each sheet is ------------------


def next_unused_metre(item: Item) -> float:
    """The first metre of `item` that no positioned edge has taken yet: the largest to_m of its
    consumed stretches (0 for an uncut lane), in one query."""
    taken = LineageEdge.objects.filter(parent=item, parent_to_m__isnull=False).aggregate(end=Max("parent_to_m"))
    return float(taken["end"] or 0.0)


def last_run_pitch(station: Any, step: str) -> float | None:
    """The sheet pitch of the station's last run of `step` that recorded positions, from its
    edges: the distance between the first sheet's start and the last's over the gaps, or the
    one sheet's length."""
    last = (
        Operation.objects.filter(station=station, step_id=step, edges__parent_from_m__isnull=False)
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if last is None:
        return None
    row = LineageEdge.objects.filter(operation_id=last, parent_from_m__isnull=False).aggregate(
        n=Count("id"), first=Min("parent_from_m"), last=Max("parent_from_m"), end=Max("parent_to_m")
    )
    if row["n"] > 1 and row["last"] > row["first"]:
        return round((row["last"] - row["first"]) / (row["n"] - 1), 6)
    return round(row["end"] - row["last"], 6)


def stations_in_line_order() -> "QuerySet[Station]":
    """Stations in the order of the line: by the first step each runs, then by code."""
    return Station.objects.annotate(first_step=Min("steps__sequence")).order_by("first_step", "code")
