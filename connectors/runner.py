"""`run_connectors`: every enabled connector in one asyncio process.

Every RELOAD_S the configuration is read again: a new connector starts, one whose revision moved
restarts, a disabled or deleted one stops; every HEARTBEAT_S each connector's status gets its
state (the driver's `Sink.state`, or `disabled`) and heartbeat. Drivers are found by kind in
DRIVERS and imported when first needed, so a driver that cannot be imported leaves the others
running (its connectors read `reconnecting` with the import error).

Stopping (SIGTERM, SIGINT, or the event given to `run`): drivers are paused (they stop handing
readings), everything received is committed and acknowledged, the drivers are cancelled, what
came meanwhile is committed too, the statuses read `stopped`. Within SHUTDOWN_S.
"""

import asyncio
import dataclasses
import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from .config import HEARTBEAT_S, RELOAD_S, ConnectorConfig, MappingConfig
from .drivers.base import Driver
from .models import Connector, ConnectorState, ConnectorStatus
from .processes import Shard, shard_spool, shared
from .sink import FLUSH_ROWS, STORE_WORKERS, BatchingSink
from .spool import Spool

log = logging.getLogger("celltrace.connectors")

DRIVERS = {
    "mqtt": "connectors.drivers.mqtt",
    "opcua": "connectors.drivers.opcua",
    "modbus": "connectors.drivers.modbus",
}
SHUTDOWN_S = 8.0


def driver_class(kind: str) -> type[Driver]:
    """The driver of a kind: the module's DRIVER, else the one Driver subclass it defines."""
    module = importlib.import_module(DRIVERS[kind])
    found = getattr(module, "DRIVER", None)
    if found is None:
        defined = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Driver) and value.__module__ == module.__name__
        ]
        if len(defined) != 1:
            raise ImportError(f"{module.__name__} defines {len(defined)} drivers, not one")
        found = defined[0]
    return found  # type: ignore[no-any-return]


def configs_load() -> tuple[dict[int, ConnectorConfig], set[int]]:
    """The enabled connectors' configurations, and the ids of the disabled ones."""
    enabled: dict[int, ConnectorConfig] = {}
    disabled: set[int] = set()
    connectors = Connector.objects.prefetch_related("mappings__station", "mappings__parameter")
    for c in connectors:
        if not c.enabled:
            disabled.add(c.pk)
            continue
        mappings = tuple(
            MappingConfig(
                id=m.pk,
                source=m.source,
                parameter=m.parameter.code,
                unit=m.unit,
                station=m.station.code if m.station is not None else None,
                room=m.room,
                position_source=m.position_source,
                data_type=m.data_type,
                scale=m.scale,
            )
            for m in c.mappings.all()
        )
        options = c.options if isinstance(c.options, dict) else {}
        enabled[c.pk] = ConnectorConfig(c.pk, c.code, c.kind, c.endpoint, options, c.revision, mappings)
    ConnectorStatus.objects.bulk_create(
        [ConnectorStatus(connector_id=pk) for pk in [*enabled, *disabled]], ignore_conflicts=True
    )
    return enabled, disabled


def statuses_write(states: dict[int, tuple[str, str]], errors: set[int], disabled: set[int]) -> None:
    """Each running connector's state and heartbeat (its error when new); `disabled` ones."""
    now = timezone.now()
    for pk, (state, error) in states.items():
        changes: dict[str, Any] = {"state": state, "heartbeat_at": now}
        if pk in errors and error:
            changes.update(last_error=error[:2000], last_error_at=now)
        ConnectorStatus.objects.filter(pk=pk).update(**changes)
    if disabled:
        ConnectorStatus.objects.filter(pk__in=disabled).update(state=ConnectorState.DISABLED, heartbeat_at=now)


def statuses_stop(ids: list[int]) -> None:
    ConnectorStatus.objects.filter(pk__in=ids).update(state=ConnectorState.STOPPED)


@dataclass
class _Running:
    config: ConnectorConfig
    driver: Driver | None
    task: asyncio.Task[None]


