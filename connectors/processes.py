"""`run_connectors --processes N`: N runner processes, the MQTT connectors shared between them.

One process's Python (paho's packet decoding, the payload read, the batch building and storing)
runs under one GIL; N processes have N. Each process k of N runs a Runner with `shard=k`:

- an MQTT connector whose mappings have no `position_source` runs in every process, on the MQTT 5
  shared subscription `$share/<group>/<filter>` (the broker hands each message to one of the
  group's sessions), client id `<client_id>` in process 0 and `<client_id>-<k>` in process k:
  stable across restarts, so each keeps its persistent session and what was queued for it;
- every other connector (OPC UA, Modbus, MQTT with a position source, whose history is kept in
  one process's memory) runs in process 0 only, as with one process;
- process 0 alone writes the connectors' states and heartbeats; every process adds its own
  counts in each batch's transaction. Process k > 0 spools to `<spool dir>/shard-<k>`.

This module's supervisor starts the N processes, forwards SIGTERM / SIGINT (each commits and
acknowledges what it holds, as one process does), starts again one that exits on its own, and
returns once all have stopped.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .config import ConnectorConfig
from .models import ConnectorKind
from .spool import Spool

PROCESSES_MAX = 16
RESTART_S = 1.0
STOP_S = 20.0  # each child has its own SHUTDOWN_S; this is the supervisor's patience


@dataclass(frozen=True, slots=True)
class Shard:
    """This process's place among the runner processes."""

    index: int = 0
    count: int = 1

    @property
    def leader(self) -> bool:
        """Process 0: runs the connectors that are not shared and writes the states."""
        return self.index == 0


def shared(config: ConnectorConfig) -> bool:
    """A connector every process runs (its messages split by the broker): MQTT without a
    position source, whose history must see every position value in one process."""
    return config.kind == ConnectorKind.MQTT and not any(m.position_source for m in config.mappings)


def share_group(client_id: str) -> str:
    """The shared subscription's group: the connector's own client id (unique per broker by
    design), without the characters a share name may not hold."""
    return "".join("_" if c in "/+#" else c for c in client_id)


def spool_dir(base: str | os.PathLike[str], shard: Shard) -> Path:
    """Each process's own spool (a spool is used by one process): process 0 keeps the base."""
    return Path(base) if shard.leader else Path(base) / f"shard-{shard.index}"


def shard_spool(shard: Shard, *, base: str | None = None, max_bytes: int | None = None) -> Spool | None:
    """This process's spool under `base` (default CELLTRACE_CONNECTOR_SPOOL_DIR), bounded by
    `max_bytes` (default CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES); None when no directory is named."""
    base = base or getattr(settings, "CELLTRACE_CONNECTOR_SPOOL_DIR", None)
    if not base:
        return None
    return Spool(spool_dir(base, shard), max_bytes or settings.CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES)


def supervise(count: int, arguments: list[str]) -> int:
    """Run `count` runner processes (`run_connectors --shard k --processes count` plus
    `arguments`) until SIGTERM or SIGINT; 0 when every one stopped cleanly."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    command = [sys.executable, sys.argv[0], "run_connectors", "--processes", str(count), *arguments]
    children: dict[int, subprocess.Popen[bytes]] = {}
    while not stop.is_set():
        for k in range(count):
            child = children.get(k)
            if child is not None and child.poll() is None:
                continue
            if child is not None:
                print(f"run_connectors: process {k} exited with {child.returncode}; starting it again", flush=True)
            children[k] = subprocess.Popen([*command, "--shard", str(k)])  # noqa: S603
        stop.wait(RESTART_S)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    codes = []
    for child in children.values():
        try:
            codes.append(child.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            child.kill()
            codes.append(child.wait())
    return 0 if all(code == 0 for code in codes) else 1
