"""The contract between a driver (one protocol) and the runner (storage, status).

A driver connects to its endpoint, watches the sources of its `ConnectorConfig` and hands every
value it receives to `Sink.put` as a `Reading`. It reconnects on its own, with back-off, and
reports its state through `Sink.state`. It never touches the database: the runner batches the
readings, assigns them by station and time, stores them through the bulk ingest path, and only
then calls each reading's `ack` (MQTT acknowledges a QoS 1 message after it is committed).
"""

import abc
import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from connectors.config import ConnectorConfig

# Reconnect back-off: 0.5 s doubling to 8 s, with jitter, so that an enabled connector that
# cannot connect shows `reconnecting` with its error well within the contract's 10 s.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0


@dataclass(frozen=True, slots=True)
class Reading:
    connector_id: int
    source: str  # the node id, topic or register the value came from (a topic, not its filter)
    value: float | None  # None: the payload held no number (counted as rejected with `error`)
    received_at: datetime  # arrival time, aware UTC
    measured_at: datetime | None = None  # source timestamp, else server timestamp; None: arrival
    unit: str | None = None  # sent with the value (MQTT JSON); None: the mapping's unit
    position_m: float | None = None  # sent with the value (MQTT JSON); None: from position_source
    error: str = ""  # why the payload could not be read, when value is None
    ack: Callable[[], None] | None = None  # called once the reading is committed or rejected


class Sink(Protocol):
    def put(self, reading: Reading) -> None:
        """Take one reading (never blocks the event loop for long; may apply back-pressure)."""

    def state(self, connector_id: int, state: str, error: str = "") -> None:
        """Report `connected` or `reconnecting` (with the error that caused it)."""


class Driver(abc.ABC):
    """One connector's protocol client. `run` returns only when cancelled (shutdown or a
    configuration change); it handles its own reconnects."""

    def __init__(self, config: ConnectorConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink

    @abc.abstractmethod
    async def run(self) -> None: ...

    def pause(self) -> None:  # noqa: B027 - optional: the default hands on until cancelled
        """Stop handing readings to the sink: the runner is shutting down and commits what it
        has. A source that keeps unacknowledged values (MQTT) sends the later ones again."""

    async def backoff(self, attempt: int) -> None:
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
