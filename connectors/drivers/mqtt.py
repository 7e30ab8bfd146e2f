"""MQTT connector (paho-mqtt 2.x, MQTT 5): QoS 1 subscriptions on a persistent session.

Endpoint `mqtt://host:1883`. Options: `client_id` (default `celltrace-<code>`), `username`,
`password`, `keepalive` (s, default 30), `session_expiry_s` (how long the broker keeps the
session and its messages while the process is away, default 7 days).

Every mapping's topic filter and position source is subscribed with QoS 1 (retained messages
only on a new subscription); among N runner processes (`run_connectors --processes N`) as the
shared subscription `$share/<client_id>/<filter>`, process k > 0 as `<client_id>-<k>`
(connectors/processes.py). A QoS 1 PUBLISH without properties is cut into topic, id and payload
here, not by paho (see `_Client._handle_publish`). Paho's network thread parses each payload
(JSON `{"value", "unit", "measured_at", "position_m"}` or a bare number) and hands the
Reading to the event loop with loop.call_soon_threadsafe; the message is acknowledged
(manual_ack) only once the runner has committed it, or spooled it durably, the
acknowledgements of a batch sent together within DELIVER_S. The socket is read 64 KiB at a
time (paho alone makes three reads a message). Receive Maximum 65535 lets the broker keep that
many messages in flight while a batch commits; an ack from a previous connection is never sent
on a new one (packet ids are per connection).
"""

import asyncio
import functools
import json
import math
import socket
import struct
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.errors import InvalidInput
from core.values import moment

from ..processes import share_group
from .base import Driver, Reading

DEFAULT_PORT = 1883
SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 65535
CONNECT_TIMEOUT_S = 5.0
DELIVER_S = 0.02
READ_BYTES = 65536
_PUBACK = struct.Struct("!BBH")


class _BufferedSocket:
    """The broker's socket, read READ_BYTES at a time: paho reads a packet in three recv calls
    (its command byte, its length, its body), three system calls a message. `pending` is what
    paho asks of an SSL socket: bytes read but not handed yet, so its loop reads them without
    waiting in select."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._buffer):
            data: bytes = self._sock.recv(max(size, READ_BYTES))  # BlockingIOError when none
            if len(data) <= size:
                return data
            self._buffer, self._at = data, 0
        chunk = self._buffer[self._at : self._at + size]
        self._at += len(chunk)
        return chunk

    def pending(self) -> int:
        return len(self._buffer) - self._at

    def __getattr__(self, name: str) -> Any:  # fileno, send, close, setblocking, ...
        return getattr(self._sock, name)


class _Client(mqtt.Client):
    """paho's client (pinned, 2.2.0) with buffered reads, acknowledgements in bulk, and a
    short way for the common PUBLISH."""

    # (topic, payload, mid, qos) of a QoS 1 MQTT 5 PUBLISH without properties, in paho's thread
    on_publish_received: Any = None

    def _handle_publish(self) -> Any:
        """A QoS 1 PUBLISH with no properties (what a sensor and the shared subscriptions send)
        goes to on_publish_received as its parts: paho would build, per message, a Properties
        (about half its time a message), an MQTTMessage and a debug log line. Anything else
        (properties, QoS 0 or 2, a topic that is not UTF-8) takes paho's own way."""
        packet = self._in_packet["packet"]
        command = self._in_packet["command"]
        if (command & 0x06) == 0x02 and self.on_publish_received is not None and len(packet) >= 5:
            size = (packet[0] << 8) | packet[1]
            at = 2 + size  # the message id, then the properties' length (one byte: 0)
            if len(packet) > at + 2 and packet[at + 2] == 0:
                try:
                    topic = packet[2:at].decode()
                except UnicodeDecodeError:
                    return super()._handle_publish()
                self.on_publish_received(topic, packet[at + 3 :], (packet[at] << 8) | packet[at + 1], 1)
                return mqtt.MQTT_ERR_SUCCESS
        return super()._handle_publish()

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        # A plain TCP socket only: an SSL socket keeps its own buffer, which paho asks for.
        return _BufferedSocket(sock) if type(sock) is socket.socket else sock

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK every QoS 1 message id, as one write and one wake-up of paho's thread."""
        packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
        self._packet_queue(mqtt.PUBACK, packet, 0, 1)


