"""Store and forward: batches kept on local disk while PostgreSQL is unreachable.

A batch that cannot be committed is appended as one JSON line to the newest segment file of
CELLTRACE_CONNECTOR_SPOOL_DIR and fsynced; only then are its readings acknowledged to their
source. When the database answers again the segments are replayed oldest first, line by line,
each line in its own transaction; the replayed offset of a segment is kept in `<segment>.done`
(fsynced after each commit), a segment fully replayed is deleted. Receipts make a replay
idempotent: a line replayed twice (a crash between its commit and its offset) stores nothing
twice (its `received` count may be counted twice, no more).

The spool is bounded by CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES: `append` refuses a batch that would
pass it, and the sink then keeps MQTT messages unacknowledged (the broker holds them) and
counts OPC UA and Modbus values as rejected, "spool full" (see docs/connectors.md).
"""

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .storage import Batch, Pending

log = logging.getLogger("celltrace.connectors")

SEGMENT_BYTES = 16 * 1024 * 1024
_SUFFIX = ".jsonl"


def _encode(batch: Batch) -> bytes:
    values = []
    for v in batch.values:
        row = dict(v.row)
        row["measured_at"] = v.source_time.isoformat()
        values.append([v.connector_id, v.source, v.source_time.isoformat(), v.value, row, v.received_at.isoformat()])
    document = {"received": dict(batch.received), "refused": batch.refused, "values": values}
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _decode(line: bytes) -> Batch:
    document: dict[str, Any] = json.loads(line)
    values = [
        Pending(int(c), s, datetime.fromisoformat(t), float(x), row, datetime.fromisoformat(r))
        for c, s, t, x, row, r in document["values"]
    ]
    received = Counter({int(k): int(n) for k, n in document["received"].items()})
    refused = [(int(c), str(reason)) for c, reason in document["refused"]]
    return Batch(received=received, refused=refused, values=values)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Append-only segment files in one directory, at most max_bytes in all. Used from one
    thread (the sink's worker)."""

    def __init__(self, directory: Path | str, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._size = sum(p.stat().st_size for p in self._segments())

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def pending(self) -> bool:
        return self._size > 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, batch: Batch) -> bool:
        """Write the batch durably; False (nothing written) when it would pass the bound."""
        line = _encode(batch)
        if self._size + len(line) > self.max_bytes:
            return False
        segments = self._segments()
        path = segments[-1] if segments and segments[-1].stat().st_size < SEGMENT_BYTES else None
        created = path is None
        if path is None:
            path = self.directory / f"{time.time_ns():020d}{_SUFFIX}"
        with open(path, "ab") as segment:
            segment.write(line)
            segment.flush()
            os.fsync(segment.fileno())
        if created:
            _fsync_directory(self.directory)
        self._size += len(line)
        return True

    def replay(self, store: Callable[[Batch], Any]) -> int:
        """Store every spooled batch, oldest first; returns how many. A database error
        propagates with the rest left in place for the next try."""
        count = 0
        for path in self._segments():
            done_path = path.with_suffix(".done")
            offset = int(done_path.read_text() or 0) if done_path.exists() else 0
            with open(path, "rb") as segment:
                segment.seek(offset)
                for line in segment:
                    offset += len(line)
                    try:
                        batch = _decode(line)
                    except (ValueError, KeyError, TypeError):
                        # A line cut by a crash while it was written was never acknowledged:
                        # its source still has it.
                        log.warning("connectors: spool %s: an unreadable line skipped", path.name)
                        batch = None
                    if batch is not None:
                        store(batch)
                        count += 1
                    _offset_keep(done_path, offset)
            self._size -= path.stat().st_size
            path.unlink()
            done_path.unlink(missing_ok=True)
        self._size = max(0, self._size) if self._segments() else 0
        return count


def _offset_keep(path: Path, offset: int) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        handle.write(str(offset))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
