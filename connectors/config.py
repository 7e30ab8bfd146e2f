"""What a driver needs of its connector, read once from the database: plain data, no ORM.

Drivers run in asyncio tasks of `run_connectors`; they never touch the database themselves.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MappingConfig:
    id: int
    source: str
    parameter: str  # catalog code
    unit: str
    station: str | None  # station code, or None when `room` is set
    room: str
    position_source: str
    data_type: str  # Modbus only
    scale: float


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    id: int
    code: str
    kind: str
    endpoint: str
    options: dict[str, Any]
    revision: int
    mappings: tuple[MappingConfig, ...] = field(default_factory=tuple)
    # (index, count) of the runner processes sharing this connector's MQTT subscriptions;
    # (0, 1): one process, plain subscriptions (connectors/processes.py).
    shard: tuple[int, int] = (0, 1)

    def sources(self) -> set[str]:
        """Every source the driver must watch: the mapped ones and their position sources."""
        found = {m.source for m in self.mappings}
        found.update(m.position_source for m in self.mappings if m.position_source)
        return found


# run_connectors writes each running connector's heartbeat this often, and reloads the
# configuration this often; a status whose heartbeat is older than STALE_AFTER_S reads as
# `stopped` (no process runs it).
HEARTBEAT_S = 2.0
RELOAD_S = 2.0
STALE_AFTER_S = 10.0
