"""The wide dataset: one row per cell (or sheet, or roll), one column per upstream parameter and
aggregation, built in the database.

Rules (the same as `measurements.selectors.measurements_upstream`): a value about an item counts
for a root when the item is the root or upstream of it and, for a value along a roll, when its
position lies inside a stretch of that roll that went into the root; a value of an operation
(machine parameters) counts when the operation made, or was passed through by, the root or an
item upstream of it; a room value counts when it was measured during such an operation at a
station in that room.

Each measurement counts once per root, however many of the root's sheets hold it (a whole-roll
lab value reaches a cell through every sheet; two lanes side by side hold the same metre of the
coated roll), so `n` is the number of distinct measurements behind the cell's value.

Polarity: the walk carries the polarity of the nearest electrode-path item below each ancestor,
so a value about a raw lot (the D50 of an NMC lot) is filed under the polarity of the slurry it
went into, a machine value under the polarity of the operation's output. Environment values have
no polarity.

Columns come from the data of the selected roots, found by a first set-based query that also
counts the coverage of each column and the roots with two values or more of each (polarity,
parameter) pair; the rows then stream from a second query ordered by root, through a server-side
cursor on PostgreSQL. Two queries whatever the number of roots.

Only columns that can carry information are written: a pair no root has two values of is one
column, its value (`VALUE`, no suffix); the others get the aggregations asked for (all of
`AGGREGATIONS` by default), their std non-null where a root has two values. A group-key column
no root has is left out (kept, empty, when nothing is selected: the table's shape).
"""

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime

from lots.models import ItemKind
from measurements.models import Level, ModelType, Parameter, Scope
from traceability.models import PASSES_THROUGH, Step
from traceability.selectors import MAX_DEPTH, STRETCH_HI, STRETCH_LO, vendor_functions

AGGREGATIONS = ("mean", "min", "max", "std", "n")
# The aggregation of a (polarity, parameter) pair no exported row has two values of: the value
# itself, in a column named without a suffix (a std would be all null, min, max and mean the
# value again, n the value's presence).
VALUE = "value"
GRANULARITIES = ("cell", "sheet", "roll")
POLARITIES = ("cathode", "anode")
# Group keys for honest train/test splits: (column stem, item kind).
GROUP_KEYS = (("slurry_batch", "slurry"), ("coating_run", "coated_roll"), ("calendered_roll", "calendered_roll"))
FILTERS = ("codes", "created_after", "created_before", "status", "kind")
SPLIT_FIELDS = ("by", "test", "seed")
# End-of-line results, the targets of a model: every parameter of these steps, and those of
# formation and aging whose code names a capacity, a coulombic efficiency or the self-discharge.
TARGET_STEPS = ("eol_test",)
TARGET_STEMS = (("formation", "aging"), ("capacity", "coulombic", "self_discharge", "k_value", "ocv_drop"))
BATCH_SIZE = 2000
_LEVELS = {Level.HIGH.value: 3, Level.INTERMEDIATE.value: 2, Level.LOW.value: 1}


@dataclass(slots=True)
class Column:
    """One column of the table and what the dictionary says about it."""

    name: str
    type: str  # "string", "timestamp", "float" or "int"
    source: str  # "identity", "group", "split", "lot" or "measurement"
    parameter: Parameter | None = None
    polarity: str | None = None
    aggregation: str | None = None
    coverage: int = 0
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    role: str = "feature"  # "identity", "group", "split", "feature" or "target"


# --- SQL ---------------------------------------------------------------------------------------


