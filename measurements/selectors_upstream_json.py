"""The roll map listing's `results` as JSON text built by PostgreSQL (issue 14).

A cell's roll map lists ~10,000 values of 29 columns: fetching them into Python, a dict each,
then orjson, cost ten times the two statements that find them. Here the walk and the values
stay as `selectors_upstream` finds and de-duplicates them, and one statement joins the
measurements with the codes they name and concatenates each value's JSON in the listing's key
order, sorted as `upstream_listing` sorts. PostgreSQL only: others take `upstream_listing`.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from lots.models import Item
from traceability.models import Station
from traceability.selectors_graph import json_number

from .models import Measurement, Parameter
from .selectors import _metres, upstream_rows


def _text(column: str) -> str:
    return f"COALESCE(CAST(to_json({column}) AS TEXT), 'null')"


def _integer(column: str) -> str:
    return f"COALESCE(CAST({column} AS TEXT), 'null')"


def _boolean(column: str) -> str:
    return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' ELSE 'null' END"


# As DRF's DateTimeField: ISO 8601 in the current time zone, microseconds only when not zero,
# 'Z' for a zero offset. t.local is the wall time there, t.off its offset from UTC.
_MEASURED_AT = """'"' || to_char(t.local, 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN to_char(t.local, 'US') = '000000' THEN '' ELSE to_char(t.local, '.US') END
    || CASE WHEN t.off = INTERVAL '0' THEN 'Z'
            WHEN t.off > INTERVAL '0' THEN '+' || to_char(t.off, 'HH24:MI')
            ELSE '-' || to_char(-t.off, 'HH24:MI') END || '"'"""

# The keys of MeasurementSerializer, in its order, then the way the value belongs.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "CAST(m.id AS TEXT)"),
    ("parameter", _text("p.code")),
    ("step", _text("p.step_id")),
    ("unit", _text("p.unit")),
    ("value", json_number("m.value")),
    ("series", "COALESCE(CAST(m.series AS TEXT), 'null')"),
    ("file", "CASE WHEN m.file <> '' THEN '\"/api/measurements/' || m.id || '/file/\"' ELSE 'null' END"),
    ("file_sha256", _text("m.file_sha256")),
    ("file_format", _text("m.file_format")),
    ("file_reader", _text("m.file_reader")),
    ("derived_from", _integer("m.derived_from_id")),
    ("sent_value", json_number("m.sent_value")),
    ("sent_unit", _text("m.sent_unit")),
    ("item", _text("mi.code")),
    ("operation", _integer("m.operation_id")),
    ("station", _text("s.code")),
    ("room", _text("m.room")),
    ("position_m", json_number("m.position_m")),
    ("measured_at", _MEASURED_AT),
    ("source", _text("m.source")),
    ("instrument", _text("m.instrument")),
    ("method", _text("m.method")),
    ("uncertainty", json_number("m.uncertainty")),
    ("out_of_range", _boolean("m.out_of_range")),
    ("out_of_limits", _boolean("m.out_of_limits")),
    ("supersedes", _integer("m.supersedes_id")),
    ("correction_reason", _text("m.correction_reason")),
    ("created_by", _text("u.username")),
)
_UPSTREAM: tuple[tuple[str, str], ...] = (
    ("item", "to_json(ui.code)"),
    ("depth", "CAST(r.depth AS TEXT)"),
    ("relation", "to_json(r.relation)"),
    ("from_m", json_number("r.lo")),
    ("to_m", json_number("r.hi")),
    ("via", _text("vi.code")),
    ("mapped_position_m", json_number("r.mapped")),
)
LISTED_KEYS = tuple(key for key, _ in _FIELDS)


def _object(fields: tuple[tuple[str, str], ...], tail: str = "") -> str:
    """One concatenation: the key text between the values, as literals."""
    parts = []
    for n, (key, expr) in enumerate(fields):
        parts.append(("'{" if n == 0 else "',") + f'"{key}":\' || {expr}')
    return " || ".join(parts) + f" || {tail}'}}'"


def _listing_sql(*, parameter: bool, step: bool) -> str:
    upstream = _object(_UPSTREAM)
    value = _object(_FIELDS, tail=f"',\"upstream\":' || {upstream} || ")
    where = " AND ".join(
        [cond for cond, wanted in (("p.code = %(parameter)s", parameter), ("p.step_id = %(step)s", step)) if wanted]
    )
    return f"""
SELECT COALESCE(string_agg({value}, ','
    ORDER BY r.depth, ui.code COLLATE "C", m.parameter_id, m.measured_at, r.ord), '')
FROM unnest(%(ids)s::bigint[], %(items)s::bigint[], %(depths)s::integer[], %(relations)s::text[],
            %(lo)s::double precision[], %(hi)s::double precision[], %(via)s::bigint[], %(mapped)s::double precision[])
     WITH ORDINALITY AS r(m_id, item_id, depth, relation, lo, hi, via_id, mapped, ord)
JOIN {Measurement._meta.db_table} m ON m.id = r.m_id
JOIN {Parameter._meta.db_table} p ON p.id = m.parameter_id
JOIN {Item._meta.db_table} ui ON ui.id = r.item_id
LEFT JOIN {Item._meta.db_table} vi ON vi.id = r.via_id
LEFT JOIN {Item._meta.db_table} mi ON mi.id = m.item_id
LEFT JOIN {Station._meta.db_table} s ON s.id = m.station_id
LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = m.created_by_id
CROSS JOIN LATERAL (
    SELECT m.measured_at AT TIME ZONE %(zone)s AS local,
           (m.measured_at AT TIME ZONE %(zone)s) - (m.measured_at AT TIME ZONE 'UTC') AS off
) t
{"WHERE " + where if where else ""}"""


def upstream_listing_json(*, item: Item, parameter: str | None = None, step: str | None = None) -> bytes:
    """The JSON array `upstream_listing` + the serializer give, as one text value (PostgreSQL)."""
    assert connection.vendor == "postgresql", "other databases take upstream_listing"
    unique: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in upstream_rows(item):  # de-duplicated as upstream_listing does
        key = (row[0], row[1], row[7], row[6], None if row[5] is None else round(row[5], 9))
        unique.setdefault(key, row)
    if not unique:
        return b"[]"
    ids, items, depths, lo, hi, mapped, via, relations = zip(*unique.values(), strict=True)
    params: dict[str, Any] = {
        "ids": list(ids),
        "items": list(items),
        "depths": list(depths),
        "relations": list(relations),
        "lo": [_metres(v) for v in lo],
        "hi": [_metres(v) for v in hi],
        "via": list(via),
        "mapped": [_metres(v) for v in mapped],
        "zone": timezone.get_current_timezone_name(),
        "parameter": parameter,
        "step": step,
    }
    with connection.cursor() as cursor:
        cursor.execute(_listing_sql(parameter=bool(parameter), step=bool(step)), params)
        (body,) = cursor.fetchone()
    return b"[" + str(body).encode() + b"]"
