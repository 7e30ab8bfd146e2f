"""The OPC UA driver against a real asyncua server (its own thread, as a machine would be),
collecting into the sink the runner would be. No database: the driver never touches it."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua import ua

from connectors.config import ConnectorConfig
from connectors.drivers.opcua import OpcUaDriver
from tests.connectors.opcua_plant import (
    CLIENT_URI,
    LINE_PASSWORD,
    LINE_USER,
    Certs,
    Coater,
    CollectingSink,
    certs_make,
    coater_config,
    free_port,
)

MASS = "ns=2;s=Coater.MassLoading"
THICKNESS = "ns=2;s=Coater.Thickness"
POSITION = "ns=2;s=Coater.Position"
BY_URI = "nsu=urn:celltrace:test:coater;s=Coater.Thickness"  # the namespace by its URI, not its index
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Coater, Certs]]:
    """One server for the module (building its address space takes seconds): open endpoints and
    Basic256Sha256 Sign and SignAndEncrypt ones, with certificates made for the test."""
    certs = asyncio.run(certs_make(tmp_path_factory.mktemp("opcua-pki")))
    coater = Coater(free_port())
    policies = [
        ua.SecurityPolicyType.NoSecurity,
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        ua.SecurityPolicyType.Basic256Sha256_Sign,
    ]
    coater.call(coater.setup(certs=certs, policies=policies))
    yield coater, certs
    coater.close()


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 25))


@contextlib.asynccontextmanager
async def driving(config: ConnectorConfig, sink: CollectingSink) -> AsyncIterator[asyncio.Task[None]]:
    """Run the driver as run_connectors would; cancel it on the way out and time the stop."""
    task = asyncio.create_task(OpcUaDriver(config, sink).run())
    try:
        yield task
    finally:
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 2.0, "a cancelled driver disconnects within 2 s"


def test_changes_arrive_with_their_source_timestamps_and_bad_nodes_are_reported(plant: tuple[Coater, Certs]) -> None:
    coater, _ = plant

    async def scenario() -> None:
        sink = CollectingSink()
        extra = ("ns=2;s=Coater.Missing", "ns=2;s=Coater.Recipe", "ns=2;x=bad", BY_URI, "nsu=urn:nowhere;s=Coater.X")
        config = coater_config(coater.endpoint, {}, *extra)
        async with driving(config, sink):
            await sink.wait_state("connected")
            # The subscription's first notification is the current value; wait for it so the
            # writes below are changes.
            await sink.wait_values(MASS, 1)
            await sink.wait_values(POSITION, 1)
            for i in range(20):
                await coater.write("MassLoading", 10.0 + i, T0 + timedelta(milliseconds=100 * i))
                await coater.write("Position", 0.5 * i, T0 + timedelta(milliseconds=100 * i))
            await coater.write("Thickness", 81.5, T0)
            await sink.wait_values(MASS, 21)
            await sink.wait_values(POSITION, 21)
            await sink.wait_values(THICKNESS, 2)
            await sink.wait_values(BY_URI, 2)

        # Every change, in order, with the machine's own time (not the arrival time).
        assert sink.values(MASS)[1:] == [(T0 + timedelta(milliseconds=100 * i), 10.0 + i) for i in range(20)]
        assert sink.values(THICKNESS)[-1] == sink.values(BY_URI)[-1] == (T0, 81.5)
        # The position source is watched too: the runner needs it for position_m.
        assert sink.values(POSITION)[-1] == (T0 + timedelta(milliseconds=1900), 9.5)
        assert all(r.received_at.tzinfo is not None and r.connector_id == 7 for r in sink.readings)
        errors = {r.source: r.error for r in sink.readings if r.value is None}
        assert errors == {
            "ns=2;s=Coater.Missing": "node ns=2;s=Coater.Missing does not exist on the server",
            "ns=2;s=Coater.Recipe": "a str value, not a number",
            "ns=2;x=bad": errors["ns=2;x=bad"],
            "nsu=urn:nowhere;s=Coater.X": "node nsu=urn:nowhere;s=Coater.X does not exist on the server"
            " (no namespace urn:nowhere)",
        }
        assert "is not an OPC UA node id" in errors["ns=2;x=bad"]
        assert [s for _, s, _ in sink.states] == ["connected"]

    run(scenario())


def test_many_nodes_are_monitored_in_slices_and_each_missing_one_is_reported(plant: tuple[Coater, Certs]) -> None:
    coater, _ = plant
    missing = [f"ns=2;s=Coater.Roller{i}" for i in range(1200)]

    async def scenario() -> None:
        sink = CollectingSink()
        async with driving(coater_config(coater.endpoint, {}, *missing), sink):
            await sink.wait_values(MASS, 1)
            await sink.wait_values(THICKNESS, 1)
            await sink.wait_values(POSITION, 1)
        rejected = {r.source: r.error for r in sink.readings if r.value is None}
        assert rejected == {source: f"node {source} does not exist on the server" for source in missing}

    run(scenario())


def test_server_restart_reconnects_without_losing_or_repeating_values(plant: tuple[Coater, Certs]) -> None:
    coater, _ = plant
    t1 = T0 + timedelta(hours=1)

    async def scenario() -> None:
        sink = CollectingSink()
        async with driving(coater_config(coater.endpoint), sink):
            await sink.wait_state("connected")
            await sink.wait_values(MASS, 1)
            for i in range(5):
                await coater.write("MassLoading", 20.0 + i, t1 + timedelta(seconds=i))
            await sink.wait_values(MASS, 6)

            stopped = time.monotonic()
            await coater.stop()
            try:
                seen, _, error = await sink.wait_state("reconnecting", after=stopped, timeout=10.0)
            finally:
                # The machine comes back on the same port holding its last value with its own
                # timestamp: the resubscription hands that value again, which must not count twice.
                await coater.restart()
            assert seen - stopped < 10.0, "reconnecting within 10 s"
            # Whichever the driver saw first: the server's goodbye or the dropped socket.
            assert error == "subscription ended by the server: BadShutdown" or error.startswith("connection lost: ")
            await sink.wait_state("connected", after=seen, timeout=10.0)
            for i in range(5, 10):
                await coater.write("MassLoading", 20.0 + i, t1 + timedelta(seconds=i))
            await sink.wait_values(MASS, 11)
            await asyncio.sleep(0.3)  # room for a late duplicate to show

        mass = sink.values(MASS)
        assert len(mass) == len(set(mass)), f"a value handed twice: {mass}"
        assert mass[1:] == [(t1 + timedelta(seconds=i), 20.0 + i) for i in range(10)]
        states = [s for _, s, _ in sink.states]
        # One or more attempts while the server was down, each reported.
        assert [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s] == [
            "connected",
            "reconnecting",
            "connected",
        ]

    run(scenario())


def test_a_session_the_server_closes_is_replaced(plant: tuple[Coater, Certs]) -> None:
    """What a session timeout does on the server: it closes the session, the socket stays."""
    coater, _ = plant
    t2 = T0 + timedelta(hours=2)

    async def close_sessions() -> None:
        for session in list(coater.server.iserver._external_sessions.values()):
            await session.close_session(True)

    async def scenario() -> None:
        sink = CollectingSink()
        async with driving(coater_config(coater.endpoint), sink):
            await sink.wait_state("connected")
            await sink.wait_values(MASS, 1)
            await coater.write("MassLoading", 30.0, t2)
            await sink.wait_values(MASS, 2)
            closed = time.monotonic()
            await coater.run(close_sessions())
            seen, _, error = await sink.wait_state("reconnecting", after=closed, timeout=10.0)
            await sink.wait_state("connected", after=seen, timeout=10.0)
            await coater.write("MassLoading", 31.0, t2 + timedelta(seconds=1))
            await sink.wait_values(MASS, 3)
        # Either the server's notice that the subscription went with the session, or the
        # keep-alive read of the server state finding the session gone.
        assert error == "subscription ended by the server: BadShutdown" or (
            error.startswith("connection lost: ") and "Session" in error
        ), error
        assert sink.values(MASS)[1:] == [(t2, 30.0), (t2 + timedelta(seconds=1), 31.0)]

    run(scenario())


def test_basic256sha256_with_certificates_explicit_or_best_offered(plant: tuple[Coater, Certs]) -> None:
    coater, certs = plant
    t3 = T0 + timedelta(hours=3)
    client_files = {"certificate": str(certs.client_cert), "private_key": str(certs.client_key)}
    explicit = {
        "security_policy": "Basic256Sha256",
        "security_mode": "SignAndEncrypt",
        "server_certificate": str(certs.server_cert),
        **client_files,
    }
    not_offered = {"security_policy": "Aes256Sha256RsaPss", **client_files}

    async def scenario() -> list[CollectingSink]:
        sinks = [CollectingSink(), CollectingSink(), CollectingSink()]
        seen_before = len(coater.client_uris)
        async with (
            driving(coater_config(coater.endpoint, explicit), sinks[0]),
            driving(coater_config(coater.endpoint, client_files), sinks[1]),
            driving(coater_config(coater.endpoint, not_offered), sinks[2]),
        ):
            for sink in sinks[:2]:
                await sink.wait_state("connected")
                await sink.wait_values(MASS, 1)
            await coater.write("MassLoading", 12.25, t3)
            for sink in sinks[:2]:
                await sink.wait_values(MASS, 2)
            _, _, error = await sinks[2].wait_state("reconnecting")
        # Both secure clients showed the server their certificate, with the URI it carries.
        assert coater.client_uris[seen_before:] == [CLIENT_URI, CLIENT_URI]
        assert error == "the server offers no Aes256Sha256RsaPss endpoint"
        return sinks

    sinks = asyncio.run(asyncio.wait_for(scenario(), 25))
    assert sinks[0].values(MASS)[-1] == sinks[1].values(MASS)[-1] == (t3, 12.25)
    assert not sinks[2].readings and "connected" not in [s for _, s, _ in sinks[2].states]


def test_a_user_signs_in_with_the_password_and_a_wrong_one_is_the_reported_reason(
    plant: tuple[Coater, Certs],
) -> None:
    coater, _ = plant

    async def scenario() -> None:
        right, wrong = CollectingSink(), CollectingSink()
        async with (
            driving(coater_config(coater.endpoint, {"username": LINE_USER, "password": LINE_PASSWORD}), right),
            driving(coater_config(coater.endpoint, {"username": LINE_USER, "password": "guess"}), wrong),
        ):
            await right.wait_state("connected")
            await right.wait_values(MASS, 1)
            _, _, error = await wrong.wait_state("reconnecting")
        assert "BadUserAccessDenied" in error
        assert not wrong.readings

    run(scenario())


async def _silent_server(accepted: list[int]) -> asyncio.Server:
    """A TCP port that takes the connection and never answers: a hung PLC."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await reader.read()  # until the client gives up
        writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0)