# The interval walk of every root at once, carrying the root and the polarity. UNION, not UNION
# ALL: a slurry reached through 20 sheets is one row per root, not 20.
#
# A measurement counts once per root however many paths bring it there (see the module
# docstring). Rather than joining every measurement to every root it reaches and removing the
# repeats (tens of millions of pairs on a line), the values are summed per source first and the
# partial sums fanned out to the roots; n, sums and sums of squares add, min and max combine. That
# is exact because each root's claims on the sources are disjoint: one claim per (root, item,
# polarity), whole if any path took the whole item, else its stretches merged into disjoint
# islands; one per (root, operation, polarity); the operations' times in each room merged into
# disjoint windows per (root, room, polarity), one polarity (none) for environment values. The
# few values that may still reach a root by two claims (see `_RESIDUE`) keep their own id (`rid`)
# through the partial sums, and `once` counts each of them once.
_CTE = f"""
WITH RECURSIVE roots(root_id) AS (
    SELECT i.id FROM lots_item i WHERE {{where}}
),
walk(root_id, item_id, pol, lo, hi, depth) AS (
    SELECT r.root_id, r.root_id, i.polarity, CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), 0
    FROM roots r JOIN lots_item i ON i.id = r.root_id
    UNION
    SELECT w.root_id, e.parent_id, COALESCE(p.polarity, w.pol),
        {STRETCH_LO},
        {STRETCH_HI},
        w.depth + 1
    FROM walk w
    JOIN traceability_lineageedge e ON e.child_id = w.item_id
    JOIN lots_item p ON p.id = e.parent_id
    WHERE w.depth < {MAX_DEPTH}
      AND (w.lo IS NULL OR e.child_from_m IS NULL OR (w.hi >= e.child_from_m AND w.lo <= e.child_to_m))
),
claims(root_id, item_id, pol, whole) AS (  -- whole: some path took the whole item
    SELECT root_id, item_id, pol, MAX(CASE WHEN lo IS NULL THEN 1 ELSE 0 END)
    FROM walk GROUP BY root_id, item_id, pol
),
spans(root_id, item_id, pol, lo, hi) AS (  -- the stretches of the other claims, merged
    {{spans}}
),
ops(root_id, operation_id, pol) AS (
    SELECT w.root_id, i.produced_by_id, w.pol
    FROM walk w JOIN lots_item i ON i.id = w.item_id
    WHERE i.produced_by_id IS NOT NULL
    UNION
    SELECT w.root_id, oi.operation_id, w.pol
    FROM walk w JOIN traceability_operationinput oi ON oi.item_id = w.item_id AND oi.quantity = {PASSES_THROUGH}
),
windows(root_id, room, pol, env, lo, hi) AS (  -- the operations' times in each room, merged
    {{windows}}
),
chosen(parameter_id, env) AS (  -- env: an environment value, filed without polarity
    SELECT p.id, CASE WHEN p.scope = 'environment' THEN 1 ELSE 0 END
    FROM measurements_parameter p WHERE 1 = 1 {{parameter_where}}
),
item_vals(item_id, positioned, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    SELECT m.item_id, CASE WHEN m.position_m IS NULL THEN 0 ELSE 1 END, {{partial}}
    FROM measurements_measurement m JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {{usable}} AND (m.item_id IN (SELECT item_id FROM claims WHERE whole = 1)
        OR (m.position_m IS NULL AND m.item_id IN (SELECT item_id FROM claims)))
    GROUP BY m.item_id, CASE WHEN m.position_m IS NULL THEN 0 ELSE 1 END, {{partial_group}}
),
span_vals(item_id, lo, hi, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    SELECT x.item_id, x.lo, x.hi, {{partial}}
    FROM (SELECT DISTINCT item_id, lo, hi FROM spans) x
    {{along}}
    JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {{usable}}
    GROUP BY x.item_id, x.lo, x.hi, {{partial_group}}
),
op_vals(operation_id, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    SELECT m.operation_id, {{partial}}
    FROM measurements_measurement m JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {{usable}} AND m.item_id IS NULL AND m.operation_id IN (SELECT operation_id FROM ops)
    GROUP BY m.operation_id, {{partial_group}}
),
room_vals(room, lo, hi, parameter_id, env, rid, n, s, ss, mn, mx) AS (
    SELECT x.room, x.lo, x.hi, {{partial}}
    FROM (SELECT DISTINCT room, lo, hi FROM windows) x
    {{during}}
    JOIN chosen k ON k.parameter_id = m.parameter_id
    WHERE {{usable}}
    GROUP BY x.room, x.lo, x.hi, {{partial_group}}
),
parts(root_id, pol, parameter_id, rid, n, s, ss, mn, mx) AS (
    SELECT c.root_id, CASE WHEN v.env = 1 THEN NULL ELSE c.pol END, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM claims c JOIN item_vals v ON v.item_id = c.item_id AND (c.whole = 1 OR v.positioned = 0)
    UNION ALL
    SELECT c.root_id, CASE WHEN v.env = 1 THEN NULL ELSE c.pol END, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM spans c JOIN span_vals v ON v.item_id = c.item_id AND v.lo = c.lo AND v.hi = c.hi
    UNION ALL
    SELECT c.root_id, CASE WHEN v.env = 1 THEN NULL ELSE c.pol END, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM ops c JOIN op_vals v ON v.operation_id = c.operation_id
    UNION ALL
    SELECT c.root_id, c.pol, v.parameter_id, v.rid, v.n, v.s, v.ss, v.mn, v.mx
    FROM windows c JOIN room_vals v ON v.room = c.room AND v.lo = c.lo AND v.hi = c.hi AND v.env = c.env
),
once(root_id, pol, parameter_id, rid, n, s, ss, mn, mx) AS (  -- the values with an id, each once
    SELECT DISTINCT root_id, pol, parameter_id, rid, n, s, ss, mn, mx FROM parts WHERE rid IS NOT NULL
),
agg(root_id, pol, parameter_id, n, s, ss, mn, mx) AS (
    SELECT root_id, pol, parameter_id, CAST(SUM(n) AS BIGINT), SUM(s), SUM(ss), MIN(mn), MAX(mx)
    FROM (
        SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM parts WHERE rid IS NULL
        UNION ALL
        SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM once
    ) summed
    GROUP BY root_id, pol, parameter_id
),
keys(root_id, kind_id, pol, code) AS (
    SELECT DISTINCT w.root_id, i.kind_id, w.pol, i.code
    FROM walk w JOIN lots_item i ON i.id = w.item_id
    WHERE i.kind_id IN ({",".join(f"'{kind}'" for _stem, kind in GROUP_KEYS)})
),
lots(root_id, kind_id, pol, item_id) AS (
    SELECT DISTINCT w.root_id, i.kind_id, w.pol, i.id
    FROM walk w JOIN lots_item i ON i.id = w.item_id
    WHERE i.kind_id IN ({{lot_kinds}})
),
lot_codes(root_id, kind_id, pol, code) AS (
    SELECT DISTINCT l.root_id, l.kind_id, l.pol, i.supplier_lot
    FROM lots l JOIN lots_item i ON i.id = l.item_id
    WHERE i.supplier_lot <> ''
),
lot_attrs(root_id, kind_id, pol, attr, n, s) AS (
    SELECT l.root_id, l.kind_id, l.pol, a.key, COUNT(*), SUM({{attr_value}})
    FROM lots l JOIN lots_item i ON i.id = l.item_id {{attr_join}}
    WHERE {{attr_numeric}}
    GROUP BY l.root_id, l.kind_id, l.pol, a.key
)
"""

# A value counts when it is the current one (nothing supersedes it) and scalar. "IS NOT NULL"
# changes nothing but lets PostgreSQL read the few corrections from the index rather than hash
# every measurement for each source.
_USABLE = (
    "m.value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM measurements_measurement n "
    "WHERE n.supersedes_id = m.id AND n.supersedes_id IS NOT NULL)"
)
# Which values keep their id through the partial sums: those that may reach a root by two claims
# of different sources (a room value also about an item or an operation) or polarities (an
# environment value about an item or an operation). `_LONG_TABLE` keeps every id.
_RESIDUE = (
    "CASE WHEN (m.room <> '' OR k.env = 1) AND (m.item_id IS NOT NULL OR m.operation_id IS NOT NULL) THEN m.id END"
)
_LONG_TABLE = "m.id"
_SUMS = "COUNT(*), SUM(m.value), SUM(m.value * m.value), MIN(m.value), MAX(m.value)"

