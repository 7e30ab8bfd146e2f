"""The queries read after the aggregation (`datasets.aggregation_sql`): the discovery of the
columns and their coverage, the group codes for a split, and the rows, in shapes told apart by
their second column and ordered by root."""

from lots.models import Item

from .columns import POLARITIES

_ITEM = Item._meta.db_table

NULL_T = "CAST(NULL AS VARCHAR(64))"
NULL_I = "CAST(NULL AS BIGINT)"
NULL_F = "CAST(NULL AS DOUBLE PRECISION)"

# How many roots, which group keys, (polarity, parameter), lot code and lot attribute columns,
# with their coverage. `DISCOVER_NO_PAIRS` leaves the pairs out: on PostgreSQL they are counted
# from the aggregates themselves (`datasets.pairs`).
_DISCOVER = (
    f"SELECT 0, {NULL_T}, {NULL_T}, {NULL_I}, COUNT(*), {NULL_I}, {NULL_T} FROM roots",
    f"SELECT 1, kind_id, pol, {NULL_I}, COUNT(DISTINCT root_id), {NULL_I}, {NULL_T} FROM keys GROUP BY kind_id, pol",
    f"""SELECT 2, {NULL_T}, pol, parameter_id, COUNT(*), SUM(CASE WHEN n > 1 THEN 1 ELSE 0 END), {NULL_T}
FROM agg GROUP BY pol, parameter_id""",
    f"""SELECT 3, kind_id, pol, {NULL_I}, COUNT(DISTINCT root_id), {NULL_I}, {NULL_T}
FROM lot_codes GROUP BY kind_id, pol""",
    f"SELECT 4, kind_id, pol, {NULL_I}, COUNT(*), {NULL_I}, attr FROM lot_attrs GROUP BY kind_id, pol, attr",
)
DISCOVER = "\nUNION ALL\n".join(_DISCOVER) + "\n"
DISCOVER_NO_PAIRS = "\nUNION ALL\n".join(_DISCOVER[:2] + _DISCOVER[3:]) + "\n"

# The group codes of every root, for a split: (root id, root code, group code or NULL).
SPLIT_KEYS = f"""
SELECT r.root_id, i.code, k.code
FROM roots r JOIN {_ITEM} i ON i.id = r.root_id
LEFT JOIN keys k ON k.root_id = r.root_id AND k.kind_id = '{{kind}}'
"""

# The rows, in five shapes per root (0 identity, 1 group key, 2 aggregates, 3 supplier lot of a
# supplier lot, 4 numeric attribute of a supplier lot, the mean over the distinct lots), ordered by root.
# Shape 2 is `{measures}`, one row per (polarity, parameter) pair; PostgreSQL leaves it out
# (`ROWS_NO_MEASURES`): its aggregates come by one binary COPY, added up in numpy (`datasets.pairs`).
ROWS = f"""
SELECT r.root_id, 0, i.code, i.kind_id, i.status, i.created_at,
       {NULL_I}, {NULL_I}, {NULL_F}, {NULL_F}, {NULL_F}, {NULL_F}
FROM roots r JOIN {_ITEM} i ON i.id = r.root_id
UNION ALL
SELECT root_id, 1, code, kind_id, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {NULL_I}, {NULL_I}, {NULL_F}, {NULL_F}, {NULL_F}, {NULL_F}
FROM keys
UNION ALL
{{measures}}
UNION ALL
SELECT root_id, 3, code, kind_id, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {NULL_I}, {NULL_I}, {NULL_F}, {NULL_F}, {NULL_F}, {NULL_F}
FROM lot_codes
UNION ALL
SELECT root_id, 4, attr, kind_id, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {NULL_I}, n, s, {NULL_F}, {NULL_F}, {NULL_F}
FROM lot_attrs
ORDER BY 1, 2, 3
"""
# On PostgreSQL the aggregates come by themselves (`datasets.pairs`), not among the rows.
ROWS_NO_MEASURES = ROWS.replace("{measures}\nUNION ALL\n", "")
MEASURES = f"""SELECT root_id, 2, {NULL_T}, {NULL_T}, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       parameter_id, n, s, ss, mn, mx
FROM agg"""
# A (polarity, parameter) pair as one number, `datasets.blocks.pair_key` in Python.
PAIR_KEY_SQL = (
    f"parameter_id * {len(POLARITIES) + 1} + CASE pol "
    + " ".join(f"WHEN '{polarity}' THEN {index}" for index, polarity in enumerate(POLARITIES))
    + f" ELSE {len(POLARITIES)} END"
)
