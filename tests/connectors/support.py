"""Helpers of the connector tests: the runner in a thread, a publisher, waiting for a condition,
a private broker."""

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from django.db import connection

from connectors.runner import Runner
from tests.faults.services import wait_for

__all__ = ["fresh", "publish", "running", "session_subscribe", "wait_for"]


@contextmanager
def running(runner: Runner | None = None) -> Iterator[Runner]:
    """run_connectors' Runner in a thread, stopped (and joined) on exit."""
    runner = runner or Runner(reload_s=0.5, heartbeat_s=0.5)
    stop = threading.Event()
    failed: list[BaseException] = []

    def main() -> None:
        try:
            runner.run_until(stop)
        except BaseException as exc:  # reported by the test thread
            failed.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "the runner did not stop within 15 s"
        assert not failed, failed


def publish(messages: list[tuple[str, Any]], port: int = 1883) -> None:
    """Publish (topic, payload) with QoS 1 and wait until the broker has them all."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = []
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
            infos.append(client.publish(topic, body, qos=1))
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def fresh() -> None:
    """Let the test thread see what other connections committed since."""
    connection.close()


def session_subscribe(client_id: str, topic_filter: str) -> None:
    """Leave a QoS 1 subscription in the persistent session of client_id."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", 1883, clean_start=False, properties=properties)
    client.loop_start()
    try:
        done = threading.Event()
        client.on_subscribe = lambda *_args: done.set()
        client.subscribe(topic_filter, qos=1)
        done.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def private_broker(directory: Path) -> Iterator[int]:
    """A Mosquitto of the test's own on a free port, with no in-flight or queue limit (the
    shared broker's 1,000 queued QoS 1 messages per client would drop part of a burst); yields
    its port and stops it on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], stderr=subprocess.DEVNULL)  # noqa: S603,S607
    try:
        wait_for(lambda: _listening(port), timeout=5, what=f"mosquitto on {port}")
        yield port
    finally:
        broker.terminate()
        broker.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True