_NULL_T = "CAST(NULL AS VARCHAR(64))"
_NULL_I = "CAST(NULL AS BIGINT)"
_NULL_F = "CAST(NULL AS DOUBLE PRECISION)"

# How many roots, which group keys, (polarity, parameter), lot code and lot attribute columns,
# with their coverage.
_DISCOVER = f"""
SELECT 0, {_NULL_T}, {_NULL_T}, {_NULL_I}, COUNT(*), {_NULL_I}, {_NULL_T} FROM roots
UNION ALL
SELECT 1, kind_id, pol, {_NULL_I}, COUNT(DISTINCT root_id), {_NULL_I}, {_NULL_T} FROM keys GROUP BY kind_id, pol
UNION ALL
SELECT 2, {_NULL_T}, pol, parameter_id, COUNT(*), SUM(CASE WHEN n > 1 THEN 1 ELSE 0 END), {_NULL_T}
FROM agg GROUP BY pol, parameter_id
UNION ALL
SELECT 3, kind_id, pol, {_NULL_I}, COUNT(DISTINCT root_id), {_NULL_I}, {_NULL_T} FROM lot_codes GROUP BY kind_id, pol
UNION ALL
SELECT 4, kind_id, pol, {_NULL_I}, COUNT(*), {_NULL_I}, attr FROM lot_attrs GROUP BY kind_id, pol, attr
"""

# The group codes of every root, for a split: (root id, root code, group code or NULL).
_SPLIT_KEYS = """
SELECT r.root_id, i.code, k.code
FROM roots r JOIN lots_item i ON i.id = r.root_id
LEFT JOIN keys k ON k.root_id = r.root_id AND k.kind_id = '{kind}'
"""

# The rows, in five shapes per root (0 identity, 1 group key, 2 aggregates, 3 supplier lot of a
# raw lot, 4 numeric attribute of a raw lot, the mean over the distinct lots), ordered by root.
# Shape 2 is `{measures}`: on PostgreSQL one row per root whose arrays hold the key of each of its
# (polarity, parameter) pairs (`_PAIR_KEY`) and their sums, so Python reads thousands of rows
# rather than millions; elsewhere one row per pair, with the arrays NULL.
_NO_ARRAYS = ", CAST(NULL AS BYTEA)" * 6
_ROWS = f"""
SELECT r.root_id, 0, i.code, i.kind_id, i.status, i.created_at,
       {_NULL_I}, {_NULL_I}, {_NULL_F}, {_NULL_F}, {_NULL_F}, {_NULL_F}{{arrays}}
FROM roots r JOIN lots_item i ON i.id = r.root_id
UNION ALL
SELECT root_id, 1, code, kind_id, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {_NULL_I}, {_NULL_I}, {_NULL_F}, {_NULL_F}, {_NULL_F}, {_NULL_F}{{arrays}}
FROM keys
UNION ALL
{{measures}}
UNION ALL
SELECT root_id, 3, code, kind_id, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {_NULL_I}, {_NULL_I}, {_NULL_F}, {_NULL_F}, {_NULL_F}, {_NULL_F}{{arrays}}
FROM lot_codes
UNION ALL
SELECT root_id, 4, attr, kind_id, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {_NULL_I}, n, s, {_NULL_F}, {_NULL_F}, {_NULL_F}{{arrays}}
FROM lot_attrs
ORDER BY 1, 2, 3
"""
_MEASURES = f"""SELECT root_id, 2, {_NULL_T}, {_NULL_T}, pol, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       parameter_id, n, s, ss, mn, mx
FROM agg"""
# A (polarity, parameter) pair as one number, `_pair_key` in Python.
_PAIR_KEY = (
    f"parameter_id * {len(POLARITIES) + 1} + CASE pol "
    + " ".join(f"WHEN '{polarity}' THEN {index}" for index, polarity in enumerate(POLARITIES))
    + f" ELSE {len(POLARITIES)} END"
)
# Grouped from input sorted by root: PostgreSQL would otherwise hash the 10,000 groups' arrays,
# twice as slow. The arrays in their binary form (`_numbers`): no text to parse per number.
_ARRAYS = f"""SELECT root_id, 2, {_NULL_T}, {_NULL_T}, {_NULL_T}, CAST(NULL AS TIMESTAMP WITH TIME ZONE),
       {_NULL_I}, {_NULL_I}, {_NULL_F}, {_NULL_F}, {_NULL_F}, {_NULL_F},
       array_send(array_agg(pair)), array_send(array_agg(n)), array_send(array_agg(s)),
       array_send(array_agg(ss)), array_send(array_agg(mn)), array_send(array_agg(mx))
FROM (SELECT root_id, CAST({_PAIR_KEY} AS BIGINT) AS pair, n, s, ss, mn, mx FROM agg ORDER BY root_id) a
GROUP BY root_id"""


# --- Selection ---------------------------------------------------------------------------------


def _root_kinds(granularity: str) -> list[str]:
    if granularity == "cell":
        return ["cell"]
    if granularity == "sheet":
        return ["electrode_sheet"]
    if granularity == "roll":
        return list(ItemKind.objects.filter(is_roll=True, on_electrode_path=True).values_list("code", flat=True))
    raise ValueError(f"Unknown granularity {granularity!r}: one of {', '.join(GRANULARITIES)}.")


