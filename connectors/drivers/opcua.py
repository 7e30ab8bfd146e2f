"""OPC UA: subscribe to data changes of every mapped node and hand each change to the sink.

One asyncua `Client` per connection attempt. asyncua's own reconnect is left off: its supervisor
only tells us the connection is lost (a dropped socket, a failed keep-alive read of the server
state every second, a session the server closed), and this driver then reports `reconnecting`
with that error, backs off, and builds a fresh client, session and subscription. A
resubscription sends each node's current value again; the driver skips a change equal to the
last one it handed for that node (same source time, same value), and the runner's receipts keep
anything else from being stored twice.
"""

import asyncio
import contextlib
import logging
import math
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent, Subscription
from asyncua.crypto import security_policies, uacrypto
from cryptography import x509

from connectors.drivers.base import Driver, Reading
from connectors.drivers.opcua_options import (
    OpcUaOptions,
    options_check,
    options_read,
    source_check,
)

__all__ = ["DRIVER", "OpcUaDriver", "options_check", "source_check"]

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 4.0  # each request, the TCP connect included
WATCHDOG_S = 1.0  # how often asyncua reads the server state to see the session is alive
SESSION_TIMEOUT_MS = 30_000  # the server drops our session this long after we vanish
CLOSE_TIMEOUT_S = 1.0  # a cancelled driver gives the server this long to close the session
# Changes asyncua buffers between its publish loop and this driver; a full buffer forces a
# reconnect (a visible error) rather than a silent drop.
EVENT_BUFFER = 200_000
ITEMS_PER_CALL = 500
# asyncua decodes an unset DateTime as the FILETIME epoch (1601).
_UNSET_BEFORE = datetime(1900, 1, 1, tzinfo=UTC)


class SessionLost(Exception):
    """The connection or session went away after it was set up."""


