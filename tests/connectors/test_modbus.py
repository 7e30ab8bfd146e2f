"""The Modbus driver against pymodbus's own TCP server, in process on a free port: every data
type and scale decoded, word and byte order, adjacent registers in one read, a register the
device does not have reported while the others go on, and a server that goes away and comes back."""

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from connectors.config import ConnectorConfig, MappingConfig
from connectors.drivers.base import Reading
from connectors.drivers.modbus import ModbusDriver, Register, blocks_of, registers_of

DT = AsyncModbusTcpClient.DATATYPE
HOLDING, INPUT = 6, 4  # the function codes the server's datastore writes through
UNIT = 1


@dataclass
class CollectingSink:
    """A Sink that keeps what it is given."""

    readings: list[Reading] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)

    def put(self, reading: Reading) -> None:
        self.readings.append(reading)

    def state(self, connector_id: int, state: str, error: str = "") -> None:
        self.states.append((state, error))

    def latest(self, source: str) -> Reading | None:
        return next((r for r in reversed(self.readings) if r.source == source), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _server(port: int) -> ModbusTcpServer:
    """Holding registers 0..199 and input registers 0..49 exist; nothing else."""
    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    device = SimDevice(
        id=UNIT,
        simdata=(
            bits,
            list(bits),
            [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=50, values=0, datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server


def _mapping(index: int, source: str, data_type: str, scale: float = 1.0, position_source: str = "") -> MappingConfig:
    return MappingConfig(
        id=index,
        source=source,
        parameter="p",
        unit="",
        station="MIX-01",
        room="",
        position_source=position_source,
        data_type=data_type,
        scale=scale,
    )


def _config(port: int, mappings: list[MappingConfig], **options: Any) -> ConnectorConfig:
    return ConnectorConfig(
        id=7,
        code="mixer",
        kind="modbus",
        endpoint=f"modbus://127.0.0.1:{port}",
        options={"poll_interval_ms": 50, "timeout_ms": 500, "unit_id": UNIT, **options},
        revision=1,
        mappings=tuple(mappings),
    )


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


async def _driven(config: ConnectorConfig, sink: CollectingSink) -> asyncio.Task[None]:
    return asyncio.create_task(ModbusDriver(config, sink).run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


VALUES = [
    ("holding:0", "int16", -1234, DT.INT16, 0.1, -123.4),
    ("holding:1", "uint16", 65535, DT.UINT16, 1.0, 65535.0),
    ("holding:2", "int32", -2_000_000_000, DT.INT32, 1.0, -2_000_000_000.0),
    ("holding:4", "uint32", 4_000_000_000, DT.UINT32, 0.001, 4_000_000.0),
    ("holding:6", "float32", 21.5, DT.FLOAT32, 1.0, 21.5),
    ("holding:8", "float64", -1.25e-3, DT.FLOAT64, 1000.0, -1.25),
    ("input:10", "float32", 3.75, DT.FLOAT32, 2.0, 7.5),
    ("input:12", "int16", 7, DT.INT16, -1.0, -7.0),
]


@pytest.mark.parametrize(("word_order", "byte_order"), [("big", "big"), ("little", "big"), ("big", "little")])
def test_every_data_type_and_scale_decodes(word_order, byte_order):
    async def scenario() -> None:
        port = _free_port()
        server = await _server(port)
        for source, _, value, data_type, _, _ in VALUES:
            table, address = source.split(":")
            words = AsyncModbusTcpClient.convert_to_registers(value, data_type, word_order=word_order)
            if byte_order == "little":
                words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
            await server.async_setValues(UNIT, HOLDING if table == "holding" else INPUT, int(address), words)
        mappings = [_mapping(i, s, t, scale) for i, (s, t, _, _, scale, _) in enumerate(VALUES)]
        sink = CollectingSink()
        task = await _driven(_config(port, mappings, word_order=word_order, byte_order=byte_order), sink)
        try:
            await _until(lambda: all(sink.latest(s) for s, *_ in VALUES))
        finally:
            await _stop(task)
            await server.shutdown()
        assert sink.states[0] == ("connected", "")
        for source, _, _, _, _, expected in VALUES:
            reading = sink.latest(source)
            assert reading is not None and reading.error == ""
            assert reading.value == pytest.approx(expected, rel=1e-6), source
            assert reading.connector_id == 7 and reading.measured_at == reading.received_at

    _run(scenario)


def test_a_register_the_device_does_not_have_is_reported_and_the_others_go_on():
    async def scenario() -> None:
        port = _free_port()
        server = await _server(port)
        await server.async_setValues(UNIT, HOLDING, 198, [11, 22])
        await server.async_setValues(UNIT, HOLDING, 50, [0x7FC0, 0x0000])  # a float32 NaN
        # 198, 199 exist, 200 does not: one block of three that the device refuses as a whole.
        mappings = [
            _mapping(1, "holding:198", "uint16"),
            _mapping(2, "holding:199", "uint16"),
            _mapping(3, "holding:200", "uint16"),
            _mapping(4, "input:60", "int16"),
            _mapping(5, "holding:50", "float32"),
        ]
        sink = CollectingSink()
        task = await _driven(_config(port, mappings), sink)
        try:
            await _until(lambda: all(sink.latest(m.source) for m in mappings))
            second = len(sink.readings)
            await _until(lambda: len(sink.readings) >= second + 5)  # it keeps polling
        finally:
            await _stop(task)
            await server.shutdown()
        assert sink.latest("holding:198").value == 11 and sink.latest("holding:199").value == 22
        for source in ("holding:200", "input:60"):
            missing = sink.latest(source)
            assert missing.value is None and "illegal data address" in missing.error
        nan = sink.latest("holding:50")
        assert nan.value is None and "not a finite number" in nan.error
        assert [s for s, _ in sink.states] == ["connected"]

    _run(scenario)


def test_server_gone_is_reconnecting_then_values_again():
    async def scenario() -> None:
        port = _free_port()
        server = await _server(port)
        await server.async_setValues(UNIT, HOLDING, 5, [100])
        sink = CollectingSink()
        task = await _driven(_config(port, [_mapping(1, "holding:5", "uint16")]), sink)
        try:
            await _until(lambda: sink.latest("holding:5") is not None)
            await server.shutdown()
            await _until(lambda: any(s == "reconnecting" for s, _ in sink.states))
            state, error = next(x for x in sink.states if x[0] == "reconnecting")
            assert f"127.0.0.1:{port}" in error
            before = len(sink.readings)
            server = await _server(port)
            await server.async_setValues(UNIT, HOLDING, 5, [200])
            await _until(lambda: sink.latest("holding:5").value == 200, timeout=15)
            assert len(sink.readings) > before
            assert sink.states[-1] == ("connected", "")
        finally:
            await _stop(task)
            await server.shutdown()

    _run(scenario)


def test_nothing_listening_is_reconnecting_with_the_error_soon():
    async def scenario() -> None:
        sink = CollectingSink()
        task = await _driven(_config(_free_port(), [_mapping(1, "holding:5", "uint16")]), sink)
        try:
            await _until(lambda: bool(sink.states), timeout=5)
        finally:
            await _stop(task)
        assert sink.states[0][0] == "reconnecting" and "cannot connect" in sink.states[0][1]
        assert sink.readings == []

    _run(scenario)


def test_a_device_that_accepts_but_never_answers_is_reconnecting_not_connected():
    """A TCP port that is open (a gateway, a firewall) but no Modbus answer: the connector
    cannot talk to the device, so it is never reported connected."""

    async def scenario() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(-1)  # take the request, answer nothing
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sink = CollectingSink()
        config = _config(port, [_mapping(1, "holding:5", "uint16")], timeout_ms=300, poll_interval_ms=100)
        task = await _driven(config, sink)
        try:
            await _until(lambda: any(s == "reconnecting" for s, _ in sink.states), timeout=5)
        finally:
            await _stop(task)
            server.close()
        assert "connected" not in [s for s, _ in sink.states]
        assert "No response" in next(e for s, e in sink.states if s == "reconnecting")
        assert sink.readings == []

    _run(scenario)


def _register(source: str, data_type: str = "uint16") -> Register:
    table, address = source.split(":")
    return Register(source, table, int(address), data_type, 1.0)


def test_adjacent_registers_are_one_read_gaps_and_tables_are_not():
    blocks = blocks_of(
        [
            _register("holding:10"),
            _register("holding:11", "float32"),  # 11..12
            _register("holding:13"),
            _register("holding:15"),  # a gap: 14 may not exist
            _register("input:13"),
            _register("input:12"),
        ]
    )
    assert [(b.table, b.address, b.count, len(b.registers)) for b in blocks] == [
        ("holding", 10, 4, 3),
        ("holding", 15, 1, 1),
        ("input", 12, 2, 2),
    ]


def test_a_long_run_is_split_at_the_protocols_125_words():
    blocks = blocks_of([_register(f"holding:{a}", "float64") for a in range(0, 400, 4)])
    assert all(b.count <= 125 for b in blocks) and sum(len(b.registers) for b in blocks) == 100
    assert [b.address for b in blocks] == [0, 124, 248, 372]


def test_position_sources_are_polled_too():
    config = _config(502, [_mapping(1, "holding:1", "float32", 0.5, position_source="holding:20")])
    registers = {r.source: r for r in registers_of(config)}
    assert set(registers) == {"holding:1", "holding:20"}
    assert registers["holding:20"].scale == 1.0 and registers["holding:20"].data_type == "float32"
