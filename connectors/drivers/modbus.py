"""Modbus TCP: poll holding and input registers at a fixed interval, decode them, scale them.

Each mapping's source is `holding:<address>` or `input:<address>` with its `data_type` (how many
16-bit words it spans and how they read) and `scale` (the factor to the mapping's unit).
Registers that follow each other in one table are read in one request (at most 125 words, the
protocol's limit). A block the device refuses (an address it does not have: an exception
response) is read again register by register, so that only the missing one is reported, as a
reading without a value, and the others go on. A position source is read with the data type of
the mapping that names it, unscaled (metres), unless it is mapped itself.
"""

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from connectors.config import ConnectorConfig

from .base import Driver, Reading

DEFAULT_PORT = 502
DEFAULT_UNIT_ID = 1
DEFAULT_POLL_MS = 1000
DEFAULT_TIMEOUT_MS = 1000
MAX_WORDS_PER_READ = 125  # Modbus application protocol 1.1b3, function codes 3 and 4

_DATATYPES = AsyncModbusTcpClient.DATATYPE
DATA_TYPES: dict[str, "AsyncModbusTcpClient.DATATYPE"] = {
    "int16": _DATATYPES.INT16,
    "uint16": _DATATYPES.UINT16,
    "int32": _DATATYPES.INT32,
    "uint32": _DATATYPES.UINT32,
    "float32": _DATATYPES.FLOAT32,
    "float64": _DATATYPES.FLOAT64,
}
# Modbus exception codes, as the reading's error says them.
_EXCEPTIONS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "device failure"}


@dataclass(frozen=True, slots=True)
class Register:
    """One value to read: where it is, how many words, and how it decodes."""

    source: str
    table: str  # "holding" or "input"
    address: int
    data_type: str
    scale: float

    @property
    def words(self) -> int:
        return int(DATA_TYPES[self.data_type].value[1])


@dataclass(frozen=True, slots=True)
class Block:
    """Registers of one table read by one request."""

    table: str
    address: int
    count: int
    registers: tuple[Register, ...]


def _parse(source: str) -> tuple[str, int] | None:
    table, _, address = source.partition(":")
    if table not in ("holding", "input") or not address.isdigit() or int(address) > 65_535:
        return None
    return table, int(address)


def registers_of(config: ConnectorConfig) -> list[Register]:
    """The registers to poll: every mapped source, and position sources not mapped themselves."""
    found: dict[str, Register] = {}
    for mapping in config.mappings:
        where = _parse(mapping.source)
        if where is not None and mapping.data_type in DATA_TYPES:
            found[mapping.source] = Register(mapping.source, *where, mapping.data_type, mapping.scale)
    for mapping in config.mappings:
        where = _parse(mapping.position_source) if mapping.position_source else None
        if where is not None and mapping.position_source not in found and mapping.data_type in DATA_TYPES:
            found[mapping.position_source] = Register(mapping.position_source, *where, mapping.data_type, 1.0)
    return list(found.values())


def blocks_of(registers: Iterable[Register]) -> list[Block]:
    """Adjacent registers of one table in one block (no gaps: a gap may hold an address the
    device does not have, which would fail the whole read)."""
    blocks: list[Block] = []
    ordered = sorted(registers, key=lambda r: (r.table, r.address, r.words))
    current: list[Register] = []
    for register in ordered:
        if current:
            first, end = current[0], max(r.address + r.words for r in current)
            fits = register.address + register.words - first.address <= MAX_WORDS_PER_READ
            if register.table == first.table and register.address <= end and fits:
                current.append(register)
                continue
            blocks.append(_block(current))
        current = [register]
    if current:
        blocks.append(_block(current))
    return blocks


def _block(registers: Sequence[Register]) -> Block:
    start = registers[0].address
    end = max(r.address + r.words for r in registers)
    return Block(registers[0].table, start, end - start, tuple(registers))


