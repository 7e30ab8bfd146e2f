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
  sent `position_m` or the line speed (selectors_in_process.items_in_process, one query per chunk for all
  its rows; one more holds their runs until the upload commits, assignment.runs_hold). A row
  with no item in process is a bad row (400 here, where a single value is 409).

Speed: a CSV upload's rows come as lists of cells with the header (`header=`): each chunk is
checked column by column (measurements.ingest_columns: `float` and `datetime.fromisoformat` over
the column, numpy for finiteness, conversion and the typical range), and a chunk with any row it
does not take as plainly valid is checked row by row as dicts, which names the bad rows; a good
row is stored the same either way. Parameters, conversions (one `Linear` per parameter and unit),
stations and items are cached; item codes are resolved in batches (one query per LOOKUP_BATCH distinct codes of a chunk
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

The job is split by module: ingest_rows (the row format, lookups, the per-row check),
ingest_station (assignment by station and time), ingest_writers (COPY / INSERT), and this
module, the entry point (chunks, totals, the audit event and the holds).

One audit event for the whole ingest: action "measurement.bulk", entity_id the ingest's
`created_at`, which every stored row carries (with `created_by`) on PostgreSQL.
"""

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import InvalidInput

from .collector import collector_paused, collector_tick
from .holds_limits import limit_holds_place
from .ingest_columns import chunk_check as columns_check
from .ingest_columns import chunk_columns, columns_missing
from .ingest_rows import (
    AT_ITEM,
    AT_OUT_OF_LIMITS,
    AT_OUT_OF_RANGE,
    AT_PARAMETER,
    BulkInvalid,
    RowError,
    RowRules,
    row_error,
)
from .ingest_station import by_time, rows_assign
from .ingest_writers import CopyWriter, InsertWriter
from .models import Parameter

CHUNK_ROWS = 5_000
MAX_ERRORS = 100


@dataclass(frozen=True)
class IngestResult:
    count: int
    out_of_range: int
    out_of_limits: int = 0
    holds: int = 0
    # on_error="skip": the bad rows, which were left out (row numbers over the rows iterated).
    rejected: tuple[RowError, ...] = ()


@dataclass
class _Totals:
    """What the stored rows add up to, for the result and the audit event."""

    count: int = 0
    out_of_range: int = 0
    out_of_limits: int = 0
    per_parameter: Counter[int] = field(default_factory=Counter)
    item_ids: set[int | None] = field(default_factory=set)


@dataclass
class _Run:
    """One ingest's state across its chunks."""

    rules: RowRules
    writer: CopyWriter | InsertWriter
    max_errors: int
    totals: _Totals = field(default_factory=_Totals)
    errors: list[RowError] = field(default_factory=list)
    number: int = 0  # rows read so far, None rows included
    complete: bool = True
    skip: bool = False  # on_error="skip": bad rows are left out, the others stored
    header: Sequence[str] | None = None  # rows are CSV cell lists in this order (see measurements_ingest)


def _columns_check(run: _Run, chunk: list[Any]) -> list[tuple[int, tuple[Any, ...]]] | None:
    """A chunk of CSV cell lists checked column by column (ingest_columns), or None when a row
    needs the per-row check."""
    header = run.header
    if header is None:
        return None
    columns = chunk_columns(header, chunk)
    if columns is None:
        return None
    missing = columns_missing(run.rules, columns)
    if missing:
        run.writer.pause()
        run.rules.look_up(missing)
    checked = columns_check(run.rules, columns, run.number + 1)
    if checked is not None:
        run.number += len(chunk)
    return checked


def _chunk_check(run: _Run, chunk: list[Any]) -> list[tuple[int, tuple[Any, ...]]]:
    """The chunk's rows checked, as (row number, row); bad rows go to run.errors."""
    fast = _columns_check(run, chunk)
    checked = _rows_check(run, chunk) if fast is None else fast
    rules = run.rules
    if any(by_time(rules, row) for _, row in checked):
        run.writer.pause()  # the assignment queries need the connection
        unassigned = rows_assign(rules, checked)
        errors = run.errors
        errors.extend(unassigned)
        errors.sort(key=lambda e: e.row)
        del errors[run.max_errors :]
        if run.skip and unassigned:
            bad = {e.row for e in unassigned}
            checked = [entry for entry in checked if entry[0] not in bad]
    return checked


def _rows_check(run: _Run, chunk: list[Any]) -> list[tuple[int, tuple[Any, ...]]]:
    """Row by row (RowRules.check), each bad row named in run.errors."""
    if run.header is not None:  # CSV cell lists, as the per-row check takes them
        header = run.header
        chunk = [dict(zip(header, row, strict=True)) if row.__class__ is list else row for row in chunk]
    missing = run.rules.missing(chunk)
    if missing:
        run.writer.pause()
        run.rules.look_up(missing)
    checked: list[tuple[int, tuple[Any, ...]]] = []
    check, errors, max_errors, number = run.rules.check, run.errors, run.max_errors, run.number
    for raw in chunk:
        number += 1
        if raw is None:
            continue
        try:
            checked.append((number, check(raw)))
        except InvalidInput as exc:
            errors.append(row_error(number, exc))
            if len(errors) >= max_errors:
                break
    run.number = number
    return checked


def _chunk_write(run: _Run, checked: list[tuple[int, tuple[Any, ...]]]) -> None:
    if not checked:
        return
    write_row = run.writer.open()
    rows = [row for _, row in checked]
    for row in rows:
        write_row(row)
    columns = list(zip(*rows, strict=True))
    totals = run.totals
    totals.count += len(checked)
    totals.out_of_range += sum(columns[AT_OUT_OF_RANGE])
    totals.out_of_limits += columns[AT_OUT_OF_LIMITS].count(True)
    totals.per_parameter.update(columns[AT_PARAMETER])
    totals.item_ids.update(columns[AT_ITEM])


def _rows_store(run: _Run, rows: Iterable[Mapping[Any, Any] | list[str] | None], chunk_rows: int) -> None:
    with collector_paused():
        _rows_stream(run, rows, chunk_rows)


def _rows_stream(run: _Run, rows: Iterable[Mapping[Any, Any] | list[str] | None], chunk_rows: int) -> None:
    iterator: Iterator[Mapping[Any, Any] | list[str] | None] = iter(rows)
    try:
        while chunk := list(itertools.islice(iterator, chunk_rows)):
            collector_tick()
            checked = _chunk_check(run, chunk)
            if run.skip or not run.errors:  # once a row is bad nothing will be stored: stop writing
                _chunk_write(run, checked)
            if len(run.errors) >= run.max_errors:
                run.complete = False  # the rest is not read
                break
    except BaseException as exc:
        run.writer.close(exc)
        raise
    run.writer.close()


def _audit(actor: Actor, created_at: datetime, totals: _Totals) -> None:
    codes = dict(Parameter.objects.filter(pk__in=totals.per_parameter).values_list("pk", "code"))
    audit_record(
        actor=actor,
        action="measurement.bulk",
        entity="measurement",
        entity_id=created_at.isoformat(),
        after={
            "count": totals.count,
            "out_of_range": totals.out_of_range,
            "out_of_limits": totals.out_of_limits,
            "parameters": {codes[pk]: n for pk, n in sorted(totals.per_parameter.items())},
            "items": len(totals.item_ids - {None}),
            "created_at": created_at.isoformat(),
        },
    )


@transaction.atomic
def measurements_ingest(
    *,
    actor: Actor,
    rows: Iterable[Mapping[Any, Any] | list[str] | None],
    chunk_rows: int = CHUNK_ROWS,
    max_errors: int = MAX_ERRORS,
    on_error: Literal["raise", "skip"] = "raise",
    header: Sequence[str] | None = None,
) -> IngestResult:
    """Validate and store every row, or none: BulkInvalid (400) lists up to `max_errors` bad
    rows; reading stops there. See the module docstring for the rules and the row numbering.

    With on_error="skip" (a connector's batch of machine values, where one bad value must not
    hold back the others) the bad rows are left out and returned in `rejected`, the good ones
    stored, and a batch with no good row stores nothing and raises nothing.

    With `header` (a CSV's checked column names) a row may also be a list of cell text in that
    order: such chunks are checked column by column (measurements.ingest_columns), and row by row
    as dicts when any of their rows needs it, with the same results."""
    created_at = timezone.now()
    user = actor_user(actor)
    rules = RowRules(created_at=created_at, created_by_id=user.pk if user is not None else None)
    writer = CopyWriter() if connection.vendor == "postgresql" else InsertWriter()
    skip = on_error == "skip"
    run = _Run(rules=rules, writer=writer, max_errors=2**62 if skip else max_errors, skip=skip, header=header)
    _rows_store(run, rows, chunk_rows)
    if run.errors and not skip:
        raise BulkInvalid(run.errors, complete=run.complete)
    totals = run.totals
    if totals.count == 0:
        if skip:
            return IngestResult(count=0, out_of_range=0, rejected=tuple(run.errors))
        raise InvalidInput("The upload holds no measurements.", field="rows")
    _audit(actor, created_at, totals)
    # A violation seen on a row that was then rolled back never got here: errors raise above.
    holds = limit_holds_place(actor=actor, violations=rules.violations)
    return IngestResult(
        count=totals.count,
        out_of_range=totals.out_of_range,
        out_of_limits=totals.out_of_limits,
        holds=len(holds),
        rejected=tuple(run.errors),
    )