def _as_datetime(value: Any, name: str) -> datetime:
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"Filter {name} is not a date and time: {value!r}.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _root_where(granularity: str, filters: dict[str, Any]) -> tuple[str, list[Any]]:
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"Unknown filter {', '.join(sorted(unknown))}: one of {', '.join(FILTERS)}.")
    kinds = [filters["kind"]] if filters.get("kind") else _root_kinds(granularity)
    if filters.get("kind"):
        _root_kinds(granularity)  # still refuse an unknown granularity
    clauses = ["i.kind_id IN (" + ", ".join(["%s"] * len(kinds)) + ")"] if kinds else ["1 = 0"]
    params: list[Any] = list(kinds)
    if "codes" in filters and filters["codes"] is not None:
        codes = [str(code) for code in filters["codes"]]
        clauses.append("i.code IN (" + ", ".join(["%s"] * len(codes)) + ")" if codes else "1 = 0")
        params += codes
    for name, operator in (("created_after", ">="), ("created_before", "<")):
        if filters.get(name) is not None:
            clauses.append(f"i.created_at {operator} %s")
            params.append(_as_datetime(filters[name], name))
    if filters.get("status"):
        clauses.append("i.status = %s")
        params.append(str(filters["status"]))
    return " AND ".join(clauses), params


