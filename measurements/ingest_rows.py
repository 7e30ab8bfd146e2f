"""Bulk ingest, one row: the row format (COLUMNS), the cached lookups and the per-row check.

`RowRules.check` applies measurement_record's rules to one row with everything looked up once
per chunk (`missing` / `look_up`); it returns the row as a tuple in COLUMNS order, which the
writers (measurements.ingest_writers) hand to COPY or INSERT as is: a tuple, not a dataclass,
because it is built once per row in the hot loop.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from core.errors import DomainError, ErrorCode, InvalidInput
from core.values import finite, moment, number
from lots.models import Item
from lots.selectors import item_lookup_q
from traceability.models import Station

from .assignment import position_check
from .holds_limits import Violation
from .models import Measurement, OnViolation, Parameter, Scope, Source
from .selectors_limits import limit_book
from .services import Linear, linear_to_canonical, out_of_range, parameter_get

LOOKUP_BATCH = 5_000
ITEM_CACHE_LIMIT = 200_000

# The fields a row sends that are stored as sent, in columns of their own name.
_AS_SENT = ("room", "position_m", "measured_at", "source", "instrument", "method", "uncertainty")
FIELDS = ("parameter", "value", "unit", "item", "station", *_AS_SENT)
REQUIRED = ("parameter", "value", "measured_at")
SUBJECTS = ("item", "station", "room")
_FIELD_SET = frozenset(FIELDS)

# The stored columns, in the order of the tuples `RowRules.check` returns; the other columns
# (id, operation, series, file_size, supersedes) take their NULL / identity defaults.
COLUMNS = (
    "parameter_id",
    "item_id",
    "station_id",
    *_AS_SENT,
    "value",
    "sent_value",
    "sent_unit",
    "file",
    "file_sha256",
    "out_of_range",
    "out_of_limits",
    "correction_reason",
    "created_at",
    "created_by_id",
    "operation_id",
)
AT_PARAMETER, AT_ITEM = 0, 1
AT_OUT_OF_RANGE, AT_OUT_OF_LIMITS = COLUMNS.index("out_of_range"), COLUMNS.index("out_of_limits")
AT_STATION, AT_POSITION, AT_MEASURED_AT, AT_OPERATION, AT_VALUE = (
    COLUMNS.index(c) for c in ("station_id", "position_m", "measured_at", "operation_id", "value")
)
_LIMITS = {
    name: int(getattr(Measurement._meta.get_field(name), "max_length", 0) or 0)
    for name in ("room", "instrument", "method", "sent_unit")
}


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based data row; the CSV header is row 0
    field: str
    message: str
    code: str = InvalidInput.code

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message, "code": self.code}


class BulkInvalid(InvalidInput):
    """Bad rows (400): `errors` keyed "rows[<0-based index>].<field>", `rows` the list of
    {"row": 1-based, "field", "message"}; nothing was stored."""

    def __init__(self, row_errors: list[RowError], *, complete: bool) -> None:
        first = row_errors[0]
        more = len(row_errors) - 1
        tail = f" (and {more} more bad row{'s' if more != 1 else ''}{'' if complete else ', at least'})" if more else ""
        errors: dict[str, list[str]] = {}
        for e in row_errors:
            errors.setdefault(f"rows[{e.row - 1}].{e.field}", []).append(e.message)
        super().__init__(
            f"Row {first.row}, {first.field}: {first.message}{tail} Nothing was stored.",
            errors=errors,
        )
        self.rows = [e.as_dict() for e in row_errors]
        self.complete = complete


def _blank(raw: object) -> object:
    """None for an absent value ("" in a CSV cell); strings stripped."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.strip()
        return raw or None
    return raw


