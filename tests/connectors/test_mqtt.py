"""MQTT connectors against the real Mosquitto (127.0.0.1:1883, a topic prefix per test): topic
filters with wildcards, JSON and bare payloads, rejections with their reason, QoS 1 on a
persistent session (a message published while the process was away arrives after a restart),
redeliveries stored once, a broker that cannot be reached reads `reconnecting`."""

import socket
import subprocess
import threading
import time
from typing import Any

import pytest

from connectors.models import Connector, ConnectorStatus
from measurements.models import Measurement
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake, at
from .support import publish, running, session_subscribe, wait_for

# Transactional (the runner's threads commit): PostgreSQL only, as SQLite cannot flush the
# append-only record tables between such tests.
pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def status(connector: Connector) -> ConnectorStatus:
    return ConnectorStatus.objects.get(pk=connector.pk)


def counts(connector: Connector) -> tuple[int, int, int]:
    s = status(connector)
    return (s.received, s.stored, s.rejected)


@pytest.fixture
def coater(connector_make: ConnectorMake, prefix: str) -> Connector:
    return connector_make(
        "coat-01-mqtt",
        [
            {
                "source": f"{prefix}/+/thickness",
                "station": "COAT-01",
                "parameter": "ct_thickness",
                "unit": "um",
                "position_source": f"{prefix}/coater/metre",
            },
            {"source": f"{prefix}/room/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"},
        ],
        options={"client_id": f"celltrace-test-{prefix.rsplit('/', 1)[1]}"},
    )


