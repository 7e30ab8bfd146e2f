"""The roll map listing's `results` as JSON text built by PostgreSQL (issue 14).

A cell's roll map lists ~10,000 values of 29 columns: fetching them into Python, a dict each,
then orjson, cost ten times the two statements that find them. Here the walk and the values
stay as `selectors_upstream` finds and de-duplicates them, each value carrying the columns the
listing writes from the scan that found it (no second read of the measurement table); one
statement joins the codes they name and concatenates each value's JSON in the listing's key
order, sorted as `upstream_listing` sorts. PostgreSQL only: others take `upstream_listing`.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field
from django.utils import timezone

from lots.models import Item
from traceability.models import Station
from traceability.selectors import MAX_DEPTH
from traceability.selectors_graph import fetch_text_bytes, json_number

from .belonging import item_operations_sql
from .models import Measurement, Parameter, Source
from .selectors import values_union, walk_cte
from .selectors_upstream import MEASUREMENT_COLUMNS


def _text(column: str) -> str:
    # Most text columns are empty: to_json costs a type lookup per call.
    return f"CASE WHEN {column} = '' THEN '\"\"' ELSE COALESCE(CAST(to_json({column}) AS TEXT), 'null') END"


def _choice(column: str, values: list[str]) -> str:
    # The choices' text as constants (they need no escaping), to_json for anything else.
    known = " ".join(f"WHEN '{value}' THEN '\"{value}\"'" for value in values if value.isidentifier())
    return f"CASE {column} {known} ELSE {_text(column)} END"


def _integer(column: str) -> str:
    return f"COALESCE(CAST({column} AS TEXT), 'null')"


def _boolean(column: str) -> str:
    return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' ELSE 'null' END"


# As DRF's DateTimeField: ISO 8601 in the current time zone, microseconds (6 digits) only when
# not zero, 'Z' for a zero offset. x.stamp is to_json of the wall time there (its fraction without
# trailing zeros, in no DateStyle), x.off its offset from UTC. Two cheap pieces, not to_char per row.
_MEASURED_AT = ", ".join(
    (  # two arguments of the object's concat()
        "CASE WHEN length(x.stamp) = 21 THEN left(x.stamp, 20) ELSE rpad(left(x.stamp, -1), 27, '0') END",
        """CASE WHEN x.off = INTERVAL '0' THEN 'Z"'
            WHEN x.off > INTERVAL '0' THEN '+' || to_char(x.off, 'HH24:MI') || '"'
            ELSE '-' || to_char(-x.off, 'HH24:MI') || '"' END""",
    )
)

# The keys of MeasurementSerializer, in its order, then the way the value belongs.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "CAST(x.id AS TEXT)"),
    ("parameter", "x.parameter_text"),  # with step and unit: one text per parameter
    ("step", ""),
    ("unit", ""),
    ("value", json_number("x.value")),
    ("series", "COALESCE(CAST(x.series AS TEXT), 'null')"),
    ("file", "CASE WHEN x.file <> '' THEN '\"/api/measurements/' || x.id || '/file/\"' ELSE 'null' END"),
    ("file_sha256", _text("x.file_sha256")),
    ("file_format", _text("x.file_format")),
    ("file_reader", _text("x.file_reader")),
    ("derived_from", _integer("x.derived_from_id")),
    ("sent_value", json_number("x.sent_value")),
    ("sent_unit", "x.sent_unit_text"),
    ("item", "x.item_code"),
    ("operation", _integer("x.operation_id")),
    ("station", "COALESCE(x.station_code, 'null')"),
    ("room", _text("x.room")),
    ("position_m", json_number("x.position_m")),
    ("measured_at", _MEASURED_AT),
    ("source", _choice("x.source", Source.values)),
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
    ("from_m", "x.ends_text"),  # with to_m and via: one text per stretch
    ("to_m", ""),
    ("via", ""),
    ("mapped_position_m", json_number("x.mapped")),
)
LISTED_KEYS = tuple(key for key, _ in _FIELDS)


def _column(path: str) -> str:
    """The measurement table's column behind a MEASUREMENT_COLUMNS path (a relation: its key)."""
    field = Measurement._meta.get_field(path.split("__")[0])
    assert isinstance(field, Field) and field.column  # a concrete column of the table
    column: str = field.column
    return column


