"""The roll map listing's `results` as JSON text built by PostgreSQL (issue 14).

A cell's roll map lists ~10,000 values of 29 columns: fetching them into Python, a dict each,
then orjson, cost ten times the two statements that find them. Here the walk and the values
stay as `selectors_upstream` finds and de-duplicates them, and one statement joins the
measurements with the codes they name and concatenates each value's JSON in the listing's key
order, sorted as `upstream_listing` sorts. PostgreSQL only: others take `upstream_listing`.
"""

from collections.abc import Iterable
from typing import Any

import orjson
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from lots.models import Item
from traceability.models import Station
from traceability.selectors_graph import json_number

from .models import Measurement, Parameter
from .selectors import _metres, unique_rows


def _text(column: str) -> str:
    # Most text columns are empty: to_json costs a type lookup per call.
    return f"CASE WHEN {column} = '' THEN '\"\"' ELSE COALESCE(CAST(to_json({column}) AS TEXT), 'null') END"


def _integer(column: str) -> str:
    return f"COALESCE(CAST({column} AS TEXT), 'null')"


def _boolean(column: str) -> str:
    return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' ELSE 'null' END"


# As DRF's DateTimeField: ISO 8601 in the current time zone, microseconds only when not zero,
# 'Z' for a zero offset. x.local is the wall time there, x.off its offset from UTC.
_MEASURED_AT = """'"' || to_char(x.local, 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN to_char(x.local, 'US') = '000000' THEN '' ELSE to_char(x.local, '.US') END
    || CASE WHEN x.off = INTERVAL '0' THEN 'Z'
            WHEN x.off > INTERVAL '0' THEN '+' || to_char(x.off, 'HH24:MI')
            ELSE '-' || to_char(-x.off, 'HH24:MI') END || '"'"""

# The keys of MeasurementSerializer, in its order, then the way the value belongs.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "CAST(x.id AS TEXT)"),
    ("parameter", "x.parameter_code"),
    ("step", "x.step_json"),
    ("unit", "x.unit"),
    ("value", json_number("x.value")),
    ("series", "COALESCE(CAST(x.series AS TEXT), 'null')"),
    ("file", "CASE WHEN x.file <> '' THEN '\"/api/measurements/' || x.id || '/file/\"' ELSE 'null' END"),
    ("file_sha256", _text("x.file_sha256")),
    ("file_format", _text("x.file_format")),
    ("file_reader", _text("x.file_reader")),
    ("derived_from", _integer("x.derived_from_id")),
    ("sent_value", json_number("x.sent_value")),
    ("sent_unit", _text("x.sent_unit")),
    ("item", _text("x.item_code")),
    ("operation", _integer("x.operation_id")),
    ("station", "COALESCE(x.station_code, 'null')"),
    ("room", _text("x.room")),
    ("position_m", json_number("x.position_m")),
    ("measured_at", _MEASURED_AT),
    ("source", _text("x.source")),
    ("instrument", _text("x.instrument")),
    ("method", _text("x.method")),
    ("uncertainty", json_number("x.uncertainty")),
    ("out_of_range", _boolean("x.out_of_range")),
    ("out_of_limits", _boolean("x.out_of_limits")),
    ("supersedes", _integer("x.supersedes_id")),
    ("correction_reason", _text("x.correction_reason")),
    ("created_by", "COALESCE(x.username, 'null')"),
)
_UPSTREAM: tuple[tuple[str, str], ...] = (
    ("item", "x.upstream_code"),
    ("depth", "CAST(x.depth AS TEXT)"),
    ("relation", "x.relation"),
    ("from_m", json_number("x.lo")),
    ("to_m", json_number("x.hi")),
    ("via", "x.via_code"),
    ("mapped_position_m", json_number("x.mapped")),
)
LISTED_KEYS = tuple(key for key, _ in _FIELDS)


def _pieces(fields: tuple[tuple[str, str], ...], tail: tuple[str, ...] = ()) -> list[str]:
    """An object as the arguments of one concat(): the key text between the values as literals
    (one call per value, not an allocation per || of some forty)."""
    pieces = []
    for n, (key, expr) in enumerate(fields):
        pieces += [("'{" if n == 0 else "',") + f'"{key}":\'', expr]
    return [*pieces, *tail, "'}'"]


