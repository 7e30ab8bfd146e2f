"""The SQL of the per-row aggregation: one WITH clause that walks up from every root at once,
claims the items, stretches, operations and room windows each root owns, sums the values of each
claim once and fans the partial sums out to the roots (`agg`), and finds the group keys and the
supplier lots upstream (`keys`, `lots`, `lot_codes`, `lot_attrs`).

Rules (`measurements.belonging`, shared with the roll map of `measurements.selectors`): a
value about an item counts for a root when the item is the root or upstream of it and, for a
value along a roll, when its position lies inside a stretch of that roll that went into the
root; a value of an operation (machine parameters) counts when the operation made, or was
passed through by, the root or an item upstream of it; a room value counts when it was
measured during such an operation at a station in that room.

Each measurement counts once per root, however many of the root's sheets hold it (a whole-roll
lab value reaches a cell through every sheet; two lanes side by side hold the same metre of the
coated roll), so `n` is the number of distinct measurements behind the cell's value.

Polarity: the walk carries the polarity of the nearest electrode-path item below each ancestor,
so a value about a supplier lot (the D50 of an NMC lot) is filed under the polarity of the slurry it
went into, a machine value under the polarity of the operation's output. Environment values have
no polarity.
"""

from django.db import connection

from lots.models import Item
from measurements.belonging import (
    about_operation_sql,
    along_sql,
    current_sql,
    in_room_during_sql,
    item_operations_sql,
    measurement_table,
    measurements_join,
    operation_window,
    room_operations_join,
    unplaced_sql,
)
from measurements.models import Parameter
from traceability.intervals import edge_table, stretch_hi_sql, stretch_lo_sql, stretch_reaches_sql
from traceability.selectors import MAX_DEPTH

from .columns import GROUP_KEYS

# The interval walk of every root at once, carrying the root and the polarity. UNION, not UNION
# ALL: a slurry reached through 20 sheets is one row per root, not 20.
#
# A measurement counts once per root however many paths bring it there (see the module
# docstring). Rather than joining every measurement to every root it reaches and removing the
# repeats (tens of millions of pairs on a line), the values are summed per claim first and the
# partial sums fanned out to the roots; n, sums and sums of squares add, min and max combine. That
# is exact because each root's claims are disjoint: one claim per (root, item,
# polarity), whole if any path took the whole item, else its stretches merged into disjoint
# islands; one per (root, operation, polarity); the operations' times in each room merged into
# disjoint windows per (root, room, polarity), one polarity (none) for environment values. The
# few values that may still reach a root by two claims (see `RESIDUE`) keep their own id (`rid`)
# through the partial sums, and `once` counts each of them once.
_CTE = """
WITH RECURSIVE roots(root_id) AS (
    SELECT i.id FROM {item_table} i WHERE {where}
),
walk(root_id, item_id, pol, lo, hi, depth) AS (
    SELECT r.root_id, r.root_id, i.polarity, CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), 0
    FROM roots r JOIN {item_table} i ON i.id = r.root_id
    UNION
    SELECT w.root_id, e.parent_id, COALESCE(p.polarity, w.pol),
        {stretch_lo},
        {stretch_hi},
        w.depth + 1
    FROM walk w
    JOIN {edge_table} e ON e.child_id = w.item_id
    JOIN {item_table} p ON p.id = e.parent_id
    WHERE w.depth < {max_depth} AND {reaches}
),
claims(root_id, item_id, pol, whole) AS (  -- whole: some path took the whole item
    SELECT root_id, item_id, pol, MAX(CASE WHEN lo IS NULL THEN 1 ELSE 0 END)
    FROM walk GROUP BY root_id, item_id, pol
),
spans(root_id, item_id, pol, lo, hi) AS (  -- the stretches of the other claims, merged
    {spans}
),
ops(operation_id, root_id, pol) AS (
    {ops}
),
windows(root_id, room, pol, env, lo, hi) AS (  -- the operations' times in each room, merged
    {windows}
),
chosen(parameter_id, env) AS (  -- env: an environment value, filed without polarity
    SELECT p.id, CASE WHEN p.scope = 'environment' THEN 1 ELSE 0 END
    FROM {parameter_table} p WHERE 1 = 1 {parameter_where}
),
item_vals(item_id, positioned, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    SELECT m.item_id, CASE WHEN m.position_m IS NULL THEN 0 ELSE 1 END, {partial}
    FROM {measurement_table} m JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {usable} AND (m.item_id IN (SELECT item_id FROM claims WHERE whole = 1)
        OR ({unplaced} AND m.item_id IN (SELECT item_id FROM claims)))
    GROUP BY m.item_id, CASE WHEN m.position_m IS NULL THEN 0 ELSE 1 END, {partial_group}
),
span_vals(item_id, lo, hi, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    {span_vals}
),
op_vals(operation_id, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    SELECT m.operation_id, {partial}
    FROM {measurement_table} m JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {usable} AND {about_ops}
    GROUP BY m.operation_id, {partial_group}
),
room_vals(room, lo, hi, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    {room_vals}
),
parts(root_id, pol, parameter_id, rid, n, s, ss, mn, mx) AS (  -- the partial sums without an id
    {parts_null}
),
residue(root_id, pol, parameter_id, rid, n, s, ss, mn, mx) AS (  -- those with one
    {parts_id}
),
once(root_id, pol, parameter_id, rid, n, s, ss, mn, mx) AS (  -- the values with an id, each once
    SELECT DISTINCT root_id, pol, parameter_id, rid, n, s, ss, mn, mx FROM residue
),
agg(root_id, pol, parameter_id, n, s, ss, mn, mx) AS (
    SELECT root_id, pol, parameter_id, CAST(SUM(n) AS BIGINT), SUM(s), SUM(ss), MIN(mn), MAX(mx)
    FROM (
        SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM parts
        UNION ALL
        SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM once
    ) summed
    GROUP BY root_id, pol, parameter_id
),
keys(root_id, kind_id, pol, code) AS (
    SELECT DISTINCT w.root_id, i.kind_id, w.pol, i.code
    FROM walk w JOIN {item_table} i ON i.id = w.item_id
    WHERE i.kind_id IN ({group_kinds})
),
lots(root_id, kind_id, pol, item_id) AS (
    SELECT DISTINCT w.root_id, i.kind_id, w.pol, i.id
    FROM walk w JOIN {item_table} i ON i.id = w.item_id
    WHERE i.kind_id IN ({lot_kinds})
),
lot_codes(root_id, kind_id, pol, code) AS (
    SELECT DISTINCT l.root_id, l.kind_id, l.pol, i.supplier_lot
    FROM lots l JOIN {item_table} i ON i.id = l.item_id
    WHERE i.supplier_lot <> ''
),
lot_attrs(root_id, kind_id, pol, attr, n, s) AS (
    SELECT l.root_id, l.kind_id, l.pol, a.key, COUNT(*), SUM({attr_value})
    FROM lots l JOIN {item_table} i ON i.id = l.item_id {attr_join}
    WHERE {attr_numeric}
    GROUP BY l.root_id, l.kind_id, l.pol, a.key
)
"""


