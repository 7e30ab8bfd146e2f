"""A batch of connector values into the record: receipts, measurements and counts, one transaction.

The values go through `measurements.ingest.measurements_ingest` (COPY on PostgreSQL), so a value
naming a station is assigned to the item in process there at its time exactly as a single value
is; a bad value (a unit that does not convert, no operation covering its time) is left out and
counted as rejected, never aborting the batch (on_error="skip").

A value is stored once per connector, source, source time and value: the batch's receipts are
inserted first (INSERT .. ON CONFLICT DO NOTHING RETURNING), only the values whose receipt is new
are ingested, and the receipts of the rejected ones are deleted again, all in the same
transaction as the measurements and the status counts (F() increments). Replaying a batch, from
the spool or after a redelivery, therefore stores nothing twice.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from core.text import printable
from measurements.collector import collector_paused
from measurements.ingest import measurements_ingest

from .models import Connector, ConnectorReceipt, ConnectorStatus

_RECEIPTS = ConnectorReceipt._meta.db_table
# The batch's receipt keys are COPYed (binary, psycopg's C writer) into a temporary table of the
# session and inserted from there: binding four arrays of thousands of elements costs more in
# psycopg's Python list dumper than the COPY does (10,000 keys: about 70 ms against 150 ms).
_PG_RECEIPTS_IN = "connector_receipt_keys"
_PG_RECEIPTS_IN_SQL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_RECEIPTS_IN} "
    "(n int, connector_id bigint, source text, source_time timestamptz, value float8) ON COMMIT DELETE ROWS"
)
_PG_RECEIPTS_COPY = f"COPY {_PG_RECEIPTS_IN} (n, connector_id, source, source_time, value) FROM STDIN (FORMAT BINARY)"
# Answers (n, receipt id) of each new receipt: the batch's place n, not the key, so that no
# time is parsed back in Python (10,000 keys: about 80 ms of psycopg's timestamptz loader).
_PG_RECEIPTS_SQL = (
    "WITH inserted AS ("
    f"INSERT INTO {_RECEIPTS} (connector_id, source, source_time, value) "  # noqa: S608
    f"SELECT connector_id, source, source_time, value FROM {_PG_RECEIPTS_IN} "
    # In key order: two batches storing at once that share keys (a redelivery) wait on each
    # other in the same order, never in a cycle.
    "ORDER BY connector_id, source, source_time, value "
    "ON CONFLICT DO NOTHING RETURNING id, connector_id, source, source_time, value) "
    f"SELECT k.n, inserted.id FROM inserted JOIN {_PG_RECEIPTS_IN} k "
    "USING (connector_id, source, source_time, value)"
)
_SQLITE_RECEIPT_SQL = (
    f"INSERT INTO {_RECEIPTS} (connector_id, source, source_time, value) VALUES (%s, %s, %s, %s) "  # noqa: S608
    "ON CONFLICT DO NOTHING RETURNING id"
)

Key = tuple[int, str, datetime, float]

# The rows go to measurements_ingest as CSV cell lists in this order, so a batch is checked
# column by column (measurements.ingest_columns) and row by row only when a value needs it.
HEADER = ("parameter", "value", "unit", "measured_at", "position_m", "source", "instrument", "station", "room")


@dataclass(slots=True)
class Pending:
    """One value ready to store: its receipt key and its bulk-ingest row."""

    connector_id: int
    source: str
    source_time: datetime
    value: float
    row: dict[str, Any]
    received_at: datetime

    def key(self) -> Key:
        return (self.connector_id, self.source, self.source_time, self.value)


@dataclass
class Batch:
    """What the connectors received in one flush: counts per connector, the values refused
    before the database (no mapping, no number) and the values to store."""

    received: Counter[int] = field(default_factory=Counter)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (connector id, reason)
    values: list[Pending] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.received or self.refused or self.values)


@dataclass
class Outcome:
    """One connector's share of a stored batch."""

    received: int = 0
    stored: int = 0
    rejected: int = 0
    last_error: str = ""
    last_value_at: datetime | None = None


def _receipts_insert(values: list[Pending]) -> list[int | None]:
    """Each value's new receipt id, or None when the value was stored before."""
    if not values:
        return []
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_PG_RECEIPTS_IN_SQL)
            # Empty at commit; emptied here too for batches inside one outer transaction (tests).
            cursor.execute(f"DELETE FROM {_PG_RECEIPTS_IN}")  # noqa: S608
            with cursor.copy(_PG_RECEIPTS_COPY) as copy:
                copy.set_types(["int4", "int8", "text", "timestamptz", "float8"])
                write_row = copy.write_row
                for n, v in enumerate(values):  # unique keys (_unique): one receipt per place
                    write_row((n, v.connector_id, v.source, v.source_time, v.value))
            cursor.execute(_PG_RECEIPTS_SQL)
            ids: list[int | None] = [None] * len(values)
            for n, pk in cursor.fetchall():
                ids[n] = pk
        return ids
    with connection.cursor() as cursor:
        adapt = connection.ops.adapt_datetimefield_value
        found: list[int | None] = []
        for v in values:  # SQLite: one statement a value, the slower path
            cursor.execute(_SQLITE_RECEIPT_SQL, [v.connector_id, v.source, adapt(v.source_time), v.value])
            row = cursor.fetchone()
            found.append(row[0] if row else None)
        return found