# The columns the listing writes, carried along with each value found (no second read of the
# measurement table): those the Python listing reads, so that both list the same fields. Carried
# under the same names, but the measured item's, apart from the walk's item_id.
_READ = tuple(dict.fromkeys(_column(path) for path in MEASUREMENT_COLUMNS if path != "id"))
_CARRIED = tuple("measured_item_id" if column == "item_id" else column for column in _READ)
# How each value was found, from the walk's row or the operation's: codes, places, and the text of
# the stretch's rounded ends and via (its from_m, to_m and via keys, written once a stretch).
_WAYS = ("upstream_code", "upstream_place", "via_place", "ends_text")
_OF_WALK = "".join(f", w.{column}" for column in _WAYS)
_OF_OPS = """, ops.upstream_code, ops.upstream_place, CAST(NULL AS BIGINT), 'null,"to_m":null,"via":null'"""


def _pieces(fields: tuple[tuple[str, str], ...], tail: tuple[str, ...] = ()) -> list[str]:
    """An object as the arguments of one concat(): the key text between the values as literals
    (one call per value, not an allocation per || of some forty)."""
    pieces = []
    for n, (key, expr) in enumerate(fields):
        if expr:  # no expression: the key and its value are in the one before
            pieces += [("'{" if n == 0 else "',") + f'"{key}":\'', expr]
    return [*pieces, *tail, "'}'"]


def _metres_sql(column: str, places: int = 6) -> str:
    """`selectors.rounded` in SQL."""
    return f"CAST(round(CAST({column} AS numeric), {places}) AS double precision)"


