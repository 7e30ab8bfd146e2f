"""The runner's Sink: readings from every driver, mapped, batched, stored, then acknowledged.

`Routes` turns readings into a storage `Batch`: each reading's mapping (an MQTT topic against
the mappings' topic filters, other kinds by equal source), its position (the latest value of the
mapping's `position_source` at or before the value's own time, kept in memory per connector and
mapping) and its bulk-ingest row. `BatchingSink` collects readings on the event loop and flushes
them every FLUSH_S or FLUSH_ROWS readings in worker threads (the ORM is synchronous), up to
STORE_WORKERS batches at once: stored, or spooled to disk (in arrival order) when PostgreSQL is
unreachable, and only then acknowledged to the source.
"""

import asyncio
import bisect
import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from paho.mqtt.client import topic_matches_sub

from core.errors import InvalidInput
from core.values import moment_check
from measurements.collector import collector_paused

from .config import ConnectorConfig, MappingConfig
from .drivers.base import Reading
from .models import ConnectorKind, ConnectorState
from .spool import Spool
from .storage import Batch, Outcome, Pending, batch_store

log = logging.getLogger("celltrace.connectors")

try:  # COPY runs on psycopg's own cursor: its errors arrive unwrapped by Django
    import psycopg

    DATABASE_AWAY: tuple[type[Exception], ...] = (
        OperationalError,
        InterfaceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
    )
except ImportError:  # pragma: no cover - SQLite-only installs
    DATABASE_AWAY = (OperationalError, InterfaceError)

FLUSH_ROWS = 10_000
# Two batches at once: while one worker's batch is in PostgreSQL, the other builds its COPY.
STORE_WORKERS = 2
FLUSH_S = 0.2
POSITIONS_KEPT = 10_000  # per connector and mapping: the recent history of the metre
SOURCE_MAX = 500  # ConnectorReceipt.source


@dataclass(frozen=True, slots=True)
class _Route:
    values: tuple[MappingConfig, ...]  # the mapping the value feeds (at most one)
    positions: tuple[MappingConfig, ...]  # the mappings whose position source this is


class Routes:
    """Readings to rows, with the connectors' mappings and the position history."""

    def __init__(self) -> None:
        self.configs: dict[int, ConnectorConfig] = {}
        self._routes: dict[tuple[int, str], _Route] = {}
        self._positions: dict[tuple[int, int], tuple[list[datetime], list[float]]] = {}

    def configure(self, configs: Iterable[ConnectorConfig]) -> None:
        self.configs = {c.id: c for c in configs}
        self._routes.clear()
        live = {(c.id, m.id) for c in self.configs.values() for m in c.mappings if m.position_source}
        for key in set(self._positions) - live:
            del self._positions[key]

    def _route(self, config: ConnectorConfig, source: str) -> _Route:
        key = (config.id, source)
        route = self._routes.get(key)
        if route is None:
            if config.kind == ConnectorKind.MQTT:
                exact = [m for m in config.mappings if m.source == source]
                values = exact or [m for m in config.mappings if topic_matches_sub(m.source, source)]
                positions = [m for m in config.mappings if m.position_source and _matches(m.position_source, source)]
            else:
                values = [m for m in config.mappings if m.source == source]
                positions = [m for m in config.mappings if m.position_source == source]
            route = self._routes[key] = _Route(tuple(values[:1]), tuple(positions))
            if len(self._routes) > 100_000:  # topics seen are bounded by the broker, not by us
                self._routes.clear()
        return route

    def _position_keep(self, key: tuple[int, int], at: datetime, value: float) -> None:
        times, values = self._positions.setdefault(key, ([], []))
        index = bisect.bisect_right(times, at)
        times.insert(index, at)
        values.insert(index, value)
        if len(times) > POSITIONS_KEPT:
            del times[: len(times) - POSITIONS_KEPT]
            del values[: len(values) - POSITIONS_KEPT]

    def _position_at(self, key: tuple[int, int], at: datetime) -> float | None:
        found = self._positions.get(key)
        if found is None:
            return None
        index = bisect.bisect_right(found[0], at) - 1
        return found[1][index] if index >= 0 else None

    def batch(self, readings: list[Reading]) -> Batch:
        """The readings as a storage batch: positions first, so a value finds the metre sent
        with it in the same flush."""
        batch = Batch()
        checked: list[tuple[Reading, ConnectorConfig, _Route, datetime, float]] = []
        for reading in readings:
            config = self.configs.get(reading.connector_id)
            if config is None:  # deleted or disabled meanwhile: nothing to store it under
                continue
            batch.received[reading.connector_id] += 1
            refusal, at, value = _refusal(reading)
            route = self._route(config, reading.source) if not refusal else _Route((), ())
            if not refusal and not route.values and not route.positions:
                refusal = f"{reading.source[:200]!r}: no mapping has this source."
            if refusal:
                batch.refused.append((reading.connector_id, refusal))
                continue
            for mapping in route.positions:
                self._position_keep((config.id, mapping.id), at, value)
            if route.values:
                checked.append((reading, config, route, at, value))
        for reading, config, route, at, value in checked:
            mapping = route.values[0]
            position = reading.position_m
            if position is None and mapping.position_source:
                position = self._position_at((config.id, mapping.id), at)
            row: dict[str, Any] = {
                "parameter": mapping.parameter,
                "value": value,
                "unit": mapping.unit if reading.unit is None else reading.unit,
                "measured_at": at,
                "position_m": position,
                "source": "online",
                "instrument": config.code,
            }
            if mapping.station:
                row["station"] = mapping.station
            else:
                row["room"] = mapping.room
            batch.values.append(Pending(config.id, reading.source, at, value, row, reading.received_at))
        return batch


