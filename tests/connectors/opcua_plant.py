"""A real OPC UA server in the test process: a coater with a few Double variables, and the
collecting sink the runner would be. Shared by the OPC UA driver tests and its benchmark."""

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from asyncua import Server, ua
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors.config import ConnectorConfig, MappingConfig
from connectors.drivers.base import Reading

NAMESPACE = "urn:celltrace:test:coater"
SERVER_URI = "urn:celltrace:test:server"
CLIENT_URI = "urn:celltrace:connector"
_VALIDATOR = CertificateValidator(
    CertificateValidatorOptions.BASIC_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
)
LINE_USER, LINE_PASSWORD = "line1", "dry-room-7"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CollectingSink:
    """What the runner offers a driver: take readings, take state reports (with their time)."""

    readings: list[Reading] = field(default_factory=list)
    states: list[tuple[float, str, str]] = field(default_factory=list)

    def put(self, reading: Reading) -> None:
        self.readings.append(reading)

    def state(self, connector_id: int, state: str, error: str = "") -> None:
        self.states.append((time.monotonic(), state, error))

    def values(self, source: str) -> list[tuple[datetime | None, float | None]]:
        return [(r.measured_at, r.value) for r in self.readings if r.source == source and r.value is not None]

    async def wait_state(self, state: str, *, after: float = 0.0, timeout: float = 10.0) -> tuple[float, str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for seen in self.states:
                if seen[1] == state and seen[0] >= after:
                    return seen
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {state!r} state within {timeout} s; states: {self.states}")

    async def wait_values(self, source: str, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.values(source)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{source}: {len(self.values(source))} of {count} values: {self.values(source)}")
            await asyncio.sleep(0.01)


@dataclass
class Certs:
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


async def certs_make(directory: Path) -> Certs:
    """Self-signed application certificates for the server and the client (DER cert, PEM key)."""
    certs = Certs(
        directory / "server.der", directory / "server.pem", directory / "client.der", directory / "client.pem"
    )
    host = socket.gethostname()
    for cert, key, uri, use in (
        (certs.server_cert, certs.server_key, SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH),
        (certs.client_cert, certs.client_key, CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        await cert_gen.setup_self_signed_certificate(key, cert, uri, host, [use], {"organizationName": "CellTrace"})
    return certs


class LineUsers:
    """The server's users: anonymous, and the line's account `line1` with its password."""

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is None or (username, password) == (LINE_USER, LINE_PASSWORD):
            return User(role=UserRole.User)
        return None


class Coater:
    """An OPC UA server with Double variables `Coater.<name>` in namespace 2, run by its own
    thread and event loop as a machine would be: the driver under test shares nothing with it.
    Its address space is built once (asyncua takes seconds for that); `restart` stops and starts
    the listener, and the variables keep their last values, as a PLC does."""

    def __init__(self, port: int, names: tuple[str, ...] = ("MassLoading", "Thickness", "Position")) -> None:
        self.port = port
        self.names = names
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/"
        self.server = Server(user_manager=LineUsers())
        self.variables: dict[str, ua.NodeId] = {}
        self.client_uris: list[str] = []  # the application URI of every client certificate seen
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"opcua-{port}", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop and wait for it (from a thread without a loop)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop, awaited from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def setup(self, *, certs: Certs | None = None, policies: list[ua.SecurityPolicyType] | None = None) -> None:
        await self.server.init()
        self.server.set_endpoint(self.endpoint)
        if certs is not None:
            await self.server.load_certificate(str(certs.server_cert))
            await self.server.load_private_key(str(certs.server_key))
            await self.server.set_application_uri(SERVER_URI)
            self.server.set_certificate_validator(self._validate)
        if policies is not None:
            self.server.set_security_policy(policies)
        index = await self.server.register_namespace(NAMESPACE)
        coater = await self.server.nodes.objects.add_object(index, "Coater")
        for name in self.names:
            node = await coater.add_variable(ua.NodeId(f"Coater.{name}", index), name, 0.0, ua.VariantType.Double)
            self.variables[name] = node.nodeid
        await coater.add_variable(ua.NodeId("Coater.Recipe", index), "Recipe", "NMC811", ua.VariantType.String)
        await self.server.start()

    async def _validate(self, certificate: x509.Certificate, app: ua.ApplicationDescription) -> None:
        # The server refuses a client whose certificate does not carry its application URI.
        await _VALIDATOR(certificate, app)
        self.client_uris.append(app.ApplicationUri)

    async def put(self, name: str, value: float, source_time: datetime) -> None:
        """Change a variable, with its source time (on the server's loop)."""
        data_value = ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=source_time)
        await self.server.write_attribute_value(self.variables[name], data_value)

    async def write(self, name: str, value: float, source_time: datetime) -> None:
        """`put`, awaited from another loop."""
        await self.run(self.put(name, value, source_time))

    async def stop(self) -> None:
        await self.run(self.server.stop())

    async def restart(self) -> None:
        await self.run(self.server.start())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def coater_config(endpoint: str, options: Mapping[str, object] | None = None, *extra: str) -> ConnectorConfig:
    """A connector mapping MassLoading and Thickness (Position as their metre) and `extra` sources."""
    mappings = [
        MappingConfig(i, source, "mass_loading", "g/m**2", "COAT-01", "", "ns=2;s=Coater.Position", "", 1.0)
        for i, source in enumerate(("ns=2;s=Coater.MassLoading", "ns=2;s=Coater.Thickness", *extra), start=1)
    ]
    return ConnectorConfig(7, "COAT-01-plc", "opcua", endpoint, dict(options or {}), 1, tuple(mappings))