def _parameter_where(parameters: list[str] | None, criticality: dict[str, str] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if parameters is not None:
        codes = list(dict.fromkeys(parameters))
        known = set(Parameter.objects.filter(code__in=codes).values_list("code", flat=True))
        missing = [code for code in codes if code not in known]
        if missing:
            raise ValueError(f"Unknown parameter {', '.join(missing)}.")
        clauses.append("p.code IN (" + ", ".join(["%s"] * len(codes)) + ")" if codes else "1 = 0")
        params += codes
    for model, level in (criticality or {}).items():
        if model not in ModelType.values:
            raise ValueError(f"Unknown model type {model!r}: one of {', '.join(ModelType.values)}.")
        if level not in _LEVELS:
            raise ValueError(f"Unknown criticality {level!r}: one of {', '.join(_LEVELS)}.")
        # At least the level asked: "intermediate" keeps high and intermediate.
        allowed = [name for name, rank in _LEVELS.items() if rank >= _LEVELS[level]]
        clauses.append(f"p.criticality_{model} IN (" + ", ".join(["%s"] * len(allowed)) + ")")
        params += allowed
    return "".join(f" AND {clause}" for clause in clauses), params


# --- Columns -----------------------------------------------------------------------------------


def _group_column(stem: str, polarity: str | None) -> str:
    return f"{polarity}.{stem}" if polarity else stem


def measurement_column_stem(parameter: Parameter, polarity: str | None) -> str:
    """`[<polarity>.]<step>.<parameter>`, with `material` or `environment` for the step."""
    if parameter.scope == Scope.ENVIRONMENT:
        return f"environment.{parameter.code}"
    where = "material" if parameter.scope == Scope.MATERIAL or not parameter.step_id else parameter.step_id
    return f"{polarity + '.' if polarity else ''}{where}.{parameter.code}"


def _identity_columns(roots: int) -> list[Column]:
    return [
        Column("code", "string", "identity", coverage=roots, description="Item code", role="identity"),
        Column("kind", "string", "identity", coverage=roots, description="Item kind", role="identity"),
        Column("status", "string", "identity", coverage=roots, description="Item status", role="identity"),
        Column(
            "created_at", "timestamp", "identity", coverage=roots, description="When the item was made", role="identity"
        ),
    ]


def _group_columns(found: dict[tuple[str, str | None], int], roots: int) -> list[Column]:
    """One column per key and polarity some root has, plus an unprefixed one if some key has
    none; of an empty selection, one per key and polarity."""
    columns = []
    for stem, kind in GROUP_KEYS:
        polarities: list[str | None] = [*POLARITIES]
        if (kind, None) in found:
            polarities.append(None)
        for polarity in polarities:
            if roots and not found.get((kind, polarity)):
                continue
            columns.append(
                Column(
                    _group_column(stem, polarity),
                    "string",
                    "group",
                    polarity=polarity,
                    coverage=found.get((kind, polarity), 0),
                    description=f"Code(s) of the {kind.replace('_', ' ')}(s) upstream, for grouped splits",
                    extra={"kind": kind},
                    role="group",
                )
            )
    return columns


def is_target(parameter: Parameter) -> bool:
    """An end-of-line result: a parameter of the end-of-line test, or a formation capacity or
    coulombic efficiency, or a self-discharge figure of aging."""
    if parameter.step_id in TARGET_STEPS:
        return True
    steps, words = TARGET_STEMS
    return parameter.step_id in steps and any(word in parameter.code for word in words)


def _lot_stem(kind: str, polarity: str | None) -> str:
    return f"{polarity + '.' if polarity else ''}{kind}"


def _lot_columns(
    kinds: list[str], codes: dict[tuple[str, str | None], int], attrs: dict[tuple[str, str | None, str], int]
) -> list[Column]:
    """`<polarity>.<kind>.supplier_lot` (the supplier lot codes, comma-separated) and
    `<polarity>.<kind>.attr.<key>` (the mean of a numeric attribute over the distinct lots),
    in the order of the kinds, cathode before anode before none."""
    polarity_order = {"cathode": 0, "anode": 1, None: 2}
    place = {kind: index for index, kind in enumerate(kinds)}
    pairs = sorted(
        {*codes, *((kind, polarity) for kind, polarity, _key in attrs)},
        key=lambda pair: (place.get(pair[0], len(place)), polarity_order.get(pair[1], 3), pair[0]),
    )
    columns = []
    for kind, polarity in pairs:
        stem = _lot_stem(kind, polarity)
        label = kind.replace("_", " ")
        if (kind, polarity) in codes:
            columns.append(
                Column(
                    f"{stem}.supplier_lot",
                    "string",
                    "lot",
                    polarity=polarity,
                    coverage=codes[(kind, polarity)],
                    description=f"Supplier lot code(s) of the {label} upstream",
                    extra={"kind": kind},
                )
            )
        for key in sorted(k for kd, pol, k in attrs if (kd, pol) == (kind, polarity)):
            columns.append(
                Column(
                    f"{stem}.attr.{key}",
                    "float",
                    "lot",
                    polarity=polarity,
                    coverage=attrs[(kind, polarity, key)],
                    description=f"Attribute {key} of the {label} lot(s) upstream (mean over the lots)",
                    extra={"kind": kind, "attribute": key},
                )
            )
    return columns


def _measurement_columns(
    found: list[tuple[str | None, int, int, int]], aggregations: list[str] | None = None
) -> list[Column]:
    """Per (polarity, parameter, roots with a value, roots with two or more): the value column
    if no root has two, else one per aggregation asked for, in the order of `AGGREGATIONS`."""
    chosen = [a for a in AGGREGATIONS if aggregations is None or a in aggregations]
    parameters = Parameter.objects.in_bulk([parameter_id for _pol, parameter_id, _n, _n2 in found])
    sequence = dict(Step.objects.values_list("code", "sequence"))
    polarity_order = {"cathode": 0, "anode": 1, None: 2}

    def order(entry: tuple[str | None, int, int, int]) -> tuple[Any, ...]:
        parameter = parameters[entry[1]]
        place = {Scope.MATERIAL: 0, Scope.ENVIRONMENT: 2}.get(Scope(parameter.scope), 1)
        return (place, sequence.get(parameter.step_id or "", 0), polarity_order[entry[0]], parameter.code)

    columns = []
    for polarity, parameter_id, roots, roots_several in sorted(found, key=order):
        parameter = parameters[parameter_id]
        stem = measurement_column_stem(parameter, polarity)
        for aggregation in chosen if roots_several else [VALUE]:
            columns.append(
                Column(
                    stem if aggregation == VALUE else f"{stem}.{aggregation}",
                    "int" if aggregation == "n" else "float",
                    "measurement",
                    parameter=parameter,
                    polarity=polarity,
                    aggregation=aggregation,
                    coverage=roots_several if aggregation == "std" else roots,
                    description=parameter.name,
                    role="target" if is_target(parameter) else "feature",
                )
            )
    return columns


# --- The table ---------------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return _as_datetime(value, "created_at")


# --- Splits ------------------------------------------------------------------------------------


def validate_aggregations(aggregations: Any) -> list[str]:
    """A non-empty list of `AGGREGATIONS`, in their order, each once."""
    if not isinstance(aggregations, list | tuple) or not aggregations:
        raise ValueError(f"Aggregations must be a non-empty list of {', '.join(AGGREGATIONS)}.")
    unknown = [a for a in aggregations if a not in AGGREGATIONS]
    if unknown:
        raise ValueError(f"Unknown aggregation {unknown[0]!r}: one of {', '.join(AGGREGATIONS)}.")
    return [a for a in AGGREGATIONS if a in aggregations]


def validate_split(split: dict[str, Any]) -> dict[str, Any]:
    """`{"by": "slurry_batch", "test": 0.2, "seed": 1}`, checked field by field (seed defaults to 0)."""
    if not isinstance(split, dict):
        raise ValueError('Split must be an object such as {"by": "slurry_batch", "test": 0.2, "seed": 1}.')
    unknown = sorted(set(split) - set(SPLIT_FIELDS))
    if unknown:
        raise ValueError(f"Unknown split field {', '.join(unknown)}: one of {', '.join(SPLIT_FIELDS)}.")
    stems = [stem for stem, _kind in GROUP_KEYS]
    if split.get("by") not in stems:
        raise ValueError(f"Unknown split by {split.get('by')!r}: one of {', '.join(stems)}.")
    test = split.get("test")
    if isinstance(test, bool) or not isinstance(test, int | float) or not 0 < test < 1:
        raise ValueError(f"Split test must be a fraction between 0 and 1 (exclusive), not {test!r}.")
    seed = split.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Split seed must be an integer, not {seed!r}.")
    return {"by": split["by"], "test": float(test), "seed": seed}


def split_hash(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by the seed and the group key, the same on every machine."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(memberships: list[tuple[int, str, str | None]], test: float, seed: int) -> dict[int, str]:
    """Root id -> "train" or "test" from (root id, root code, group code or None) rows.

    Groups that share a root (a cell holds a cathode and an anode slurry) are joined into one
    component, so no group lands on both sides; a root without a group is a component of its
    own. Components are taken in the order of their hash (keyed by their smallest group code)
    into the test side while that brings the test rows nearer `test` of all rows: for a seed,
    the same selection gives the same split, and the fraction is as near as whole groups allow.
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    root_keys: dict[int, str] = {}
    for root_id, root_code, group in memberships:
        node = f"group:{group}" if group is not None else f"item:{root_code}"
        if root_id in root_keys:
            a, b = find(root_keys[root_id]), find(node)
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            find(node)
            root_keys[root_id] = node
    sizes: dict[str, int] = {}
    for node in root_keys.values():
        component = find(node)
        sizes[component] = sizes.get(component, 0) + 1
    target = test * len(root_keys)
    chosen: set[str] = set()
    taken = 0
    for component in sorted(sizes, key=lambda c: (split_hash(seed, c), c)):
        if abs(taken + sizes[component] - target) < abs(taken - target):
            chosen.add(component)
            taken += sizes[component]
    return {root_id: "test" if find(node) in chosen else "train" for root_id, node in root_keys.items()}


def _split_column(split: dict[str, Any], roots: int) -> Column:
    return Column(
        "split",
        "string",
        "split",
        coverage=roots,
        description=(
            f"train or test, by {split['by']} (test {split['test']}, seed {split['seed']}): every group on one side"
        ),
        extra={"split": split},
        role="split",
    )


def _lot_kinds() -> list[str]:
    """Raw-material kinds: batches bought in, not made on the electrode path."""
    kinds = ItemKind.objects.filter(level="batch", on_electrode_path=False).values_list("code", flat=True)
    return [kind for kind in kinds if kind.replace("_", "").replace("-", "").isalnum()]


# Values along a roll inside each merged stretch, and room values during each merged window.
# Written so that the join is a range scan of (item, position_m), or (room, measured_at), per
# interval: an OR of "whole or inside" made PostgreSQL hash every value of a roll against every
# stretch of it, thousands of stretches per roll on a real line. On PostgreSQL the LATERAL forces
# the per-interval scan (OFFSET 0 keeps the planner from flattening it back into a merge join of
# every window with every room value); SQLite plans it that way by itself.
_RANGE = {
    "postgresql": "CROSS JOIN LATERAL (SELECT * FROM measurements_measurement m WHERE {inside} OFFSET 0) m",
    "default": "JOIN measurements_measurement m ON {inside}",
}
_ALONG = "m.item_id = x.item_id AND m.position_m >= x.lo AND m.position_m <= x.hi"
_DURING = "m.room = x.room AND m.measured_at >= x.lo AND m.measured_at <= x.hi"

# The claims on rolls and on rooms: (root, item, polarity, stretch) of the claims not on a whole
# item, and (root, room, polarity, environment or not, window) of the operations at stations in
# a room, for both the values filed by polarity and those without (env 1).
_SPAN_ROWS = """SELECT w.root_id, w.item_id, w.pol, w.lo, w.hi
    FROM walk w JOIN claims c ON c.root_id = w.root_id AND c.item_id = w.item_id AND c.whole = 0
        AND (c.pol = w.pol OR (c.pol IS NULL AND w.pol IS NULL))"""
_WINDOW_ROWS = """SELECT c.root_id, t.room, CASE WHEN e.env = 1 THEN NULL ELSE c.pol END AS pol, e.env,
        o.started_at AS lo, COALESCE(o.ended_at, o.started_at) AS hi
    FROM ops c
    JOIN traceability_operation o ON o.id = c.operation_id
    JOIN traceability_station t ON t.id = o.station_id AND t.room <> ''
    CROSS JOIN (SELECT 0 AS env UNION ALL SELECT 1 AS env) e"""


def _islands(rows: str, keys: str) -> str:
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


def dataset_cte(where: str, parameter_where: str, kinds: list[str], residue: str = _RESIDUE) -> str:
    """The WITH clause of the dataset for the database in use: the roots `where`, the parameters
    `parameter_where`, the raw-lot `kinds`; `residue` as in `_RESIDUE`."""
    return _CTE.format(
        where=where,
        parameter_where=parameter_where,
        lot_kinds=",".join(f"'{kind}'" for kind in kinds) or "NULL",
        spans=_islands(_SPAN_ROWS, "root_id, item_id, pol"),
        windows=_islands(_WINDOW_ROWS, "root_id, room, pol, env"),
        along=_RANGE.get(connection.vendor, _RANGE["default"]).format(inside=_ALONG),
        during=_RANGE.get(connection.vendor, _RANGE["default"]).format(inside=_DURING),
        usable=_USABLE,
        partial=f"m.parameter_id, k.env, {residue}, {_SUMS}",
        partial_group=f"m.parameter_id, k.env, {residue}",
        **vendor_functions(),
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


def dataset_rows(
    *,
    granularity: str = "cell",
    filters: dict[str, Any] | None = None,
    parameters: list[str] | None = None,
    criticality: dict[str, str] | None = None,
    batch_size: int = BATCH_SIZE,
    split: dict[str, Any] | None = None,
    aggregations: list[str] | None = None,
) -> tuple[list[Column], Iterator[dict[str, Any]]]:
    """The columns (with their coverage) and an iterator of one dict per root, in root id order.

    `filters`: codes, created_after, created_before, status, kind (default: the granularity's
    kinds). `parameters`: catalog codes to keep. `criticality`: {"ml": "high"} keeps parameters of
    at least that level for that model type. `split`: {"by": "slurry_batch", "test": 0.2,
    "seed": 1} adds a column `split` ("train" or "test") decided per group (see `assign_split`).
    `aggregations`: which of `AGGREGATIONS` the pairs with several values get (default all).
    A selection of nothing gives the identity and group columns and no rows. The iterator holds
    the server-side cursor open until exhausted; with rows it is a `WideRows`, whose `blocks()`
    gives the same rows column by column.
    """
    checked_split = validate_split(split) if split is not None else None
    checked_aggregations = validate_aggregations(aggregations) if aggregations is not None else None
    where, root_params = _root_where(granularity, filters or {})
    parameter_where, parameter_params = _parameter_where(parameters, criticality)
    kinds = _lot_kinds()
    cte = dataset_cte(where, parameter_where, kinds)
    _analyze_unanalyzed()
    _work_mem(settings.CELLTRACE_EXPORT_WORK_MEM)
    cte, params, temporary = _materialise(cte, root_params, parameter_params)
    with connection.cursor() as cursor:
        cursor.execute(cte + _DISCOVER, params)
        discovered = cursor.fetchall()
    roots = 0
    keys: dict[tuple[str, str | None], int] = {}
    found: list[tuple[str | None, int, int, int]] = []
    lot_codes: dict[tuple[str, str | None], int] = {}
    lot_attrs: dict[tuple[str, str | None, str], int] = {}
    for shape, kind, polarity, parameter_id, count, several, attr in discovered:
        if shape == 0:
            roots = count
        elif shape == 1:
            keys[(kind, polarity)] = count
        elif shape == 2:
            found.append((polarity, parameter_id, count, several))
        elif shape == 3:
            lot_codes[(kind, polarity)] = count
        else:
            lot_attrs[(kind, polarity, attr)] = count
    measured = _measurement_columns(found, checked_aggregations)
    columns = (
        _identity_columns(roots)
        + _group_columns(keys, roots)
        + ([_split_column(checked_split, roots)] if checked_split else [])
        + _lot_columns(kinds, lot_codes, lot_attrs)
        + measured
    )
    # The measurement columns come last, one or more per (polarity, parameter) pair: its slot.
    slots: dict[tuple[str | None, int], int] = {}
    layout = [
        (slots.setdefault((c.polarity, c.parameter.pk), len(slots)), c.aggregation or VALUE)
        for c in measured
        if c.parameter is not None
    ]
    pairs = list(slots)
    first = len(columns) - len(measured)
    group_stems = {kind: stem for stem, kind in GROUP_KEYS}
    names = [column.name for column in columns]
    if roots == 0:
        _release(temporary)
        return columns, iter(())
    sides: dict[int, str] = {}
    if checked_split:
        kind = dict(GROUP_KEYS)[checked_split["by"]]
        with connection.cursor() as cursor:
            cursor.execute(cte + _SPLIT_KEYS.format(kind=kind), params)
            sides = assign_split(cursor.fetchall(), checked_split["test"], checked_split["seed"])
    if connection.vendor == "postgresql":
        query = cte + _ROWS.format(arrays=_NO_ARRAYS, measures=_ARRAYS)
    else:
        query = cte + _ROWS.format(arrays="", measures=_MEASURES)

    def blocks() -> Iterator[Block]:
        cursor = connection.chunked_cursor() if connection.vendor == "postgresql" else connection.cursor()
        try:
            cursor.execute(query, params)
            block = _BlockBuilder(names[:first], [_pair_key(*pair) for pair in pairs], layout)
            current: int | None = None
            row: dict[str, Any] = {}
            codes: dict[str, list[str]] = {}
            while True:
                fetched = cursor.fetchmany(batch_size)
                if not fetched:
                    break
                for root_id, shape, code, kind, text, created_at, parameter_id, n, s, ss, mn, mx, *arrays in fetched:
                    if root_id != current:
                        if current is not None:
                            block.add(_finish(row, codes))
                            if block.size == batch_size:
                                yield block.build()
                        current, row, codes = root_id, {}, {}
                    if shape == 0:
                        row.update(code=code, kind=kind, status=text, created_at=_timestamp(created_at))
                        if sides:
                            row["split"] = sides.get(root_id)
                    elif shape == 1:
                        codes.setdefault(_group_column(group_stems[kind], text), []).append(code)
                    elif shape == 3:
                        codes.setdefault(f"{_lot_stem(kind, text)}.supplier_lot", []).append(code)
                    elif shape == 4:
                        row[f"{_lot_stem(kind, text)}.attr.{code}"] = s / n
                    elif arrays:
                        block.measures(*arrays)
                    else:
                        block.measures([_pair_key(text, parameter_id)], [n], [s], [ss], [mn], [mx])
            if current is not None:
                block.add(_finish(row, codes))
            if block.size:
                yield block.build()
        finally:
            cursor.close()
            _release(temporary)

    return columns, WideRows(names, blocks())


@dataclass(slots=True)
class Block:
    """Rows of the wide table, column by column: `values[i]` the Python values of column i (what
    the dict rows hold), and for the measurement columns also `arrays[i]`, the same as a numpy
    array and its validity mask (None: no nulls), to hand to Arrow without Python objects."""

    values: list[list[Any]]
    arrays: dict[int, tuple[np.ndarray, np.ndarray | None]]


class _BlockBuilder:
    """Collects the rows of a block: the other columns as small dicts, the measurements as the
    (key, n, sum, sum of squares, min, max) of each root's pairs, turned into columns at once."""

    def __init__(self, names: list[str], keys: list[int], layout: list[tuple[int, str]]) -> None:
        self.names = names
        self.pairs = len(keys)
        self.layout = layout  # per measurement column: (slot, aggregation)
        # From a pair's key to its slot (the place of its five columns), by binary search.
        self.order = np.argsort(np.asarray(keys, dtype=np.int64))
        self.keys = np.asarray(keys, dtype=np.int64)[self.order]
        self.size = 0
        self.rows: list[dict[str, Any]] = []
        self.parts: list[tuple[int, Any, Any, Any, Any, Any, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.size += 1

    def measures(self, keys: Any, n: Any, s: Any, ss: Any, mn: Any, mx: Any) -> None:
        """The pairs (their `_pair_key`) of the root being read (the next row added)."""
        self.parts.append((self.size, keys, n, s, ss, mn, mx))

    def build(self) -> Block:
        size, pairs = self.size, self.pairs
        values = [[row.get(name) for row in self.rows] for name in self.names]
        count = np.zeros((pairs, size), dtype=np.int64)
        sums, squares, low, high = (np.zeros((pairs, size)) for _ in range(4))
        if self.parts:
            keys = [_numbers(part[1], np.int64) for part in self.parts]
            where = (
                self.order[np.searchsorted(self.keys, np.concatenate(keys))],
                np.repeat([part[0] for part in self.parts], [len(k) for k in keys]),
            )
            for target, index in ((count, 2), (sums, 3), (squares, 4), (low, 5), (high, 6)):
                target[where] = np.concatenate([_numbers(part[index], target.dtype) for part in self.parts])
        present = count > 0
        several = count > 1
        # mean s / n; std the sample standard deviation from the sums, None for a single value
        # and 0 if rounding makes the variance negative.
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = sums / count
            variance = (squares - sums * sums / count) / (count - 1)
        std = np.zeros_like(variance)
        np.sqrt(variance, out=std, where=variance > 0)
        arrays: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        first = len(self.names)
        # A single value is its own mean (s / 1): the same array.
        sources = {
            "mean": (mean, present),
            VALUE: (mean, present),
            "min": (low, present),
            "max": (high, present),
            "std": (std, several),
            "n": (count, None),
        }
        python: dict[int, list[list[Any]]] = {}
        for offset, (slot, aggregation) in enumerate(self.layout):
            array, valid = sources[aggregation]
            if id(array) not in python:
                python[id(array)] = _python(array, valid)
            arrays[first + offset] = (array[slot], None if valid is None else valid[slot])
            values.append(python[id(array)][slot])
        self.size, self.rows, self.parts = 0, [], []
        return Block(values, arrays)


def _numbers(values: Any, dtype: Any) -> np.ndarray:
    """A list of numbers, or a one-dimensional array without NULLs as `array_send` gives it (a
    header of 20 bytes, then each element as its length in 4 bytes and its 8 bytes, big-endian)."""
    if not isinstance(values, bytes | memoryview):
        return np.asarray(values, dtype=dtype)
    element = np.dtype([("length", ">i4"), ("value", np.dtype(dtype).newbyteorder(">"))])
    return np.frombuffer(values, dtype=element, offset=20)["value"].astype(dtype)


def _pair_key(polarity: str | None, parameter_id: int) -> int:
    """`_PAIR_KEY`: a (polarity, parameter) pair as one number."""
    return parameter_id * (len(POLARITIES) + 1) + (POLARITIES.index(polarity) if polarity else len(POLARITIES))


def _python(array: np.ndarray, valid: np.ndarray | None) -> list[list[Any]]:
    """Rows of `array` as lists of Python numbers, None where not `valid`."""
    if valid is None:
        return array.tolist()
    boxed = array.astype(object)
    boxed[~valid] = None
    return boxed.tolist()


def _dicts(names: list[str], blocks: Iterator[Block]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        for values in zip(*block.values, strict=True):
            yield dict(zip(names, values, strict=True))


class WideRows(Iterator[dict[str, Any]]):
    """The rows of `dataset_rows`: an iterator of one dict per root, or, through `blocks()`, of
    the same rows column by column (for the Parquet writer). Use one or the other."""

    def __init__(self, names: list[str], blocks: Iterator[Block]) -> None:
        self.names = names
        self._blocks = blocks
        # Not a method: a generator holding `self` would make a cycle, and the server-side cursor
        # would then outlive a half-read iterator until the garbage collector came round.
        self._rows = _dicts(names, blocks)

    def __next__(self) -> dict[str, Any]:
        return next(self._rows)

    def blocks(self) -> Iterator[Block]:
        return self._blocks


# The pieces of the WITH clause run once each, in this order, into temporary tables that the
# later pieces, the discovery of the columns and the rows read.
_MATERIALISED = ("roots", "walk", "claims", "spans", "ops", "windows", "chosen", "agg")


def _pieces(cte: str) -> dict[str, str]:
    """The named pieces of a WITH clause, in order, each as `name(columns) AS (...)`."""
    starts = [(m.group(1), m.start(1)) for m in re.finditer(r"^(?:WITH RECURSIVE )?(\w+)\([\w, ]+\) AS \(", cte, re.M)]
    ends = [start for _name, start in starts[1:]] + [len(cte)]
    return {name: cte[start:end].rstrip().rstrip(",") for (name, start), end in zip(starts, ends, strict=True)}


def _materialise(cte: str, root_params: list[Any], parameter_params: list[Any]) -> tuple[str, list[Any], list[str]]:
    """Run the walk, the claims and the aggregation once, into temporary tables, for both the
    discovery of the columns and the rows. Returns the WITH clause to read them through, its
    parameters (none) and the tables to drop."""
    pieces = _pieces(cte)
    params = {"roots": root_params, "chosen": parameter_params}
    stem = f"dataset_{uuid.uuid4().hex[:12]}"
    made: dict[str, str] = {}
    names = list(pieces)
    with connection.cursor() as cursor:
        for name in _MATERIALISED:
            table = f"{stem}_{name}"
            reads = [f"{done} AS (SELECT * FROM {made[done]})" for done in made]
            fresh = [pieces[n] for n in names[: names.index(name) + 1] if n not in made]
            query = "WITH RECURSIVE " + ",\n".join(reads + fresh) + f"\nSELECT * FROM {name}"
            cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {query}", params.get(name, []))
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {table}")  # autovacuum never analyses temporary tables
            made[name] = table
    rest = [pieces[n] for n in names[names.index(_MATERIALISED[-1]) + 1 :]]
    reads = [f"{done} AS (SELECT * FROM {table})" for done, table in made.items()]
    return "WITH " + ",\n".join(reads + rest) + "\n", [], list(made.values())


# The tables the export reads. Right after a bulk load (the demo, an import) PostgreSQL has no
# statistics on them until autovacuum comes round, and plans the walk's joins as if they were
# empty: minutes instead of seconds.
_READ_TABLES = (
    "lots_item",
    "traceability_lineageedge",
    "traceability_operation",
    "traceability_operationinput",
    "traceability_station",
    "measurements_measurement",
    "measurements_parameter",
)


def _analyze_unanalyzed() -> None:
    """One statement whatever the state: the tables are names in this module, not input."""
    if connection.vendor != "postgresql":
        return
    names = ", ".join(f"'{table}'" for table in _READ_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(
            "DO $$ DECLARE t text; BEGIN "
            f"FOR t IN SELECT relname FROM pg_stat_user_tables WHERE relname IN ({names}) "
            "AND last_analyze IS NULL AND last_autoanalyze IS NULL "
            "LOOP EXECUTE format('ANALYZE %I', t); END LOOP; END $$"
        )


def _release(tables: list[str]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and tables:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")  # SQLite drops one at a time
        else:
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
    _work_mem(None)


def _work_mem(size: str | None) -> None:
    """Give the export's de-duplication and aggregation room to hash in memory (a value along a
    roll reaches several cells, millions of pairs on a real line), then hand the connection back
    as it was. PostgreSQL only; `size` None resets."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if size is None:
            cursor.execute("RESET work_mem")
        else:
            cursor.execute("SELECT set_config('work_mem', %s, false)", [size])


def _finish(row: dict[str, Any], codes: dict[str, list[str]]) -> dict[str, Any]:
    for name, found in codes.items():
        row[name] = ",".join(sorted(found))
    return row
