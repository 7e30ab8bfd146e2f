"""Bulk ingest of scalar measurements: many rows, all or nothing, streamed.

`measurements_ingest` takes an iterable of rows (dicts with the field names of one
`POST /api/measurements/`: parameter, value, unit, item, station, room, position_m, measured_at,
source, instrument, method, uncertainty) and stores them in ONE transaction: if any row is bad,
nothing is stored and `BulkInvalid` lists the bad rows (row number and field, up to MAX_ERRORS).

Every row is checked with the rules of `measurements.services.measurement_record`, through the
same helpers (`parameter_get`, `linear_to_canonical`, `number`, `position_check`,
`out_of_range`): the parameter is known, the unit has the parameter's dimension (the value is
converted to the canonical unit, the sent value and unit are kept), numbers are finite, a position
lies within the item's length, `source` is online or offline, and a value outside the typical
range is stored and flagged, and `out_of_limits` is set against the specification limit that
applies to the row's item (measurements.selectors_limits; all limits read once, item scopes
with each batch of item codes; holds placed after the last row, in the same transaction).
What bulk does differently:

- values only: no `series`, no files, no corrections;
- `measured_at` is required, ISO 8601 with an offset;
- the subject is `item`, `station` or `room` (at least one), stored as sent; a row naming a
  `station` and no `item`, of a parameter not about the room, is assigned like a single value:
  the item (and operation) in process at the station at `measured_at`, its position from the
  sent `position_m` or the line speed (selectors.items_in_process, one query per chunk for all
  its rows). A row with no item in process is a bad row (400 here, where a single value is 409).

Speed: parameters, conversions (one `Linear` per parameter and unit), stations and items are
cached; item codes are resolved in batches (one query per LOOKUP_BATCH distinct codes of a chunk
of CHUNK_ROWS rows, codes not found by code alone are tried once as Digital Link or EPC). On
PostgreSQL the validated rows go straight into `COPY measurements_measurement ... FROM STDIN`
(binary format, psycopg 3) chunk by chunk as they are validated, so memory stays flat however many
rows come; the COPY is paused only while a chunk brings codes not seen before or rows to assign by
station (the queries need the connection).
Elsewhere (SQLite) rows are written with one executemany INSERT per INSERT_BATCH rows. Either way
it is inside `transaction.atomic`: a bad row late in the upload rolls back what was written before.

Row numbers are 1-based over the rows iterated (for a CSV, data rows: the header is row 0);
`None` rows (blank CSV lines) are skipped but counted. A row with the key `None` (extra fields of
a CSV row, as csv.DictReader gives them) is reported as malformed.

One audit event for the whole ingest: action "measurement.bulk", entity_id the ingest's
`created_at`, which every stored row carries (with `created_by`) on PostgreSQL.
"""

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import DomainError, ErrorCode, InvalidInput
from core.values import finite, moment, number
from lots.models import Item
from lots.selectors import item_lookup_q
from traceability.models import Operation, Station

from .holds_limits import Violation, limit_holds_place
from .models import Measurement, OnViolation, Parameter, Scope, Source
from .selectors import items_in_process
from .selectors_limits import limit_book
from .services import (
    Linear,
    assigned_position,
    in_process_error,
    linear_to_canonical,
    out_of_range,
    parameter_get,
    position_check,
)

CHUNK_ROWS = 5_000
LOOKUP_BATCH = 5_000
MAX_ERRORS = 100
ITEM_CACHE_LIMIT = 200_000
INSERT_BATCH = 2_000

FIELDS = (
    "parameter",
    "value",
    "unit",
    "item",
    "station",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "uncertainty",
)
REQUIRED = ("parameter", "value", "measured_at")
SUBJECTS = ("item", "station", "room")
_FIELD_SET = frozenset(FIELDS)