def test_a_server_that_never_answers_reads_reconnecting_and_cancelling_is_prompt() -> None:
    async def scenario() -> None:
        accepted: list[int] = []
        silent = await _silent_server(accepted)
        endpoint = f"opc.tcp://127.0.0.1:{silent.sockets[0].getsockname()[1]}/"
        sink = CollectingSink()
        started = time.monotonic()
        async with driving(coater_config(endpoint), sink):
            seen, _, error = await sink.wait_state("reconnecting", timeout=10.0)
        assert seen - started < 10.0 and accepted
        assert error == f"no answer from {endpoint} within 4 s"
        # Cancelled again while waiting for the answer (driving asserts it stops within 2 s).
        before = len(accepted)
        async with driving(coater_config(endpoint), CollectingSink()):
            while len(accepted) == before:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
        silent.close()

    run(scenario())


def test_a_missing_certificate_file_is_the_reported_reason(plant: tuple[Coater, Certs], tmp_path: Any) -> None:
    coater, certs = plant
    options = {"certificate": str(tmp_path / "gone.der"), "private_key": str(certs.client_key)}

    async def scenario() -> None:
        sink = CollectingSink()
        async with driving(coater_config(coater.endpoint, options), sink):
            _, _, error = await sink.wait_state("reconnecting")
        assert error == f"file not found: {tmp_path / 'gone.der'}"

    run(scenario())