def _listing_sql(*, parameter: bool, step: bool, rows: bool = False) -> str:
    """The walk, its distinct stretches, the values they hold, each kept once (the way of least
    depth, then lowest stretch, as `selectors.unique_rows`), then the listing's text, sorted
    as `selectors.listing_order` sorts: one statement, no row leaving the database. The rows
    are sorted before their text is written (sorting 6 MB of text in the aggregate spilled to
    disk), and the aggregate reads the materialized rows in that order. `rows`: the same values
    as rows, no text (the benchmark's ceiling)."""
    value = "concat(" + ", ".join(_pieces(_FIELDS, tail=("',\"upstream\":'", *_pieces(_UPSTREAM)))) + ")"
    where = " AND ".join(
        [cond for cond, wanted in (("p.raw_code = %(parameter)s", parameter), ("p.step_id = %(step)s", step)) if wanted]
    )
    ops = item_operations_sql("w.item_id, MIN(w.depth) AS depth", group_by="w.item_id")
    # The few parameters, stations, users and walked items JSON-encoded once each, not once per value.
    return f"""
{walk_cte("walked")},
stretches AS MATERIALIZED (SELECT DISTINCT item_id, lo, hi, xa, xb, via_id, depth FROM walked),
ends AS MATERIALIZED (  -- the few stretch ends, rounded once each rather than once per value
    SELECT v, {_metres_sql("v")} AS metres FROM (SELECT lo AS v FROM stretches UNION SELECT hi FROM stretches) e
    WHERE v IS NOT NULL
), codes AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY code COLLATE "C") AS place, CAST(to_json(code) AS TEXT) AS code
    FROM {Item._meta.db_table}
    WHERE id IN (SELECT item_id FROM stretches UNION SELECT via_id FROM stretches)
), walk AS MATERIALIZED (  -- each stretch with its codes and rounded ends, which its values carry
    SELECT w.*, uc.code AS upstream_code, uc.place AS upstream_place, vc.place AS via_place,
        concat({json_number("el.metres")}, ',"to_m":', {json_number("eh.metres")}, ',"via":', COALESCE(vc.code, 'null'))
        AS ends_text
    FROM stretches w
    JOIN codes uc ON uc.id = w.item_id
    LEFT JOIN codes vc ON vc.id = w.via_id
    LEFT JOIN ends el ON el.v = w.lo
    LEFT JOIN ends eh ON eh.v = w.hi
), ops AS MATERIALIZED (
    SELECT o.*, c.code AS upstream_code, c.place AS upstream_place FROM ({ops}) o JOIN codes c ON c.id = o.item_id
),
found(m_id, item_id, depth, lo, hi, mapped, via_id, relation, {", ".join(_CARRIED + _WAYS)}) AS (
{values_union("".join(f", m.{column}" for column in _READ), of_walk=_OF_WALK, of_ops=_OF_OPS)}
),
belong AS MATERIALIZED (  -- the keys first (see `listed`), the measurement's columns last
    SELECT DISTINCT ON (m_id, item_id, relation, via_id, mapped9)
        m_id, item_id, relation, via_id, {_metres_sql("mapped", 9)} AS mapped9, depth, upstream_place,
        via_place, {_metres_sql("mapped")} AS mapped, {", ".join(_CARRIED)}, upstream_code, ends_text
    FROM found
    ORDER BY m_id, item_id, relation, via_id, mapped9, depth, lo NULLS FIRST, hi NULLS FIRST
), p AS MATERIALIZED (
    SELECT id, code AS raw_code, step_id,
        concat(to_json(code), ',"step":', {_text("step_id")}, ',"unit":', to_json(unit)) AS text,
        unit, CAST(to_json(unit) AS TEXT) AS unit_text
    FROM {Parameter._meta.db_table}
), s AS MATERIALIZED (
    SELECT id, CAST(to_json(code) AS TEXT) AS code FROM {Station._meta.db_table}
), u AS MATERIALIZED (
    SELECT id, CAST(to_json(username) AS TEXT) AS username FROM {get_user_model()._meta.db_table}
), listed AS MATERIALIZED (
    -- The sort keys first (the first five fixed-width, never null): the sort reads each key of
    -- each comparison from the row, and a key behind variable-width columns costs a walk over them.
    SELECT r.depth, r.upstream_place, r.parameter_id, r.measured_at, r.m_id AS id,
        r.relation COLLATE "C" AS raw_relation, r.via_place, r.mapped,
        r.value, r.series, r.file, r.file_sha256, r.file_format, r.file_reader, r.derived_from_id,
        r.sent_value, r.operation_id, r.room, r.position_m, r.source, r.instrument, r.method,
        r.uncertainty, r.out_of_range, r.out_of_limits, r.supersedes_id, r.correction_reason,
        p.text AS parameter_text,
        -- The sent unit is most often the parameter's, the measured item the upstream one: both written already.
        CASE WHEN r.sent_unit = p.unit THEN p.unit_text ELSE {_text("r.sent_unit")} END AS sent_unit_text,
        CASE WHEN r.measured_item_id = r.item_id THEN r.upstream_code
            ELSE COALESCE((SELECT {_text("mi.code")} FROM {Item._meta.db_table} mi WHERE mi.id = r.measured_item_id),
                'null') END
        AS item_code, s.code AS station_code,
        u.username, r.upstream_code, '"' || r.relation || '"' AS relation,
        r.ends_text,
        CAST(to_json(r.measured_at AT TIME ZONE %(zone)s) AS TEXT) AS stamp,
        (r.measured_at AT TIME ZONE %(zone)s) - (r.measured_at AT TIME ZONE 'UTC') AS off
    FROM belong r
    JOIN p ON p.id = r.parameter_id
    LEFT JOIN s ON s.id = r.station_id
    LEFT JOIN u ON u.id = r.created_by_id
    {"WHERE " + where if where else ""}
    ORDER BY 1, 2, 3, 4, 5, 6, 7 NULLS FIRST, 8 NULLS FIRST
)
{"SELECT * FROM listed" if rows else f"SELECT COALESCE(string_agg({value}, ','), '') FROM listed x"}"""


def listing_rows_sql() -> str:
    """The listing's values as rows, in its order, without the text: what the body says."""
    return _listing_sql(parameter=False, step=False, rows=True)


def upstream_listing_json(*, item: Item, parameter: str | None = None, step: str | None = None) -> bytes:
    """The JSON array `upstream_listing` + the serializer give, as one text value (PostgreSQL),
    in one query."""
    assert connection.vendor == "postgresql", "other databases take upstream_listing"
    params: dict[str, Any] = {
        "item": item.pk,
        "max_depth": MAX_DEPTH,
        "zone": timezone.get_current_timezone_name(),
        "parameter": parameter,
        "step": step,
    }
    with connection.cursor() as cursor:
        body = fetch_text_bytes(cursor, _listing_sql(parameter=bool(parameter), step=bool(step)), params)
    return b"[" + body + b"]"