# The stored columns, in the order of the tuples `_Rules.check` returns; the other columns
# (id, operation, series, file_size, supersedes) take their NULL / identity defaults.
COLUMNS = (
    "parameter_id",
    "item_id",
    "station_id",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "uncertainty",
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
_COPY_TYPES = (
    "int8",
    "int8",
    "int8",
    "text",
    "float8",
    "timestamptz",
    "text",
    "text",
    "text",
    "float8",
    "float8",
    "float8",
    "text",
    "text",
    "text",
    "bool",
    "bool",
    "text",
    "timestamptz",
    "int4",
    "int8",
)
_COPY_SQL = f"COPY {Measurement._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"  # noqa: S608
_PARAMETER, _ITEM = 0, 1
_OUT_OF_RANGE, _OUT_OF_LIMITS = COLUMNS.index("out_of_range"), COLUMNS.index("out_of_limits")
_STATION, _POSITION, _MEASURED_AT, _OPERATION, _VALUE = (
    COLUMNS.index(c) for c in ("station_id", "position_m", "measured_at", "operation_id", "value")
)
_LIMITS = {
    name: int(getattr(Measurement._meta.get_field(name), "max_length", 0) or 0)
    for name in ("room", "instrument", "method", "sent_unit")
}


@dataclass(frozen=True)
class IngestResult:
    count: int
    out_of_range: int
    out_of_limits: int = 0
    holds: int = 0


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


def _row_error(number: int, exc: DomainError) -> RowError:
    field, messages = next(iter(exc.errors.items()), ("row", [exc.message]))
    return RowError(number, field or "row", messages[0] if messages else exc.message, exc.code)


_SOURCES = frozenset(Source.values)
_LOOKED_UP = ("parameter", "item", "station")


class _Rules:
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

    def missing(self, chunk: list[Any]) -> tuple[set[str], set[str], set[str]]:
        """Codes of the chunk not looked up yet: (parameters, items, stations)."""
        if len(self.items) > ITEM_CACHE_LIMIT:
            self.items.clear()
        caches: tuple[dict[str, Any], ...] = (self.parameters, self.items, self.stations)
        new: tuple[set[str], set[str], set[str]] = (set(), set(), set())
        for field, known, found in zip(_LOOKED_UP, caches, new, strict=True):
            # A list, not a set: a JSON row may hold an unhashable list where a code belongs.
            codes = [raw.get(field) for raw in chunk if raw.__class__ is dict or isinstance(raw, Mapping)]
            found.update(code for code in codes if isinstance(code, str) and code not in known and code.strip())
        return new

    def look_up(self, parameters: set[str], items: set[str], stations: set[str]) -> None:
        for code in parameters:
            try:
                parameter = parameter_get(code.strip())
                self.parameters[code] = (parameter.pk, parameter)
                if parameter.scope != Scope.ENVIRONMENT:
                    self.by_station[parameter.pk] = parameter.step_id
            except InvalidInput as exc:
                self.parameters[code] = exc
        sent = sorted(items)
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
        sent = sorted(stations)
        for start in range(0, len(sent), LOOKUP_BATCH):
            batch = sent[start : start + LOOKUP_BATCH]
            ids = dict(
                Station.objects.filter(code__in={c.strip() for c in batch if "\x00" not in c}).values_list("code", "id")
            )
            for raw in batch:
                self.stations[raw] = ids.get(raw.strip())
            self.station_codes.update({pk: code for code, pk in ids.items()})

    def by_time(self, row: tuple[Any, ...]) -> bool:
        """A row that names a station and no item, of a parameter not about the room."""
        return row[_ITEM] is None and row[_STATION] is not None and row[_PARAMETER] in self.by_station

    def assign(self, checked: list[tuple[int, tuple[Any, ...]]]) -> list[RowError]:
        """Rows naming a station and no item get the item in process there and then, by
        measurement_record's rule (selectors.items_in_process): one query for the chunk's rows,
        one for their operations and one for their items. Returns the rows that have none."""
        pending = [(index, row_number, row) for index, (row_number, row) in enumerate(checked) if self.by_time(row)]
        if not pending:
            return []
        keys = [(row[_STATION], row[_MEASURED_AT], self.by_station[row[_PARAMETER]]) for _, _, row in pending]
        found = items_in_process(keys)
        operations = Operation.objects.only("id", "started_at", "parameters").in_bulk(
            {f.operation_id for f in found if f.item_id is not None}
        )
        items = Item.objects.only("id", "code", "length_m").in_bulk({f.item_id for f in found if f.item_id is not None})
        if self.limits:
            self.limits.extend(items)  # the assigned items' product and polarity, for their limits
        errors: list[RowError] = []
        for (index, row_number, row), assigned in zip(pending, found, strict=True):
            at = row[_MEASURED_AT]
            try:
                error = in_process_error(assigned, station=self.station_codes[row[_STATION]], at=at)
                if error is not None:
                    raise error
                operation, item = operations[assigned.operation_id or 0], items[assigned.item_id or 0]
                where = assigned_position(operation, item, at, row[_POSITION])
            except DomainError as exc:
                errors.append(_row_error(row_number, exc))
                continue
            values = list(row)
            values[_ITEM], values[_OPERATION], values[_POSITION] = where.item.pk, where.operation.pk, where.position_m
            values[_OUT_OF_LIMITS] = self._limits_flag(row[_PARAMETER], where.item.pk, row[_VALUE], where.position_m)
            checked[index] = (row_number, tuple(values))
        return errors

    def _limits_flag(self, parameter_pk: int, item_id: int | None, value: float, position: float | None) -> bool | None:
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
            unknown = [k for k in raw if k not in _FIELD_SET]
            if None in unknown:
                extra = raw[None]
                raise InvalidInput(
                    extra if isinstance(extra, str) else "The row has more fields than the header.", field="row"
                )
            raise InvalidInput(f"Unknown field; bulk rows take {', '.join(FIELDS)}.", field=str(unknown[0]))
        get = raw.get

        code = get("parameter")
        found = self.parameters.get(code) if isinstance(code, str) else None
        if found is None or isinstance(found, InvalidInput):
            if found is not None:
                raise _again(found)
            if _blank(code) is None:
                raise InvalidInput("parameter is required.", field="parameter")
            raise InvalidInput(f"Unknown parameter {code!r}.", field="parameter", code=ErrorCode.UNKNOWN_PARAMETER)
        parameter_pk, parameter = found
        linear, sent_unit = self._linear(parameter_pk, parameter, get("unit"))
        sent = get("value")
        if sent is None or sent == "":
            raise InvalidInput("value is required.", field="value")
        sent_value = number(sent, field="value")
        value = finite(linear(sent_value), field="value")

        item = item_id = station_id = None
        code = get("item")
        for subject in ("item", "station"):
            if not isinstance(get(subject), str | None):
                raise InvalidInput(f"{subject} is a code (text).", field=subject)
        if code is not None and code != "":
            entry = self.items.get(code) if isinstance(code, str) else None
            if entry is None:
                if _blank(code) is not None:
                    raise InvalidInput(f"Unknown item {code!r}.", field="item", code=ErrorCode.UNKNOWN_ITEM)
            else:
                item_id, item = entry
        code = get("station")
        if code is not None and code != "":
            station_id = self.stations.get(code) if isinstance(code, str) else None
            if station_id is None and _blank(code) is not None:
                raise InvalidInput(f"Unknown station {code!r}.", field="station", code=ErrorCode.UNKNOWN_STATION)
        room = _text(get("room"), "room")
        if item_id is None and station_id is None and not room:
            raise InvalidInput("Say what was measured: item, station or room.", field="item")
        position = get("position_m")
        if position is not None and position != "":
            position = position_check(item, position)
        else:
            position = None
        measured_at = moment(get("measured_at"), field="measured_at")
        source = get("source") or Source.OFFLINE
        if source not in _SOURCES:
            source = _blank(source) or Source.OFFLINE
            if source not in _SOURCES:
                raise InvalidInput("source is online or offline.", field="source")
        uncertainty = get("uncertainty")
        if uncertainty is not None and uncertainty != "":
            uncertainty = number(uncertainty, field="uncertainty")
            if uncertainty < 0:
                raise InvalidInput("uncertainty cannot be negative.", field="uncertainty")
            uncertainty = finite(abs(linear.scale) * uncertainty, field="uncertainty")
        else:
            uncertainty = None
        out_of_limits = self._limits_flag(parameter_pk, item_id, value, position)
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
            out_of_limits,
            "",
            self.created_at,
            self.created_by_id,
            None,  # operation_id: set by `assign` for rows assigned by station and time
        )