def _matches(topic_filter: str, topic: str) -> bool:
    try:
        return topic_matches_sub(topic_filter, topic)
    except ValueError:
        return topic_filter == topic


def _refusal(reading: Reading) -> tuple[str, datetime, float]:
    """Why a reading cannot be stored ("" when it can), its source time and value."""
    at = reading.measured_at or reading.received_at
    where = reading.source[:200]  # batch_store writes last_error printable
    if reading.value is None:
        return f"{where}: {reading.error or 'the payload holds no number.'}", at, 0.0
    if len(reading.source) > SOURCE_MAX or "\x00" in reading.source:
        return f"{where}: the source is longer than {SOURCE_MAX} characters or holds a NUL.", at, 0.0
    try:
        value = float(reading.value)
    except (TypeError, ValueError, OverflowError):
        return f"{where}: value: not a number.", at, 0.0
    if not math.isfinite(value):
        return f"{where}: value: {value} is not a finite number.", at, 0.0
    try:
        moment_check(at, field="measured_at")
    except InvalidInput as exc:
        return f"{where}: measured_at: {exc.message}", at, value
    return "", at, value


class BatchingSink:
    """Sink of every driver: `put` on the event loop (drivers in threads use
    loop.call_soon_threadsafe), `flush` stores and acknowledges."""

    def __init__(
        self,
        executor: Executor,
        *,
        spool: Spool | None = None,
        flush_rows: int = FLUSH_ROWS,
        workers: int = STORE_WORKERS,
    ) -> None:
        self.routes = Routes()
        self.states: dict[int, tuple[str, str]] = {}  # connector id -> (state, error)
        self.errors: set[int] = set()  # connectors whose error is not written yet
        self.outcomes: Counter[str] = Counter()  # stored / rejected / spooled, for the process's own log
        self._executor = executor
        self._spool = spool
        self._flush_rows = flush_rows
        self._workers = workers  # the executor's threads: batches stored at once
        self.peak_in_flight = 0  # the most batches seen storing at once, for the log and tests
        self._tickets = 0  # each batch's place in arrival order
        self._next_done = 0  # every batch before this ticket is stored, spooled or held
        self._done: set[int] = set()
        self._turn = threading.Condition()
        self._spool_lock = threading.Lock()  # the Spool is used by one thread at a time
        self._counting = threading.Lock()
        self._pending: list[Reading] = []
        # Refusals not counted yet (the database was away and the spool full), with their receipt.
        self._owed: list[tuple[int, str]] = []
        self._owed_received: Counter[int] = Counter()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    # --- the Sink protocol ----------------------------------------------------------------

    def put(self, reading: Reading) -> None:
        self._pending.append(reading)
        if len(self._pending) >= self._flush_rows:
            self._wake.set()

    def state(self, connector_id: int, state: str, error: str = "") -> None:
        if state == ConnectorState.CONNECTED:
            error = ""
        previous = self.states.get(connector_id)
        self.states[connector_id] = (state, error)
        if error and (previous is None or previous[1] != error):
            self.errors.add(connector_id)

    # --- flushing -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, flush_s: float = FLUSH_S) -> None:
        """Flush every flush_s (sooner when FLUSH_ROWS readings wait) until stop is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=flush_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a bug must not stop the flushing: what was not acked comes again
                log.exception("connectors: a flush failed")

    async def flush(self) -> None:
        """Store everything pending, up to `workers` batches at a time (each on its own
        database connection); batches are built, and acknowledged, in arrival order."""
        async with self._lock:  # one flush at a time
            loop = asyncio.get_running_loop()
            inflight: deque[_InFlight] = deque()
            held: list[Reading] = []
            stopping = False
            while True:
                while not stopping and len(inflight) < self._workers and self._more(inflight):
                    inflight.append(self._submit(loop))
                    self.peak_in_flight = max(self.peak_in_flight, len(inflight))
                if not inflight:
                    break
                flight = inflight.popleft()
                kept = await flight.future
                if kept:
                    _ack(flight.readings)
                    continue
                stopping = True  # the database is away: what is in flight ends, nothing new
                if kept is None:
                    continue
                self._owed[:0] = flight.owed
                self._owed_received.update(flight.owed_received)
                held.extend(flight.readings)
            if held:
                self._hold(held)

    def _more(self, inflight: deque["_InFlight"]) -> bool:
        if self._pending or self._owed:
            return True
        # Only the spool: one empty batch replays it, never two at once.
        return not inflight and self._spool is not None and self._spool.pending()

    def _submit(self, loop: asyncio.AbstractEventLoop) -> "_InFlight":
        readings, self._pending = self._pending[: self._flush_rows], self._pending[self._flush_rows :]
        with collector_paused():  # thousands of rows, no cycles: as the batch store (storage.py)
            batch = self.routes.batch(readings)  # on the loop, in order: the position history
        owed, owed_received = self._owed, self._owed_received
        self._owed, self._owed_received = [], Counter()
        batch.refused[:0] = owed
        batch.received.update(owed_received)
        ticket, self._tickets = self._tickets, self._tickets + 1
        future = loop.run_in_executor(self._executor, self._commit, batch, ticket)
        return _InFlight(future, readings, owed, owed_received)

    def _hold(self, readings: list[Reading]) -> None:
        """The database is away and the spool is full: a reading the source keeps until
        acknowledged (MQTT QoS 1) waits in memory, unacknowledged, so the broker holds the rest;
        one it would not send again (OPC UA, Modbus) is counted as rejected, "spool full"."""
        dropped = [r for r in readings if r.ack is None]
        if dropped:
            log.error("connectors: database unreachable and spool full: %d values rejected", len(dropped))
            self._owed.extend((r.connector_id, f"{r.source[:200]}: spool full, value rejected.") for r in dropped)
            self._owed_received.update(r.connector_id for r in dropped)
        kept = [r for r in readings if r.ack is not None]
        self._pending[:0] = kept
        self.outcomes["held"] += len(kept)

    def _commit(self, batch: Batch, ticket: int) -> bool | None:
        """In a worker thread: spooled batches first, then this one; True when it is kept
        (stored, or safely on disk), False when not, None when there was only the spool.
        Batches commit concurrently; they reach the spool in ticket (arrival) order."""
        try:
            return self._commit_or_spool(batch, ticket)
        finally:
            with self._turn:
                self._done.add(ticket)
                while self._next_done in self._done:
                    self._done.discard(self._next_done)
                    self._next_done += 1
                self._turn.notify_all()

    def _commit_or_spool(self, batch: Batch, ticket: int) -> bool | None:
        try:
            if self._spool is not None and self._spool.pending():
                with self._spool_lock:
                    if self._spool.pending():
                        self._spool.replay(self._stored)
            if batch:
                try:
                    self._stored(batch)
                except DATABASE_AWAY:
                    raise
                except Exception:  # one value the database refuses must not hold back the others
                    log.exception("connectors: a batch failed; storing its values one by one")
                    _connection_drop()
                    self._isolate(batch)
            return True
        except DATABASE_AWAY as exc:
            _connection_drop()
            with self._turn:  # the batches before this one have been stored or spooled
                self._turn.wait_for(lambda: self._next_done >= ticket)
            if self._spool is not None and batch:
                with self._spool_lock:
                    spooled = self._spool.append(batch)
                if spooled:
                    self._count("spooled", len(batch.values))
                    log.warning("connectors: database unreachable (%s): %d values spooled", exc, len(batch.values))
                    return True
            if batch:
                log.error("connectors: database unreachable (%s); spool full or off: values held", exc)
            return False if batch else None

    def _count(self, outcome: str, n: int) -> None:
        with self._counting:
            self.outcomes[outcome] += n

    def _isolate(self, batch: Batch) -> None:
        """Store a failed batch value by value; a value that fails alone is rejected with the
        error."""
        received = Counter(batch.received)
        for v in batch.values:
            received[v.connector_id] -= 1
        self._stored(Batch(received=+received, refused=batch.refused))
        for v in batch.values:
            try:
                self._stored(Batch(received=Counter({v.connector_id: 1}), values=[v]))
            except DATABASE_AWAY:
                raise
            except Exception as exc:
                reason = f"{v.source[:200]}: {type(exc).__name__}: {str(exc)[:300]}"
                self._stored(Batch(received=Counter({v.connector_id: 1}), refused=[(v.connector_id, reason)]))

    def _stored(self, batch: Batch) -> dict[int, Outcome]:
        outcomes = batch_store(batch)
        for o in outcomes.values():
            self._count("stored", o.stored)
            self._count("rejected", o.rejected)
        return outcomes


@dataclass(slots=True)
class _InFlight:
    """A batch being stored in a worker, with what to acknowledge or give back after."""

    future: "asyncio.Future[bool | None]"
    readings: list[Reading]
    owed: list[tuple[int, str]]
    owed_received: Counter[int]


def _ack(readings: list[Reading]) -> None:
    for reading in readings:
        if reading.ack is not None:
            try:
                reading.ack()
            except Exception:  # a closed connection: the source sends it again, receipts dedupe
                log.exception("connectors: acknowledging %s failed", reading.source)


def _connection_drop() -> None:
    try:
        connection.close()
    except Exception:  # noqa: S110 - the connection is broken already; the next use reconnects
        pass