# The fan-out of the partial sums to the roots, those without an id (`parts`) and those with one
# (`residue`) apart: `parts`, by far the larger (millions of rows), is then read once, so
# PostgreSQL streams it into the aggregation instead of spilling it to a work table first.
_FAN_OUT = """SELECT c.root_id, CASE WHEN v.env = 1 THEN NULL ELSE c.pol END, v.parameter_id, v.rid,
        v.n, v.s, v.ss, v.mn, v.mx
    FROM claims c JOIN item_vals v ON v.item_id = c.item_id AND (c.whole = 1 OR v.positioned = 0) WHERE v.rid IS {which}
    UNION ALL
    SELECT c.root_id, CASE WHEN v.env = 1 THEN NULL ELSE c.pol END, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM spans c JOIN span_vals v ON v.item_id = c.item_id AND v.lo = c.lo AND v.hi = c.hi WHERE v.rid IS {which}
    UNION ALL
    SELECT c.root_id, CASE WHEN v.env = 1 THEN NULL ELSE c.pol END, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM ops c JOIN op_vals v ON v.operation_id = c.operation_id WHERE v.rid IS {which}
    UNION ALL
    SELECT c.root_id, c.pol, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM windows c JOIN room_vals v ON v.room = c.room AND v.lo = c.lo AND v.hi = c.hi AND v.env = c.env
    WHERE v.rid IS {which}"""


def _usable() -> str:
    """A value counts when it is the current one (`measurements.belonging`) and scalar."""
    return f"m.value IS NOT NULL AND {current_sql()}"


# Which values keep their id through the partial sums: those that may reach a root by two claims
# of different kinds (a room value also about an item or an operation) or polarities (an
# environment value about an item or an operation). `LONG_TABLE` keeps every id.
RESIDUE = (
    "CASE WHEN (m.room <> '' OR k.env = 1) AND (m.item_id IS NOT NULL OR m.operation_id IS NOT NULL) THEN m.id END"
)
LONG_TABLE = "m.id"
_SUMS = "COUNT(*), SUM(m.value), SUM(m.value * m.value), MIN(m.value), MAX(m.value)"


def _partial(residue: str) -> tuple[str, str]:
    """The columns of a partial sum (per parameter, environment or not, residue id) and its GROUP BY."""
    return f"m.parameter_id, k.env, {residue}, {_SUMS}", f"m.parameter_id, k.env, {residue}"


