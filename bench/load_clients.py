"""The clients of bench/load.py: 50 scan stations, the operation clients and the bulk client, in
plain asyncio over raw keep-alive HTTP/1.1 connections, each request's latency and error kept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

STATIONS = 50
SCANS_PER_S = 150.0
OP_CLIENTS = 10
OPS_PER_S = 5.0
BULK_REQUESTS_PER_S = 4.0
BULK_ROWS = 1000
INSTRUMENT = "bench-load-bulk"


# --- raw HTTP/1.1 keep-alive client --------------------------------------------------------------


class Connection:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request on the kept connection (reopened once if the server closed it idle)."""
        for attempt in (0, 1):
            if self.writer is None:
                await self._open()
            try:
                return await self._exchange(method, path, body, content_type, extra or {})
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(
        self, method: str, path: str, body: bytes, content_type: str, extra: dict[str, str]
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        headers = {
            "Host": "127.0.0.1",
            "Authorization": f"Token {self.token}",
            "Accept": "application/json",
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
        } | extra
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while (size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            data = b"".join(parts)
        elif length is not None:
            data = await self.reader.readexactly(length)
        else:
            data, close = await self.reader.read(), True
        if close:
            self.close()
        return status, data


# --- the clients ---------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {"scan": [], "operation": [], "bulk": []}
        self.errors: dict[str, list[str]] = {"scan": [], "operation": [], "bulk": []}
        self.retries = 0
        self.acked_keys: list[str] = []
        self.acked_values: list[int] = []


async def paced(rate: float, offset: float, deadline: float, step: Callable[[int], Awaitable[None]]) -> None:
    """Call `step(i)` at start + offset + i / rate (open loop: a late request goes at once)."""
    start = time.monotonic() + offset
    i = 0
    while (due := start + i / rate) < deadline:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await step(i)
        i += 1


async def timed_post(
    conn: Connection, stats: Stats, kind: str, path: str, body: bytes, content_type: str
) -> tuple[int, bytes] | None:
    """POST `body`, its latency kept under `kind`; None if the connection failed (the error kept,
    the connection closed: the next request opens a new one)."""
    t0 = time.perf_counter()
    try:
        status, data = await conn.request("POST", path, body, content_type)
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.errors[kind].append(repr(exc))
        conn.close()
        return None
    stats.latency[kind].append(time.perf_counter() - t0)
    return status, data


async def station(n: int, port: int, token: str, stats: Stats, deadline: float) -> None:
    conn = Connection(port, token)
    body = json.dumps({"code": f"CR-scan-{n:02d}", "station": f"SCAN-{n:02d}"}).encode()

    async def scan(_: int) -> None:
        answer = await timed_post(conn, stats, "scan", "/api/scan/", body, "application/json")
        if answer is None:
            return
        status, data = answer
        if status != 200:
            stats.errors["scan"].append(f"{status} {data[:200]!r}")

    await paced(SCANS_PER_S / STATIONS, n / SCANS_PER_S, deadline, scan)
    conn.close()


async def operator(n: int, port: int, token: str, stats: Stats, deadline: float) -> None:
    conn = Connection(port, token)
    base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n)

    async def record(i: int) -> None:
        key = f"load-{n}-{i}"
        started = base + timedelta(minutes=i)
        body = json.dumps(
            {
                "step": "coating",
                "station": "COAT-02",
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(seconds=50)).isoformat(),
                "inputs": [],
                "outputs": [
                    {"kind": "coated_roll", "quantity": 10, "unit": "m", "code": f"CR-{key}", "polarity": "anode"}
                ],
                "parameters": {},
            }
        ).encode()
        for attempt in range(5):  # the same key again: at most one operation is written
            t0 = time.perf_counter()
            try:
                status, data = await conn.request(
                    "POST", "/api/operations/", body, "application/json", {"Idempotency-Key": key}
                )
            except (OSError, asyncio.IncompleteReadError) as exc:
                status, data = 0, repr(exc).encode()
                conn.close()
            stats.latency["operation"].append(time.perf_counter() - t0)
            if 200 <= status < 300:
                stats.acked_keys.append(key)
                return
            stats.errors["operation"].append(f"{status} {data[:200]!r}")
            if attempt < 4:
                stats.retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))

    await paced(OPS_PER_S / OP_CLIENTS, n / OPS_PER_S, deadline, record)
    conn.close()


async def bulk(port: int, token: str, stats: Stats, deadline: float) -> None:
    conn = Connection(port, token)

    async def post(i: int) -> None:
        now = datetime.now(UTC).isoformat()
        first = i * BULK_ROWS
        lines = ["parameter,value,unit,station,measured_at,source,instrument"]
        # value = a counter, so each acknowledged row can be found once afterwards
        lines += [f"bench_thickness,{v},um,COAT-01,{now},online,{INSTRUMENT}" for v in range(first, first + BULK_ROWS)]
        body = ("\n".join(lines) + "\n").encode()
        answer = await timed_post(conn, stats, "bulk", "/api/measurements/bulk/", body, "text/csv")
        if answer is None:
            return
        status, data = answer
        if 200 <= status < 300:
            stats.acked_values.extend(range(first, first + BULK_ROWS))
        else:
            stats.errors["bulk"].append(f"{status} {data[:200]!r}")

    await paced(BULK_REQUESTS_PER_S, 0.0, deadline, post)
    conn.close()


async def drive(port: int, token: str, seconds: float, *, scans_only: bool = False, bulk_port: int = 0) -> Stats:
    stats = Stats()
    deadline = time.monotonic() + seconds
    tasks = [station(n, port, token, stats, deadline) for n in range(1, STATIONS + 1)]
    if not scans_only:
        tasks += [operator(n, port, token, stats, deadline) for n in range(OP_CLIENTS)]
        tasks.append(bulk(bulk_port or port, token, stats, deadline))
    await asyncio.gather(*tasks)
    return stats