def _array(values: Iterable[object]) -> str:
    """An array literal: binding 10,000 values one by one cost more than the statement."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def _metres_array(values: Iterable[float | None]) -> str:
    """`_metres` of each value as an array literal; a walk's stretches repeat a few ends."""
    done: dict[float | None, str] = {}
    for v in values:
        if v not in done:
            done[v] = "NULL" if v is None else str(_metres(v))
    return "{" + ",".join(done[v] for v in values) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _listing_sql(*, parameter: bool, step: bool) -> str:
    value = "concat(" + ", ".join(_pieces(_FIELDS, tail=("',\"upstream\":'", *_pieces(_UPSTREAM)))) + ")"
    where = " AND ".join(
        [cond for cond, wanted in (("p.raw_code = %(parameter)s", parameter), ("p.step_id = %(step)s", step)) if wanted]
    )
    # Sorted as upstream_listing sorts.
    # The few parameters, stations and users JSON-encoded once each, not once per value.
    return f"""
WITH p AS MATERIALIZED (
    SELECT id, code AS raw_code, step_id, CAST(to_json(code) AS TEXT) AS code,
        {_text("step_id")} AS step_json, CAST(to_json(unit) AS TEXT) AS unit
    FROM {Parameter._meta.db_table}
), s AS MATERIALIZED (
    SELECT id, CAST(to_json(code) AS TEXT) AS code FROM {Station._meta.db_table}
), u AS MATERIALIZED (
    SELECT id, CAST(to_json(username) AS TEXT) AS username FROM {get_user_model()._meta.db_table}
)
SELECT COALESCE(string_agg({value}, ','
    ORDER BY x.depth, x.code_rank, x.parameter_id, x.measured_at, x.ord), '')
FROM (
    SELECT m.*, p.code AS parameter_code, p.step_json, p.unit, mi.code AS item_code, s.code AS station_code,
        u.username, r.upstream_code, r.code_rank, r.depth, r.relation, r.lo, r.hi, r.via_code, r.mapped, r.ord,
        m.measured_at AT TIME ZONE %(zone)s AS local,
        (m.measured_at AT TIME ZONE %(zone)s) - (m.measured_at AT TIME ZONE 'UTC') AS off
    FROM unnest(%(ids)s::bigint[], %(codes)s::text[], %(ranks)s::integer[], %(depths)s::integer[],
                %(relations)s::text[],
                %(lo)s::double precision[], %(hi)s::double precision[], %(vias)s::text[],
                %(mapped)s::double precision[])
         WITH ORDINALITY AS r(m_id, upstream_code, code_rank, depth, relation, lo, hi, via_code, mapped, ord)
    JOIN {Measurement._meta.db_table} m ON m.id = r.m_id
    JOIN p ON p.id = m.parameter_id
    LEFT JOIN {Item._meta.db_table} mi ON mi.id = m.item_id
    LEFT JOIN s ON s.id = m.station_id
    LEFT JOIN u ON u.id = m.created_by_id
    {"WHERE " + where if where else ""}
) x"""


def upstream_listing_json(*, item: Item, parameter: str | None = None, step: str | None = None) -> bytes:
    """The JSON array `upstream_listing` + the serializer give, as one text value (PostgreSQL)."""
    assert connection.vendor == "postgresql", "other databases take upstream_listing"
    unique = unique_rows(item)  # as upstream_listing finds them
    if not unique:
        return b"[]"
    ids, items, depths, lo, hi, mapped, vias, relations = zip(*unique.values(), strict=True)
    # The few items named, once (a join of the item table per value cost more than the rest).
    codes = dict(Item.objects.filter(pk__in=set(items) | (set(vias) - {None})).values_list("pk", "code"))
    # The codes as JSON text, as array elements: the statement only concatenates them.
    quoted = {pk: _quoted(orjson.dumps(code).decode()) for pk, code in codes.items()}
    # Sorted by the code as Python sorts str (upstream_listing), whatever the collation.
    rank = {pk: n for n, pk in enumerate(sorted(codes, key=codes.__getitem__))}
    params: dict[str, Any] = {
        "ids": _array(ids),
        "codes": _array(quoted[pk] for pk in items),
        "ranks": _array(rank[pk] for pk in items),
        "depths": _array(depths),
        "relations": _array(_quoted(orjson.dumps(r).decode()) for r in relations),
        "lo": _metres_array(lo),
        "hi": _metres_array(hi),
        "vias": _array(quoted[pk] if pk else '"null"' for pk in vias),
        "mapped": _metres_array(mapped),
        "zone": timezone.get_current_timezone_name(),
        "parameter": parameter,
        "step": step,
    }
    with connection.cursor() as cursor:
        cursor.execute(_listing_sql(parameter=bool(parameter), step=bool(step)), params)
        (body,) = cursor.fetchone()
    return b"[" + str(body).encode() + b"]"