def test_unreachable_server_reads_reconnecting_with_the_reason_well_within_10_s() -> None:
    async def scenario() -> None:
        sink = CollectingSink()
        started = time.monotonic()
        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/"
        async with driving(coater_config(endpoint), sink):
            seen, _, error = await sink.wait_state("reconnecting", timeout=10.0)
            await asyncio.sleep(1.0)  # cancelled in the middle of a back-off
        assert seen - started < 5.0
        assert error == f"connection refused by {endpoint}"
        assert not sink.readings

    run(scenario())


def test_bad_options_are_reported_and_nothing_connects() -> None:
    async def scenario() -> None:
        sink = CollectingSink()
        options = {"security_policy": "Basic128Rsa15", "queue_size": True, "colour": "red"}
        async with driving(coater_config("opc.tcp://127.0.0.1:1/", options), sink):
            _, _, error = await sink.wait_state("reconnecting", timeout=2.0)
            await asyncio.sleep(0.3)
        assert error.split("; ") == [
            "options.colour: unknown option",
            "options.security_policy: 'Basic128Rsa15' is not one of None, Basic256Sha256, Aes128Sha256RsaOaep,"
            " Aes256Sha256RsaPss",
            "options.queue_size: must be an integer",
        ]
        assert len(sink.states) == 1, "no retry loop: a corrected configuration restarts the driver"

    run(scenario())