def _unique(values: list[Pending]) -> list[Pending]:
    """The batch without values repeated inside it (a redelivery in the same flush)."""
    seen: set[Key] = set()
    kept = []
    for v in values:
        key = v.key()
        if key not in seen:
            seen.add(key)
            kept.append(v)
    return kept


def _outcomes(batch: Batch, live: set[int]) -> dict[int, Outcome]:
    outcomes = {cid: Outcome(received=n) for cid, n in batch.received.items() if cid in live}
    for cid, reason in batch.refused:
        if cid in live:
            outcome = outcomes.setdefault(cid, Outcome())
            outcome.rejected += 1
            outcome.last_error = reason
    return outcomes


def _statuses_update(outcomes: dict[int, Outcome]) -> None:
    """Last in the batch's transaction: a concurrent batch of the same connector waits on its
    status row only for this one's commit."""
    now = timezone.now()
    ConnectorStatus.objects.bulk_create([ConnectorStatus(connector_id=cid) for cid in outcomes], ignore_conflicts=True)
    for cid, o in outcomes.items():
        changes: dict[str, Any] = {
            "received": F("received") + o.received,
            "stored": F("stored") + o.stored,
            "rejected": F("rejected") + o.rejected,
        }
        if o.last_error:
            changes.update(last_error=printable(o.last_error[:2000]), last_error_at=now)
        if o.last_value_at is not None:
            changes["last_value_at"] = Greatest(Coalesce(F("last_value_at"), Value(o.last_value_at)), o.last_value_at)
        ConnectorStatus.objects.filter(pk=cid).update(**changes)


def _cell(value: Any) -> str:
    """A row's value as CSV text that parses back to the same value (repr of a float, ISO 8601
    with offset of a time: both round-trip exactly)."""
    if value is None:
        return ""
    if value.__class__ is float:
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _cells(fresh: list[tuple[Pending, int]]) -> Iterator[list[str]]:
    for v, _ in fresh:
        row = v.row
        get = row.get
        yield [
            row["parameter"],
            repr(float(v.value)),  # the receipt's value, the row's (Routes.batch)
            _cell(get("unit")),
            v.source_time.isoformat(),  # the row's measured_at (a spooled row holds it as text)
            _cell(get("position_m")),
            row["source"],
            row["instrument"],
            _cell(get("station")),
            _cell(get("room")),
        ]


def batch_store(batch: Batch) -> dict[int, Outcome]:
    """Store the batch in one transaction, with the cycle collector paused as the bulk ingest
    pauses it; returns each connector's counts. Values of a connector deleted meanwhile are
    dropped. Raises OperationalError / InterfaceError when the database is unreachable (the
    caller spools the batch)."""
    with collector_paused(), transaction.atomic():
        ids = set(batch.received) | {cid for cid, _ in batch.refused} | {v.connector_id for v in batch.values}
        live = set(Connector.objects.filter(pk__in=ids).values_list("pk", flat=True))
        outcomes = _outcomes(batch, live)
        values = _unique([v for v in batch.values if v.connector_id in live])
        receipts = _receipts_insert(values)
        fresh = [(v, pk) for v, pk in zip(values, receipts, strict=True) if pk is not None]
        result = None
        if fresh:
            result = measurements_ingest(actor=None, rows=_cells(fresh), on_error="skip", header=HEADER)
        bad: dict[int, str] = {}
        for error in result.rejected if result is not None else ():
            v = fresh[error.row - 1][0]
            bad.setdefault(error.row - 1, f"{v.source}: {error.field}: {error.message}")
        if bad:
            ConnectorReceipt.objects.filter(pk__in=[fresh[i][1] for i in bad]).delete()
        for index, (v, _) in enumerate(fresh):
            outcome = outcomes.setdefault(v.connector_id, Outcome())
            if index in bad:
                outcome.rejected += 1
                outcome.last_error = bad[index]
            else:
                outcome.stored += 1
                if outcome.last_value_at is None or v.received_at > outcome.last_value_at:
                    outcome.last_value_at = v.received_at
        _statuses_update(outcomes)
    return outcomes