class OpcUaDriver(Driver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # source -> (source time, value, error) of the last reading handed to the sink
        self._last: dict[str, tuple[datetime | None, float | None, str]] = {}
        self._sources: dict[int, str] = {}  # monitored item's client handle -> its source
        self._connected = False

    async def run(self) -> None:
        problems = options_check(self.config.options)
        if problems:
            # Nothing to retry: a corrected configuration bumps the revision and restarts us.
            self.sink.state(self.config.id, "reconnecting", "; ".join(problems))
            await asyncio.Event().wait()
        options = options_read(self.config.options)
        attempt = 0
        while True:
            self._connected = False
            try:
                await self._session(options)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure of one attempt means: report, back off, retry
                error = error_text(exc, self.config.endpoint)
            else:
                error = "session ended"
            logger.info("OPC UA %s: %s", self.config.code, error)
            self.sink.state(self.config.id, "reconnecting", error)
            attempt = 0 if self._connected else attempt + 1
            await self.backoff(attempt)

    async def _session(self, options: OpcUaOptions) -> None:
        """Connect, subscribe, pump changes; return or raise when the connection is lost."""
        client = Client(self.config.endpoint, timeout=REQUEST_TIMEOUT_S, watchdog_intervall=WATCHDOG_S)
        client.session_timeout = SESSION_TIMEOUT_MS
        lost: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def on_lost(exc: Exception) -> None:
            if not lost.done():
                lost.set_result(exc)

        client.connection_lost_callback = on_lost
        try:
            await security_apply(client, options)
            await client.connect()
            subscription = await client.create_subscription(
                options.publishing_interval_ms,
                None,
                queue_maxsize=EVENT_BUFFER,
                overflow=OverflowPolicy.DISCONNECT,
            )
            await self._monitor(client, subscription, options)
            self.sink.state(self.config.id, "connected")
            self._connected = True
            await self._pump(subscription, lost)
        finally:
            await client_close(client)

    async def _monitor(self, client: Client, subscription: Subscription, options: OpcUaOptions) -> None:
        """Monitor every source; a node id that is malformed or unknown becomes a rejected reading."""
        self._sources.clear()
        sources = sorted(self.config.sources())
        # A namespace URI (nsu=) stands for the index the server gives it now.
        namespaces = await client.get_namespace_array() if any(s.startswith("nsu=") for s in sources) else []
        requests: list[ua.MonitoredItemCreateRequest] = []
        for source in sources:
            node_id = node_id_of(source, namespaces)
            if isinstance(node_id, str):
                self._reject(source, node_id)
                continue
            handle = len(requests) + 1
            self._sources[handle] = source
            requests.append(monitored_item_request(node_id, handle, options))
        # In slices: servers cap the items one call may create (MaxMonitoredItemsPerCall).
        for start in range(0, len(requests), ITEMS_PER_CALL):
            part = requests[start : start + ITEMS_PER_CALL]
            results = await subscription.create_monitored_items(part)
            for request, result in zip(part, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    source = self._sources.pop(request.RequestedParameters.ClientHandle)
                    self._reject(source, node_error(source, result))

    async def _pump(self, subscription: Subscription, lost: asyncio.Future[Exception]) -> None:
        pump = asyncio.ensure_future(self._consume(subscription))
        try:
            waiting: set[asyncio.Future[Any]] = {pump, lost}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            await asyncio.wait({pump})  # its end, without its error yet
        # The loss's own cause first: asyncua tells the subscription BadShutdown after it.
        if lost.done():
            raise SessionLost(f"connection lost: {error_text(lost.result(), self.config.endpoint)}")
        if not pump.cancelled():
            pump.result()  # the consumer's own error (a server that ended the subscription)

    async def _consume(self, subscription: Subscription) -> None:
        async for event in subscription:
            if isinstance(event, DataChangeEvent):
                source = self._sources.get(event.data.monitored_item.ClientHandle)
                if source is not None:
                    self._hand(source, event.data.monitored_item.Value)
            elif isinstance(event, StatusChangeEvent) and not event.notification.Status.is_good():
                raise SessionLost(f"subscription ended by the server: {event.notification.Status.name}")

    def _hand(self, source: str, data_value: ua.DataValue | None) -> None:
        now = datetime.now(UTC)
        value, error, measured_at = reading_parts(data_value)
        key = (measured_at, value, error)
        if measured_at is not None and self._last.get(source) == key:
            return  # the same change again, as a resubscription sends it
        self._last[source] = key
        self.sink.put(
            Reading(
                connector_id=self.config.id,
                source=source,
                value=value,
                received_at=now,
                measured_at=measured_at,
                error=error,
            )
        )

    def _reject(self, source: str, error: str) -> None:
        key = (None, None, error)
        if self._last.get(source) == key:
            return  # said once is enough: the same bad node on every reconnect is not news
        self._last[source] = key
        self.sink.put(Reading(self.config.id, source, None, datetime.now(UTC), error=error))


def node_id_of(source: str, namespaces: list[str]) -> ua.NodeId | str:
    """The node id of a mapping's source, or why it is none (`namespaces`: the server's array)."""
    problem = source_check(source)
    if problem:
        return problem
    try:
        node_id = ua.NodeId.from_string(source)
    except (ValueError, ua.UaError) as exc:
        return f"{source!r} is not an OPC UA node id: {exc}"
    if isinstance(node_id, ua.ExpandedNodeId) and node_id.NamespaceUri is not None:
        if node_id.NamespaceUri not in namespaces:
            return f"node {source} does not exist on the server (no namespace {node_id.NamespaceUri})"
        return ua.NodeId(node_id.Identifier, ua.Int16(namespaces.index(node_id.NamespaceUri)), node_id.NodeIdType)
    return node_id


def monitored_item_request(node_id: ua.NodeId, handle: int, options: OpcUaOptions) -> ua.MonitoredItemCreateRequest:
    """Monitor a node's value. The trigger includes the source timestamp: the default (status
    and value) would hide a machine reporting the same value again, which is a new measurement."""
    item = ua.ReadValueId()
    item.NodeId = node_id
    item.AttributeId = ua.AttributeIds.Value
    parameters = ua.MonitoringParameters()
    parameters.ClientHandle = handle
    parameters.SamplingInterval = options.sampling_interval_ms
    parameters.QueueSize = options.queue_size
    parameters.DiscardOldest = True
    parameters.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = item
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = parameters
    return request


def reading_parts(data_value: ua.DataValue | None) -> tuple[float | None, str, datetime | None]:
    """(value, error, measured_at) of one data change: SourceTimestamp, else ServerTimestamp."""
    if data_value is None:
        return None, "the change carried no value", None
    measured_at = None
    for stamp in (data_value.SourceTimestamp, data_value.ServerTimestamp):
        if stamp is not None:
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            if stamp >= _UNSET_BEFORE:
                measured_at = stamp.astimezone(UTC)
                break
    status = data_value.StatusCode
    if status is not None and not status.is_good():
        return None, f"the server marks the value {status.name}", measured_at
    raw = data_value.Value.Value if data_value.Value is not None else None
    value, error = number(raw)
    return value, error, measured_at


def number(raw: Any) -> tuple[float | None, str]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"a {type(raw).__name__} value, not a number"
    try:
        value = float(raw)
    except OverflowError:
        return None, "a number too large"
    if not math.isfinite(value):
        return None, f"{value} is not a finite number"
    return value, ""


def node_error(source: str, status: ua.StatusCode) -> str:
    if status.value == ua.StatusCodes.BadNodeIdUnknown:
        return f"node {source} does not exist on the server"
    return f"node {source} cannot be monitored: {status.name}"


async def security_apply(client: Client, options: OpcUaOptions) -> None:
    """Set the user and the channel security on a fresh client (see opcua_options)."""
    if options.username:
        client.set_user(options.username)
        client.set_password(options.password)
    if not options.secure:
        return
    certificate = await uacrypto.load_certificate(options.certificate)
    # The server checks that our application URI is the one in our certificate.
    with contextlib.suppress(x509.ExtensionNotFound, IndexError):
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        client.application_uri = names.get_values_for_type(x509.UniformResourceIdentifier)[0]
    policy, mode = options.security_policy, options.security_mode
    if policy is None or mode is None:
        policy, mode = await _best_endpoint(client, policy, mode)
    await client.set_security(
        getattr(security_policies, f"SecurityPolicy{policy}"),
        options.certificate,
        options.private_key,
        options.private_key_password or None,
        options.server_certificate or None,
        getattr(ua.MessageSecurityMode, mode),
    )


async def _best_endpoint(client: Client, policy: str | None, mode: str | None) -> tuple[str, str]:
    """The secure (policy, mode) the server rates highest among those matching what is named."""
    by_uri = {
        getattr(security_policies, f"SecurityPolicy{name}").URI: name
        for name in ("Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
    }
    offers = []
    for endpoint in await client.connect_and_get_server_endpoints():
        name = by_uri.get(endpoint.SecurityPolicyUri)
        endpoint_mode = endpoint.SecurityMode.name
        if name is None or endpoint_mode == "None_" or (policy and name != policy) or (mode and endpoint_mode != mode):
            continue
        offers.append((endpoint.SecurityLevel, name, endpoint_mode))
    if not offers:
        wanted = " ".join(part for part in (policy, mode) if part) or "secure"
        raise ConnectionError(f"the server offers no {wanted} endpoint")
    _, name, endpoint_mode = max(offers)
    return name, endpoint_mode


async def client_close(client: Client) -> None:
    """Close the session if the server still answers within CLOSE_TIMEOUT_S; always drop the socket."""
    with contextlib.suppress(Exception, asyncio.TimeoutError):
        await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT_S)
    client.disconnect_socket()


def error_text(exc: BaseException, endpoint: str) -> str:
    """A one-line reason for the status's last_error."""
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {endpoint}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"no answer from {endpoint} within {REQUEST_TIMEOUT_S:g} s"
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    if isinstance(exc, ua.UaStatusCodeError):
        return f"{endpoint}: {type(exc).__name__} ({exc})"
    text = str(exc) or type(exc).__name__
    return (text if isinstance(exc, SessionLost | ConnectionError) else f"{type(exc).__name__}: {text}")[:500]


DRIVER = OpcUaDriver