class _CopyWriter:
    """Rows into `COPY ... FROM STDIN` on Django's connection (psycopg 3), opened on the first
    row and paused (finished) whenever the connection is needed for a lookup."""

    def __init__(self) -> None:
        self._cursor = connection.cursor()
        self._context: Any = None
        self.write_row: Any = None

    def open(self) -> Any:
        if self._context is None:
            self._context = self._cursor.cursor.copy(_COPY_SQL)
            copy = self._context.__enter__()
            copy.set_types(_COPY_TYPES)
            self.write_row = copy.write_row
        return self.write_row

    def pause(self) -> None:
        if self._context is not None:
            context, self._context, self.write_row = self._context, None, None
            context.__exit__(None, None, None)

    def close(self, exc: BaseException | None = None) -> None:
        try:
            if self._context is not None:
                context, self._context, self.write_row = self._context, None, None
                if exc is None:
                    context.__exit__(None, None, None)
                else:  # sends CopyFail; the transaction is rolled back by the caller's atomic
                    context.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            self._cursor.close()


class _InsertWriter:
    """Elsewhere (SQLite): one executemany of a plain INSERT per INSERT_BATCH rows. bulk_create
    would split each batch into INSERTs of ~40 rows (SQLite's 999-parameter limit) and build a
    model instance per row, several times slower for the same statements."""

    def __init__(self) -> None:
        self._batch: list[tuple[Any, ...]] = []
        self._adapt = connection.ops.adapt_datetimefield_value
        quote = connection.ops.quote_name
        self._sql = (
            f"INSERT INTO {quote(Measurement._meta.db_table)} ({', '.join(quote(c) for c in COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        )
        self._moments = (COLUMNS.index("measured_at"), COLUMNS.index("created_at"))

    def open(self) -> Any:
        return self.write_row

    def write_row(self, row: tuple[Any, ...]) -> None:
        values = list(row)
        for index in self._moments:
            values[index] = self._adapt(values[index])
        self._batch.append(tuple(values))
        if len(self._batch) >= INSERT_BATCH:
            self.pause()

    def pause(self) -> None:
        if self._batch:
            with connection.cursor() as cursor:
                cursor.executemany(self._sql, self._batch)
            self._batch = []

    def close(self, exc: BaseException | None = None) -> None:
        if exc is None:
            self.pause()
        self._batch = []


@transaction.atomic
def measurements_ingest(
    *,
    actor: Actor,
    rows: Iterable[Mapping[Any, Any] | None],
    chunk_rows: int = CHUNK_ROWS,
    max_errors: int = MAX_ERRORS,
) -> IngestResult:
    """Validate and store every row, or none: BulkInvalid (400) lists up to `max_errors` bad
    rows; reading stops there. See the module docstring for the rules and the row numbering."""
    created_at = timezone.now()
    user = actor_user(actor)
    rules = _Rules(created_at=created_at, created_by_id=user.pk if user is not None else None)
    writer: _CopyWriter | _InsertWriter = _CopyWriter() if connection.vendor == "postgresql" else _InsertWriter()
    errors: list[RowError] = []
    per_parameter: Counter[int] = Counter()
    item_ids: set[int | None] = set()
    count = flagged = outside = number = 0
    iterator: Iterator[Mapping[Any, Any] | None] = iter(rows)
    complete = True
    check = rules.check
    try:
        while True:
            chunk = list(itertools.islice(iterator, chunk_rows))
            if not chunk:
                break
            missing = rules.missing(chunk)
            if any(missing):
                writer.pause()
                rules.look_up(*missing)
            checked: list[tuple[int, tuple[Any, ...]]] = []
            for raw in chunk:
                number += 1
                if raw is None:
                    continue
                try:
                    checked.append((number, check(raw)))
                except InvalidInput as exc:
                    errors.append(_row_error(number, exc))
                    if len(errors) >= max_errors:
                        break
            if any(rules.by_time(row) for _, row in checked):
                writer.pause()  # the assignment queries need the connection
                errors.extend(rules.assign(checked))
                errors.sort(key=lambda e: e.row)
                del errors[max_errors:]
            if not errors:  # once a row is bad nothing will be stored: keep checking, stop writing
                write_row = writer.open()
                for _number, row in checked:
                    write_row(row)
                    flagged += row[_OUT_OF_RANGE]
                    outside += row[_OUT_OF_LIMITS] is True
                    per_parameter[row[_PARAMETER]] += 1
                    item_ids.add(row[_ITEM])
                count += len(checked)
            if len(errors) >= max_errors:
                complete = False  # the rest is not read
                break
    except BaseException as exc:
        writer.close(exc)
        raise
    writer.close()
    if errors:
        raise BulkInvalid(errors, complete=complete)
    if count == 0:
        raise InvalidInput("The upload holds no measurements.", field="rows")
    codes = dict(Parameter.objects.filter(pk__in=per_parameter).values_list("pk", "code"))
    audit_record(
        actor=actor,
        action="measurement.bulk",
        entity="measurement",
        entity_id=created_at.isoformat(),
        after={
            "count": count,
            "out_of_range": flagged,
            "out_of_limits": outside,
            "parameters": {codes[pk]: n for pk, n in sorted(per_parameter.items())},
            "items": len(item_ids - {None}),
            "created_at": created_at.isoformat(),
        },
    )
    # A violation seen on a row that was then rolled back never got here: errors raise above.
    holds = limit_holds_place(actor=actor, violations=rules.violations)
    return IngestResult(count=count, out_of_range=flagged, out_of_limits=outside, holds=len(holds))