# Values along a roll inside each merged stretch, and room values during each merged window.
# Written so that the join is a range scan of (item, position_m), or (room, measured_at), per
# interval (`measurements_join`, fenced): an OR of "whole or inside" made PostgreSQL hash every
# value of a roll against every stretch of it, thousands of stretches per roll on a real line.
def _interval_vals(key: str, intervals: str, join: str, residue: str) -> str:
    """The partial sums of the values `join` finds inside each merged interval (`key`, lo, hi)
    of `intervals`."""
    partial, partial_group = _partial(residue)
    return f"""SELECT x.{key}, x.lo, x.hi, {partial}
    FROM (SELECT DISTINCT {key}, lo, hi FROM {intervals}) x
    {measurements_join(join, fence=True)}
    JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {_usable()}
    GROUP BY x.{key}, x.lo, x.hi, {partial_group}"""


# The claims on rolls and on rooms: (root, item, polarity, stretch) of the claims not on a whole
# item, and (root, room, polarity, environment or not, window) of the operations at stations in
# a room, for both the values filed by polarity and those without (env 1).
_SPAN_ROWS = """SELECT w.root_id, w.item_id, w.pol, w.lo, w.hi
    FROM walk w JOIN claims c ON c.root_id = w.root_id AND c.item_id = w.item_id AND c.whole = 0
        AND (c.pol = w.pol OR (c.pol IS NULL AND w.pol IS NULL))"""


def _window_rows() -> str:
    window = operation_window("o")
    return f"""SELECT c.root_id, t.room, CASE WHEN e.env = 1 THEN NULL ELSE c.pol END AS pol, e.env,
        {window.start} AS lo, {window.end} AS hi
    FROM ops c
    {room_operations_join("c.operation_id", "o", "t")}
    CROSS JOIN (SELECT 0 AS env UNION ALL SELECT 1 AS env) e"""


def islands(rows: str, keys: str) -> str:
    """The closed intervals [lo, hi] of `rows` merged, per `keys`, where they overlap or touch
    (gaps and islands), so that a value inside two of them counts once."""
    return f"""SELECT {keys}, MIN(lo), MAX(hi)
    FROM (
        SELECT {keys}, lo, hi,
               SUM(CASE WHEN lo <= reach THEN 0 ELSE 1 END)
                   OVER (PARTITION BY {keys} ORDER BY lo, hi ROWS UNBOUNDED PRECEDING) AS island
        FROM (
            SELECT {keys}, lo, hi,
                   MAX(hi) OVER (PARTITION BY {keys} ORDER BY lo, hi
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
            FROM ({rows}) r
            WHERE lo <= hi
        ) ordered
    ) numbered
    GROUP BY {keys}, island"""


def dataset_cte(where: str, parameter_where: str, kinds: list[str], residue: str = RESIDUE) -> str:
    """The WITH clause of the dataset for the database in use: the roots `where`, the parameters
    `parameter_where`, the supplier-lot `kinds`; `residue` as in `RESIDUE`."""
    partial, partial_group = _partial(residue)
    return _CTE.format(
        where=where,
        parameter_where=parameter_where,
        lot_kinds=",".join(f"'{kind}'" for kind in kinds) or "NULL",
        group_kinds=",".join(f"'{kind}'" for _stem, kind in GROUP_KEYS),
        item_table=Item._meta.db_table,
        edge_table=edge_table(),
        parameter_table=Parameter._meta.db_table,
        measurement_table=measurement_table(),
        stretch_lo=stretch_lo_sql(),
        stretch_hi=stretch_hi_sql(),
        reaches=stretch_reaches_sql(),
        max_depth=MAX_DEPTH,
        ops=item_operations_sql("w.root_id, w.pol"),
        spans=islands(_SPAN_ROWS, "root_id, item_id, pol"),
        windows=islands(_window_rows(), "root_id, room, pol, env"),
        unplaced=unplaced_sql(),
        about_ops=about_operation_sql("SELECT operation_id FROM ops"),
        usable=_usable(),
        partial=partial,
        partial_group=partial_group,
        span_vals=_interval_vals("item_id", "spans", along_sql("x.item_id", "x.lo", "x.hi"), residue),
        room_vals=_interval_vals("room", "windows", in_room_during_sql("x.room", "x.lo", "x.hi"), residue),
        parts_null=_FAN_OUT.format(which="NULL"),
        parts_id=_FAN_OUT.format(which="NOT NULL"),
        **_lot_sql(),
    )


def _lot_sql() -> dict[str, str]:
    if connection.vendor == "postgresql":
        return {
            "attr_join": "CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(i.attributes) = 'object' "
            "THEN i.attributes ELSE CAST('{}' AS JSONB) END) a",
            "attr_numeric": "jsonb_typeof(a.value) = 'number'",
            "attr_value": "CAST(CAST(a.value AS TEXT) AS DOUBLE PRECISION)",
        }
    return {
        "attr_join": "CROSS JOIN json_each(CASE WHEN json_valid(i.attributes) AND json_type(i.attributes) = 'object' "
        "THEN i.attributes ELSE '{}' END) a",
        "attr_numeric": "a.type IN ('integer', 'real')",
        "attr_value": "a.value",
    }