def decode(words: Sequence[int], register: Register, word_order: str = "big", byte_order: str = "big") -> float:
    """The register's words as its data type, times its scale."""
    if byte_order == "little":  # each word's two bytes swapped (the device is little-endian inside a word)
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    order: Literal["big", "little"] = "little" if word_order == "little" else "big"
    raw = AsyncModbusTcpClient.convert_from_registers(list(words), DATA_TYPES[register.data_type], word_order=order)
    assert isinstance(raw, int | float)
    return float(raw) * register.scale


class DeviceRefused(Exception):
    """An exception response: the device answered, but not with values."""


class ModbusDriver(Driver):
    async def run(self) -> None:
        options = self.config.options
        parts = urlsplit(self.config.endpoint)
        host, port = parts.hostname or "", parts.port or DEFAULT_PORT
        timeout_s = int(options.get("timeout_ms", DEFAULT_TIMEOUT_MS)) / 1000
        blocks = blocks_of(registers_of(self.config))
        self._attempt = 0
        while True:
            # reconnect_delay=0: pymodbus does not reconnect on its own; the back-off is ours.
            client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
            try:
                if not await client.connect():
                    raise ConnectionError(f"cannot connect to {host}:{port}")
                await self._poll(client, blocks)
            except (ModbusException, OSError, TimeoutError) as exc:
                self.sink.state(self.config.id, "reconnecting", f"{host}:{port}: {exc}")
                await self.backoff(self._attempt)
                self._attempt += 1
            finally:
                client.close()

    async def _poll(self, client: AsyncModbusTcpClient, blocks: Sequence[Block]) -> None:
        """Poll until a read fails. Connected only once the device has answered a whole poll:
        an open TCP port (a gateway, a firewall) with no Modbus answer behind it is not."""
        interval_s = int(self.config.options.get("poll_interval_ms", DEFAULT_POLL_MS)) / 1000
        loop = asyncio.get_running_loop()
        answered = False
        while True:
            started = loop.time()
            polled_at = datetime.now(UTC)
            for block in blocks:
                await self._read_block(client, block, polled_at)
            if not answered:
                answered = True
                self.sink.state(self.config.id, "connected")
                self._attempt = 0
            await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))

    async def _read(self, client: AsyncModbusTcpClient, table: str, address: int, count: int) -> list[int]:
        unit_id = int(self.config.options.get("unit_id", DEFAULT_UNIT_ID))
        read = client.read_holding_registers if table == "holding" else client.read_input_registers
        response = await read(address, count=count, device_id=unit_id)
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", 0)
            reason = _EXCEPTIONS.get(code, f"exception {code}")
            raise DeviceRefused(f"{reason}: the device refused {count} register(s) from {table}:{address}")
        return list(response.registers)

    async def _read_block(self, client: AsyncModbusTcpClient, block: Block, polled_at: datetime) -> None:
        try:
            words = await self._read(client, block.table, block.address, block.count)
        except DeviceRefused as exc:
            if len(block.registers) == 1:
                self._put(block.registers[0], None, polled_at, str(exc))
                return
            for register in block.registers:  # find the one the device does not have
                await self._read_block(client, _block([register]), polled_at)
            return
        for register in block.registers:
            offset = register.address - block.address
            self._put(register, words[offset : offset + register.words], polled_at)

    def _put(self, register: Register, words: Sequence[int] | None, polled_at: datetime, error: str = "") -> None:
        value: float | None = None
        if words is not None:
            options = self.config.options
            value = decode(words, register, options.get("word_order", "big"), options.get("byte_order", "big"))
            if not math.isfinite(value):
                value, error = None, f"the {register.data_type} is not a finite number"
        # The error does not name the source: the runner's rejection reason puts it in front.
        self.sink.put(
            Reading(
                connector_id=self.config.id,
                source=register.source,
                value=value,
                received_at=polled_at,
                measured_at=polled_at,
                error=error,
            )
        )


DRIVER = ModbusDriver  # what run_connectors runs for kind "modbus"