def _number(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def payload_read(payload: bytes) -> tuple[float | None, str | None, datetime | None, float | None, str]:
    """(value, unit, measured_at, position_m, error) of one message."""
    try:
        document = orjson.loads(payload)  # several times faster than json
    except orjson.JSONDecodeError:
        # What orjson refuses and json reads (NaN, integers beyond 64 bits) is refused below
        # with the same reason as before; what neither reads is not JSON.
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None, None, None, None, "the payload is not JSON or a number."
    if not isinstance(document, dict):
        value = _number(document)
        return value, None, None, None, "" if value is not None else "the payload is not a finite number."
    value = _number(document.get("value"))
    if value is None:
        return None, None, None, None, "value: a finite number is required."
    unit = document.get("unit")
    if unit is not None and not isinstance(unit, str):
        return None, None, None, None, "unit: a string is required."
    measured_at = None
    if document.get("measured_at") is not None:
        try:
            measured_at = moment(document["measured_at"], field="measured_at")
        except InvalidInput as exc:
            return None, None, None, None, f"measured_at: {exc.message}"
    position = document.get("position_m")
    if position is not None and _number(position) is None:
        return None, None, None, None, "position_m: a finite number is required."
    return value, unit, measured_at, _number(position), ""


class MqttDriver(Driver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = urlsplit(self.config.endpoint)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or DEFAULT_PORT
        options = self.config.options
        base = str(options.get("client_id") or f"celltrace-{self.config.code}")
        index, count = self.config.shard
        # Among N runner processes: one session each, stable across restarts (processes.py).
        self.client_id = base if index == 0 else f"{base}-{index}"
        self._group, self._shared = share_group(base), count > 1
        self._paused = False
        self._generation = 0  # the connection an ack belongs to
        self._lock = threading.Lock()
        self._current: _Client | None = None
        self._inbox: list[Reading] = []
        self._acks: list[int] = []  # QoS 1 message ids committed, of the current connection

    def pause(self) -> None:
        with self._lock:  # after this no reading enters the inbox (see _on_message)
            self._paused = True
        self._drain()  # what came before the pause is the runner's to commit and acknowledge

    def _client(self, loop: asyncio.AbstractEventLoop, session: "_Session") -> _Client:
        options = self.config.options
        client = _Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if options.get("username"):
            client.username_pw_set(str(options["username"]), str(options.get("password") or ""))
        client.on_message = lambda _c, _u, message: self._on_message(message)
        client.on_publish_received = self._receive
        client.on_connect = lambda _c, _u, _f, reason, _p: session.on_connect(loop, reason)
        client.on_disconnect = lambda _c, _u, _f, _r, _p: session.on_disconnect(loop)
        client.on_unsubscribe = lambda _c, _u, mid, _r, _p: session.on_unsubscribe(loop, mid)
        return client

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        self._receive(message.topic, message.payload, message.mid, message.qos)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        """In paho's thread: read the payload, keep the reading for the event loop."""
        if self._paused:
            return  # not acknowledged: the broker sends it again to the next session
        value, unit, measured_at, position, error = payload_read(payload)
        ack = None
        if qos > 0:  # a partial, not a closure: it is made for every message
            ack = functools.partial(self._ack, self._generation, self._current, mid, qos)

        reading = Reading(
            connector_id=self.config.id,
            source=topic,
            value=value,
            received_at=datetime.now(UTC),
            measured_at=measured_at,
            unit=unit,
            position_m=position,
            error=error,
            ack=ack,
        )
        with self._lock:
            if self._paused:  # paused while this one was read: the broker sends it again
                return
            self._inbox.append(reading)

    def _ack(self, generation: int, client: _Client | None, mid: int, qos: int) -> None:
        """Acknowledge on the connection the message came by, never on a later one: QoS 1 ids
        are collected and sent together by `_acks_send`."""
        with self._lock:
            if generation == self._generation and client is not None:
                if qos == 1:
                    self._acks.append(mid)
                else:
                    client.ack(mid, qos)

    def _acks_send(self) -> None:
        with self._lock:
            mids, self._acks = self._acks, []
            if mids and self._current is not None:
                self._current.ack_many(mids)

    async def _deliver(self) -> None:
        """On the event loop, every DELIVER_S: hand the readings paho's thread collected to the
        sink (a wake-up of the loop per message would cost a system call each)."""
        while True:
            await asyncio.sleep(DELIVER_S)
            self._acks_send()
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            readings, self._inbox = self._inbox, []
        put = self.sink.put
        for reading in readings:
            put(reading)

    def _connect(self, client: _Client) -> None:
        """Blocking (in a thread): connect with the persistent session, subscribe."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = int(self.config.options.get("session_expiry_s") or SESSION_EXPIRY_S)
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        keepalive = int(self.config.options.get("keepalive") or 30)
        client.connect(self.host, self.port, keepalive=keepalive, clean_start=False, properties=properties)

    async def run(self) -> None:
        attempt = 0
        delivering = asyncio.create_task(self._deliver())
        try:
            while True:
                if await self._session():
                    attempt = 0
                await self.backoff(attempt)
                attempt = min(attempt + 1, 10)
        finally:
            delivering.cancel()

    async def _session(self) -> bool:
        """One connection, until it is lost (True if it was up) or the task is cancelled."""
        loop = asyncio.get_running_loop()
        session = _Session()
        client = self._client(loop, session)
        try:
            await asyncio.wait_for(loop.run_in_executor(None, self._connect, client), CONNECT_TIMEOUT_S)
            with self._lock:
                self._generation += 1
                self._current = client
            client.loop_start()
            await asyncio.wait_for(_first(session.connected, session.lost), CONNECT_TIMEOUT_S)
            if not session.connected.is_set():
                raise ConnectionError(f"the broker refused the connection: {session.refused or 'closed'}")
            self._subscribe(client)
            self.sink.state(self.config.id, "connected")
            await session.lost.wait()
            raise ConnectionError("the connection to the broker was lost")
        except asyncio.CancelledError:
            await self._close(client, session)
            raise
        except (OSError, TimeoutError, ConnectionError, ValueError) as exc:
            await self._close(client, session)
            reason = str(exc) or type(exc).__name__
            self.sink.state(self.config.id, "reconnecting", f"MQTT {self.host}:{self.port}: {reason}")
        return session.connected.is_set()

    def _subscribe(self, client: _Client) -> None:
        """QoS 1 on every source: shared by the group among N processes, else plain; then the
        other form is dropped, so that a session that ran the other way (process 0 keeps the
        client id) does not get each message twice. Messages it already queued still come."""
        sources = sorted(self.config.sources())
        shared = [f"$share/{self._group}/{source}" for source in sources]
        wanted, other = (shared, sources) if self._shared else (sources, shared)
        if not wanted:
            return
        result, _mid = client.subscribe([(f, SubscribeOptions(qos=1, retainHandling=1)) for f in wanted])
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"subscribing failed: {mqtt.error_string(result)}")
        client.unsubscribe(other)

    async def _close(self, client: _Client, session: "_Session") -> None:
        """Disconnect once the broker has the acknowledgements already queued, then stop
        paho's thread. The broker handles a connection's packets in order, so the answer to an
        UNSUBSCRIBE (of a filter never subscribed) sent after them says it has read them: a
        next connection of the same client id that came sooner would take the session over
        with them unread, and the broker would send those messages again."""
        self._acks_send()  # what was committed is acknowledged on this connection
        with self._lock:
            self._generation += 1  # acks of this connection are not sent on the next one
            self._current = None
            self._acks = []
        if client.is_connected():
            result, session.drain_mid = client.unsubscribe(f"celltrace/drain/{self.client_id}")
            if result == mqtt.MQTT_ERR_SUCCESS:
                try:
                    await asyncio.wait_for(_first(session.drained, session.lost), 2.0)
                except TimeoutError:
                    pass
            client.disconnect()
            try:
                await asyncio.wait_for(session.lost.wait(), 2.0)
            except TimeoutError:
                pass
        await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)


class _Session:
    """One connection's events, set from paho's thread."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()
        self.connected = asyncio.Event()
        self.drained = asyncio.Event()  # the broker answered the closing UNSUBSCRIBE
        self.refused = ""
        self.drain_mid: int | None = None  # the closing UNSUBSCRIBE's id (not the one at connect)

    def on_connect(self, loop: asyncio.AbstractEventLoop, reason: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            loop.call_soon_threadsafe(self.lost.set)
        else:
            loop.call_soon_threadsafe(self.connected.set)

    def on_disconnect(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(self.lost.set)

    def on_unsubscribe(self, loop: asyncio.AbstractEventLoop, mid: int) -> None:
        if mid == self.drain_mid:
            loop.call_soon_threadsafe(self.drained.set)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


DRIVER = MqttDriver