def test_json_and_bare_payloads_on_wildcard_topics_are_stored(coater: Connector, prefix: str) -> None:
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        publish(
            [
                (f"{prefix}/coater/metre", {"value": 12.5, "measured_at": at(10).isoformat()}),
                (f"{prefix}/coater/thickness", {"value": 101.0, "unit": "um", "measured_at": at(11).isoformat()}),
                (
                    f"{prefix}/coater/thickness",
                    {"value": 0.1025, "unit": "mm", "measured_at": at(12).isoformat(), "position_m": 20.0},
                ),
                (f"{prefix}/room/dry-1/dew", "-55.5"),  # a bare number, at its arrival time
            ]
        )
        wait_for(lambda: counts(coater) == (4, 3, 0), what="4 received, 3 stored")
    thickness = list(
        Measurement.objects.filter(parameter__code="ct_thickness")
        .order_by("measured_at")
        .values_list("value", "position_m", "item__code", "sent_unit")
    )
    assert thickness == [(101.0, 12.5, "CR-conn", "um"), (pytest.approx(102.5), 20.0, "CR-conn", "mm")]
    dew = Measurement.objects.get(parameter__code="ct_dew_point")
    assert (dew.value, dew.room, dew.item_id, dew.instrument) == (-55.5, "dry-room-1", None, "coat-01-mqtt")
    assert status(coater).state == "stopped"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("coater/thickness", b"\xff not json", "not JSON"),
        ("coater/thickness", {"value": "12"}, "finite number"),
        ("nobody/knows", {"value": 1.0, "measured_at": at(10).isoformat()}, "no mapping"),
        ("coater/thickness", {"value": 1.0, "unit": "kg", "measured_at": at(10).isoformat()}, "unit"),
        ("coater/thickness", {"value": 1.0, "measured_at": at(120).isoformat()}, "COAT-01"),
        ("coater/thickness", {"value": 1.0, "measured_at": "yesterday"}, "measured_at"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(
    coater: Connector, prefix: str, topic: str, payload: Any, reason: str
) -> None:
    # A topic no mapping knows comes from a subscription the persistent session kept (a mapping
    # since changed): made here by a client of the same id.
    session_subscribe(coater.options["client_id"], f"{prefix}/nobody/#")
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        publish([(f"{prefix}/{topic}", payload), (f"{prefix}/room/a", "-50")])
        wait_for(lambda: counts(coater) == (2, 1, 1), what="one stored, one rejected")
    assert reason in status(coater).last_error
    assert Measurement.objects.count() == 1


def test_a_message_published_while_the_process_was_away_arrives_after_the_restart(
    coater: Connector, prefix: str
) -> None:
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")  # the session exists
    publish([(f"{prefix}/room/a", {"value": -60.0, "measured_at": at(1).isoformat()})])
    time.sleep(0.3)
    assert not Measurement.objects.exists()
    with running():
        wait_for(lambda: counts(coater) == (1, 1, 0), what="stored after the restart")
    assert Measurement.objects.get().value == -60.0


def test_a_redelivered_message_is_stored_once(coater: Connector, prefix: str) -> None:
    message = (f"{prefix}/room/a", {"value": -61.0, "measured_at": at(2).isoformat()})
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        publish([message, message])  # the same value twice, as a QoS 1 redelivery brings it
        wait_for(lambda: counts(coater)[0] == 2, what="both received")
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        publish([message])
        wait_for(lambda: counts(coater)[0] == 3, what="received again")
    assert counts(coater) == (3, 1, 0)
    assert Measurement.objects.count() == 1


def test_a_changed_connector_takes_effect_without_a_restart(coater: Connector, prefix: str) -> None:
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        mapping = coater.mappings.get(room="dry-room-1")
        mapping.source = f"{prefix}/dew/#"
        mapping.save()
        Connector.objects.filter(pk=coater.pk).update(revision=coater.revision + 1)
        time.sleep(2.5)  # reload (0.5 s) and resubscribe
        publish([(f"{prefix}/dew/x", {"value": -40.0, "measured_at": at(3).isoformat()})])
        wait_for(lambda: counts(coater)[1] == 1, what="stored under the new filter")
        Connector.objects.filter(pk=coater.pk).update(enabled=False)
        wait_for(lambda: status(coater).state == "disabled", what="disabled")
        publish([(f"{prefix}/dew/x", {"value": -41.0, "measured_at": at(4).isoformat()})])
        time.sleep(1.0)
        assert counts(coater)[1] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_broker_that_cannot_be_reached_reads_reconnecting_then_connected(
    connector_make: ConnectorMake, prefix: str
) -> None:
    port = _free_port()
    connector = connector_make(
        "away-mqtt",
        [{"source": f"{prefix}/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"}],
        endpoint=f"mqtt://127.0.0.1:{port}",
    )
    with running():
        started = time.monotonic()
        wait_for(lambda: status(connector).state == "reconnecting" and status(connector).last_error, what="error")
        assert time.monotonic() - started < 10
        assert str(port) in status(connector).last_error
        broker = subprocess.Popen(["mosquitto", "-p", str(port)], stderr=subprocess.DEVNULL)  # noqa: S603,S607
        try:
            wait_for(lambda: status(connector).state == "connected", timeout=15, what="connected once up")
            publish([(f"{prefix}/a", "-45")], port=port)
            wait_for(lambda: counts(connector) == (1, 1, 0), what="stored")
            broker.terminate()
            broker.wait(5)
            wait_for(lambda: status(connector).state == "reconnecting", what="reconnecting again")
        finally:
            broker.kill()


def test_a_restart_for_a_changed_revision_neither_loses_nor_repeats_bare_numbers(
    coater: Connector, prefix: str
) -> None:
    """Bare numbers take their arrival time: one acknowledged late (on the next connection)
    would come again and be stored twice. The runner commits and acknowledges what a
    connector handed before restarting it."""
    n = 400
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        messages = [(f"{prefix}/room/a", str(-40 - i / 100)) for i in range(n)]

        def trickle() -> None:  # over ~2 s, so that the restarts fall in the middle
            for start in range(0, n, 20):
                publish(messages[start : start + 20])
                time.sleep(0.1)

        publisher = threading.Thread(target=trickle)
        publisher.start()
        for revision in (2, 3, 4):
            time.sleep(0.6)
            Connector.objects.filter(pk=coater.pk).update(revision=revision)
        publisher.join()
        wait_for(lambda: counts(coater)[1] >= n, timeout=20, what=f"{n} stored")
        time.sleep(1.5)  # a redelivery would show here
    assert counts(coater) == (n, n, 0)
    assert Measurement.objects.count() == n


def test_messages_with_properties_or_qos_0_take_paho_s_own_way_and_are_stored(coater: Connector, prefix: str) -> None:
    """The driver reads a QoS 1 PUBLISH without properties itself; one with properties (a
    content type, a user property) or QoS 0 goes through paho's MQTTMessage, with the same
    result."""
    from paho.mqtt.client import CallbackAPIVersion, Client, MQTTv5
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = "application/json"
    properties.UserProperty = ("line", "1")
    with running():
        wait_for(lambda: status(coater).state == "connected", what="connected")
        client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5)
        client.connect("127.0.0.1", 1883)
        client.loop_start()
        try:
            room = f"{prefix}/room/a"
            sent = [
                client.publish(
                    room, '{"value": -50.5, "measured_at": "2026-03-02T07:01:00Z"}', 1, properties=properties
                ),
                client.publish(room, '{"value": -51.5, "measured_at": "2026-03-02T07:02:00Z"}', 0),
                client.publish(room, '{"value": -52.5, "measured_at": "2026-03-02T07:03:00Z"}', 1),
            ]
            for info in sent:
                info.wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()
        wait_for(lambda: counts(coater) == (3, 3, 0), what="3 stored")
    assert sorted(Measurement.objects.values_list("value", flat=True)) == [-52.5, -51.5, -50.5]