@dataclass
class Runner:
    reload_s: float = RELOAD_S
    heartbeat_s: float = HEARTBEAT_S
    spool: Spool | None = None
    shard: Shard = field(default_factory=Shard)
    running: dict[int, _Running] = field(default_factory=dict)
    disabled: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        # STORE_WORKERS threads for storage (batches built in order, stored concurrently), one
        # for configuration and statuses: each keeps its own database connection.
        # SQLite has one writer: one worker there.
        workers = STORE_WORKERS if connection.vendor == "postgresql" else 1
        self._store = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="connectors-store")
        self._status = ThreadPoolExecutor(max_workers=1, thread_name_prefix="connectors-status")
        if self.spool is None:
            self.spool = shard_spool(self.shard)
        flush_rows = int(getattr(settings, "CELLTRACE_CONNECTOR_FLUSH_ROWS", FLUSH_ROWS))
        self.sink = BatchingSink(self._store, spool=self.spool, flush_rows=flush_rows, workers=workers)

    async def _db(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._status, function, *args)

    # --- the connectors -------------------------------------------------------------------

    def _start(self, config: ConnectorConfig) -> None:
        try:
            driver: Driver | None = driver_class(config.kind)(config, self.sink)
        except Exception as exc:  # a missing or broken driver stops only its own connectors
            log.error("connectors: %s: no %s driver: %s", config.code, config.kind, exc)
            driver = None
            self.sink.state(config.id, ConnectorState.RECONNECTING, f"No {config.kind} driver: {exc}")
        else:
            self.sink.state(config.id, ConnectorState.RECONNECTING)
        task = asyncio.create_task(self._supervise(config, driver), name=f"connector-{config.code}")
        self.running[config.id] = _Running(config, driver, task)

    async def _supervise(self, config: ConnectorConfig, driver: Driver | None) -> None:
        """Run the driver; a driver that fails or returns is started again, with back-off."""
        if driver is None:
            return
        attempt = 0
        while True:
            try:
                await driver.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("connectors: %s: the driver failed", config.code)
                self.sink.state(config.id, ConnectorState.RECONNECTING, f"The driver failed: {exc!r}")
            await driver.backoff(attempt)
            attempt = min(attempt + 1, 10)

    async def _stop(self, ids: list[int]) -> None:
        """Stop connectors: paused, what they handed committed and acknowledged on their own
        connection (an MQTT ack cannot go out on the next one), then cancelled."""
        for pk in ids:
            pause = getattr(self.running[pk].driver, "pause", None) if pk in self.running else None
            if pause is not None:
                pause()
        if ids:
            await self.sink.flush()
        tasks = [self.running.pop(pk).task for pk in ids if pk in self.running]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3.0)
        for pk in ids:
            self.sink.states.pop(pk, None)

    async def reconcile(self) -> None:
        """Start, restart and stop connectors to match the configuration."""
        enabled, disabled = await self._db(configs_load)
        enabled = self._mine(enabled)
        gone = [pk for pk, r in self.running.items() if pk not in enabled or enabled[pk].revision != r.config.revision]
        await self._stop(gone)  # with the old routes: what they received is stored under them
        self.sink.routes.configure(enabled.values())
        for pk, config in enabled.items():
            if pk not in self.running:
                self._start(config)
        self.disabled = disabled

    def _mine(self, enabled: dict[int, ConnectorConfig]) -> dict[int, ConnectorConfig]:
        """The connectors this process runs: all of them alone; among N processes the shared
        ones in every process (with its place), the others in process 0 only."""
        if self.shard.count == 1:
            return enabled
        place = (self.shard.index, self.shard.count)
        return {
            pk: dataclasses.replace(c, shard=place) if shared(c) else c
            for pk, c in enabled.items()
            if self.shard.leader or shared(c)
        }

    async def heartbeat(self) -> None:
        if not self.shard.leader:  # process 0 writes the states; every process its counts
            self.sink.errors.clear()
            return
        states = {pk: self.sink.states.get(pk, (ConnectorState.RECONNECTING, "")) for pk in self.running}
        errors, self.sink.errors = self.sink.errors, set()
        try:
            await self._db(statuses_write, states, errors, set(self.disabled))
        except DatabaseError as exc:
            self.sink.errors |= errors
            log.warning("connectors: statuses not written: %s", exc)
            await self._db(_connection_drop)

    # --- the process ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        flushing = asyncio.Event()
        flusher = asyncio.create_task(self.sink.run(flushing))
        loop = asyncio.get_running_loop()
        next_reload = next_beat = loop.time()
        try:
            while not stop.is_set():
                if loop.time() >= next_reload:
                    try:
                        await self.reconcile()
                    except DatabaseError as exc:
                        log.warning("connectors: configuration not read: %s", exc)
                        await self._db(_connection_drop)
                    next_reload = loop.time() + self.reload_s
                if loop.time() >= next_beat:
                    await self.heartbeat()
                    next_beat = loop.time() + self.heartbeat_s
                wait = max(0.05, min(next_reload, next_beat) - loop.time())
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
        finally:
            await asyncio.wait_for(self._shutdown(flushing, flusher), timeout=SHUTDOWN_S)

    async def _shutdown(self, flushing: asyncio.Event, flusher: asyncio.Task[None]) -> None:
        for r in self.running.values():
            pause = getattr(r.driver, "pause", None)
            if pause is not None:
                pause()
        flushing.set()
        await flusher
        await self.sink.flush()
        ids = list(self.running)
        await self._stop(ids)
        await self.sink.flush()
        try:
            if self.shard.leader:
                await self._db(statuses_stop, ids)
        except DatabaseError as exc:
            log.warning("connectors: statuses not written: %s", exc)
        for executor in (self._store, self._status):
            await asyncio.get_running_loop().run_in_executor(executor, _connection_drop)
            executor.shutdown(wait=False)  # a second store thread's connection ends with it

    def run_until(self, event: threading.Event) -> None:
        """Run in this thread (tests) until `event` is set."""

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            threading.Thread(target=lambda: (event.wait(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
            await self.run(stop)

        asyncio.run(main())


def _connection_drop() -> None:
    try:
        connection.close()
    except Exception:  # noqa: S110 - broken already; the next use reconnects
        pass