def _text(raw: object, field: str) -> str:
    """An optional string field ("" when absent), stripped, within its column's length."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidInput("A string is required.", field=field)
    raw = raw.strip()
    limit = _LIMITS[field]
    if len(raw) > limit:
        raise InvalidInput(f"At most {limit} characters.", field=field)
    return raw


def _again(exc: InvalidInput) -> InvalidInput:
    """A fresh copy of a cached error (re-raising one instance would grow its traceback)."""
    return InvalidInput(exc.message, code=exc.code, errors=exc.errors)


def row_error(number: int, exc: DomainError) -> RowError:
    field, messages = next(iter(exc.errors.items()), ("row", [exc.message]))
    return RowError(number, field or "row", messages[0] if messages else exc.message, exc.code)


_SOURCES = frozenset(Source.values)
_LOOKED_UP = ("parameter", "item", "station")


# --- the cold paths of `RowRules.check`: called only on a bad row or an optional field sent ----


def _fields_error(raw: Mapping[Any, Any]) -> InvalidInput:
    """A row with a field bulk does not take (the key None: more CSV cells than the header)."""
    unknown = [k for k in raw if k not in _FIELD_SET]
    if None in unknown:
        extra = raw[None]
        message = extra if isinstance(extra, str) else "The row has more fields than the header."
        return InvalidInput(message, field="row")
    return InvalidInput(f"Unknown field; bulk rows take {', '.join(FIELDS)}.", field=str(unknown[0]))


def _parameter_error(code: object, found: InvalidInput | None) -> InvalidInput:
    if found is not None:
        return _again(found)
    if _blank(code) is None:
        return InvalidInput("parameter is required.", field="parameter")
    return InvalidInput(f"Unknown parameter {code!r}.", field="parameter", code=ErrorCode.UNKNOWN_PARAMETER)


def _source(sent: object) -> str:
    """A source not sent exactly as "online" / "offline": stripped, blank is offline."""
    source = _blank(sent) or Source.OFFLINE
    if source not in _SOURCES:
        raise InvalidInput("source is online or offline.", field="source")
    return str(source)


def _uncertainty(sent: object, linear: Linear) -> float:
    """The sent uncertainty in the canonical unit (scaled, never offset)."""
    uncertainty = number(sent, field="uncertainty")
    if uncertainty < 0:
        raise InvalidInput("uncertainty cannot be negative.", field="uncertainty")
    return finite(abs(linear.scale) * uncertainty, field="uncertainty")


@dataclass(frozen=True)
class Missing:
    """Codes of a chunk not looked up yet."""

    parameters: set[str]
    items: set[str]
    stations: set[str]

    def __bool__(self) -> bool:
        return bool(self.parameters or self.items or self.stations)


class RowRules:
    """measurement_record's rules, with everything looked up once and cached.

    The caches are keyed by the value as sent (so a row costs dict lookups, no stripping);
    the lookups themselves use the stripped code."""

    def __init__(self, *, created_at: datetime, created_by_id: int | None) -> None:
        self.created_at = created_at
        self.created_by_id = created_by_id
        self.parameters: dict[str, tuple[int, Parameter] | InvalidInput] = {}
        self.linears: dict[tuple[int, object], tuple[Linear, str] | InvalidInput] = {}
        self.items: dict[str, tuple[int, Item] | None] = {}
        self.stations: dict[str, int | None] = {}
        self.station_codes: dict[int, str] = {}
        # Parameters whose station-only rows are assigned by station and time, with their step.
        self.by_station: dict[int, str | None] = {}
        # Every active limit, read once; item scopes are read with each batch of item codes.
        self.limits = limit_book(None)
        self.violations: list[Violation] = []

    # --- lookups (they need the connection: no COPY may be open) ---------------------------

    def missing(self, chunk: list[Any]) -> Missing:
        """Codes of the chunk not looked up yet."""
        if len(self.items) > ITEM_CACHE_LIMIT:
            self.items.clear()
        caches: tuple[dict[str, Any], ...] = (self.parameters, self.items, self.stations)
        new: tuple[set[str], set[str], set[str]] = (set(), set(), set())
        for field, known, found in zip(_LOOKED_UP, caches, new, strict=True):
            # A list, not a set: a JSON row may hold an unhashable list where a code belongs.
            codes = [raw.get(field) for raw in chunk if raw.__class__ is dict or isinstance(raw, Mapping)]
            found.update(code for code in codes if isinstance(code, str) and code not in known and code.strip())
        return Missing(*new)

    def look_up(self, missing: Missing) -> None:
        for code in missing.parameters:
            try:
                parameter = parameter_get(code.strip())
                self.parameters[code] = (parameter.pk, parameter)
                if parameter.scope != Scope.ENVIRONMENT:
                    self.by_station[parameter.pk] = parameter.step_id
            except InvalidInput as exc:
                self.parameters[code] = exc
        sent = sorted(missing.items)
        for start in range(0, len(sent), LOOKUP_BATCH):
            batch = sent[start : start + LOOKUP_BATCH]
            items_found = Item.objects.filter(code__in={c.strip() for c in batch if "\x00" not in c}).only(
                "id", "code", "length_m"
            )
            found = {i.code: i for i in items_found}
            for raw in batch:
                code = raw.strip()
                item = found.get(code)
                if item is None and (lookup := item_lookup_q(code)) != Q(code=code):  # Digital Link or EPC
                    item = Item.objects.filter(lookup).only("id", "code", "length_m").first()
                self.items[raw] = (item.pk, item) if item is not None else None
            self.limits.extend(entry[0] for raw in batch if (entry := self.items[raw]) is not None)
        sent = sorted(missing.stations)
        for start in range(0, len(sent), LOOKUP_BATCH):
            batch = sent[start : start + LOOKUP_BATCH]
            ids = dict(
                Station.objects.filter(code__in={c.strip() for c in batch if "\x00" not in c}).values_list("code", "id")
            )
            for raw in batch:
                self.stations[raw] = ids.get(raw.strip())
            self.station_codes.update({pk: code for code, pk in ids.items()})

    def limits_flag(self, parameter_pk: int, item_id: int | None, value: float, position: float | None) -> bool | None:
        """out_of_limits against the limit that applies (None: none does); a "hold" limit's
        violation is kept to be held once the rows are stored."""
        if not self.limits:
            return None
        limit = self.limits.limit(parameter_pk, item_id)
        if limit is None:
            return None
        outside = limit.excludes(value)
        if outside and item_id is not None and limit.on_violation == OnViolation.HOLD:
            self.violations.append(Violation(limit=limit, item_id=item_id, value=value, position_m=position))
        return outside

    # --- one row ----------------------------------------------------------------------------

    def _linear(self, parameter_pk: int, parameter: Parameter, unit: object) -> tuple[Linear, str]:
        key = (parameter_pk, unit)
        try:
            found = self.linears.get(key)
        except TypeError:  # an unhashable unit (a JSON list or object)
            raise InvalidInput("unit is a string pint understands.", field="unit", code=ErrorCode.BAD_UNIT) from None
        if found is None:
            try:
                text = _blank(unit)
                if text is not None and not isinstance(text, str):
                    raise InvalidInput("unit is a string pint understands.", field="unit", code=ErrorCode.BAD_UNIT)
                if text is not None and len(text) > _LIMITS["sent_unit"]:
                    raise InvalidInput(f"At most {_LIMITS['sent_unit']} characters.", field="unit")
                found = (linear_to_canonical(text, parameter), text or "")
            except InvalidInput as exc:
                found = exc
            self.linears[key] = found
        if isinstance(found, InvalidInput):
            raise _again(found)
        return found

    def check(self, raw: Any) -> tuple[Any, ...]:
        """The row to store (in COLUMNS order), or InvalidInput naming the field."""
        if raw.__class__ is not dict and not isinstance(raw, Mapping):
            raise InvalidInput("Each row is an object of field names and values.", field="row")
        if not _FIELD_SET.issuperset(raw):
            raise _fields_error(raw)
        get = raw.get
        code = get("parameter")
        found = self.parameters.get(code) if isinstance(code, str) else None
        if found is None or isinstance(found, InvalidInput):
            raise _parameter_error(code, found)
        parameter_pk, parameter = found
        linear, sent_unit = self._linear(parameter_pk, parameter, get("unit"))
        sent = get("value")
        if sent is None or sent == "":
            raise InvalidInput("value is required.", field="value")
        sent_value = number(sent, field="value")
        value = finite(linear(sent_value), field="value")
        item = item_id = station_id = None
        code, station = get("item"), get("station")
        if not (isinstance(code, str | None) and isinstance(station, str | None)):
            subject = "item" if not isinstance(code, str | None) else "station"
            raise InvalidInput(f"{subject} is a code (text).", field=subject)
        if code is not None and code != "":
            entry = self.items.get(code) if isinstance(code, str) else None
            if entry is not None:
                item_id, item = entry
            elif _blank(code) is not None:
                raise InvalidInput(f"Unknown item {code!r}.", field="item", code=ErrorCode.UNKNOWN_ITEM)
        if station is not None and station != "":
            station_id = self.stations.get(station)
            if station_id is None and _blank(station) is not None:
                raise InvalidInput(f"Unknown station {station!r}.", field="station", code=ErrorCode.UNKNOWN_STATION)
        room = _text(get("room"), "room")
        if item_id is None and station_id is None and not room:
            raise InvalidInput("Say what was measured: item, station or room.", field="item")
        position = get("position_m")
        position = position_check(item, position) if position is not None and position != "" else None
        measured_at = moment(get("measured_at"), field="measured_at")
        source = get("source") or Source.OFFLINE
        if source not in _SOURCES:
            source = _source(source)
        uncertainty = get("uncertainty")
        # Its own step only when sent: most uploads have none, and the row loop stays flat.
        uncertainty = _uncertainty(uncertainty, linear) if uncertainty is not None and uncertainty != "" else None
        return (
            parameter_pk,
            item_id,
            station_id,
            room,
            position,
            measured_at,
            source,
            _text(get("instrument"), "instrument"),
            _text(get("method"), "method"),
            uncertainty,
            value,
            sent_value,
            sent_unit,
            "",
            "",
            out_of_range(parameter, (value,)),
            self.limits_flag(parameter_pk, item_id, value, position),
            "",
            self.created_at,
            self.created_by_id,
            None,  # operation_id: set by ingest_station.rows_assign for rows assigned by station and time
        )
