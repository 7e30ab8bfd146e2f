"""run_connectors --processes 2 against a Mosquitto of the test's own (MQTT 5 shared
subscriptions): one of the two processes is SIGKILLed while QoS 1 messages stream in; the
supervisor starts it again, its session (same client id) gets back what it had not
acknowledged, and every message is stored exactly once. SIGTERM to the supervisor stops both
processes cleanly (exit 0, the connector reads `stopped`)."""

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.models import Connector, ConnectorMapping, ConnectorStatus
from measurements.models import Measurement, Parameter
from tests.connectors.support import publish

from .services import Daemon, app_env, logs, run_connectors, stop, wait_for
from .test_connectors_killed import _test_database_url

pytestmark = [pytest.mark.faults, pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

N, CHUNK = 3000, 100
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def connector(mosquitto: Daemon) -> Iterator[Connector]:
    parameter = Parameter.objects.create(
        code="ct_dew_point", name="Dew point", scope="environment", category="PP", unit="degC"
    )
    found = Connector.objects.create(
        code="room-mqtt", kind="mqtt", endpoint=f"mqtt://127.0.0.1:{mosquitto.port}", options={"client_id": "ct-share"}
    )
    ConnectorMapping.objects.create(
        connector=found, source="plant/dew/#", room="dry-room-1", parameter=parameter, unit="degC"
    )
    ConnectorStatus.objects.create(connector=found)
    yield found


def _messages(start: int, stop: int) -> list[tuple[str, dict[str, object]]]:
    return [
        ("plant/dew/a", {"value": -50.0 - i / 1000, "measured_at": (T0 + timedelta(seconds=i)).isoformat()})
        for i in range(start, stop)
    ]


def _state(connector: Connector) -> str:
    return str(ConnectorStatus.objects.get(pk=connector.pk).state)


def _children(pid: int) -> list[int]:
    """The supervisor's live processes, oldest first (process 0 is started first)."""
    return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_killed_process_of_two_is_restarted_and_nothing_is_lost_or_stored_twice(
    connector: Connector, mosquitto: Daemon, work: Path
) -> None:
    supervisor = run_connectors(app_env(_test_database_url(), work), work, processes=2)
    published = threading.Event()

    def stream() -> None:  # chunk by chunk, so that the kill lands mid-stream
        for start in range(0, N, CHUNK):
            publish(_messages(start, start + CHUNK), port=mosquitto.port)
            time.sleep(0.05)
        published.set()

    try:
        wait_for(lambda: _state(connector) == "connected", 30, f"connected; logs:\n{logs(work)}")
        wait_for(lambda: len(_children(supervisor.pid)) == 2, 10, "two processes")
        time.sleep(2.0)  # process 1 subscribed too (only process 0 writes the state)
        publisher = threading.Thread(target=stream, daemon=True)
        publisher.start()
        wait_for(lambda: Measurement.objects.count() >= N // 5, 60, f"stored; logs:\n{logs(work)}")
        killed = _children(supervisor.pid)[1]
        os.kill(killed, signal.SIGKILL)
        at_kill = Measurement.objects.count()
        wait_for(lambda: len(set(_children(supervisor.pid)) - {killed}) == 2, 10, "started again")
        publisher.join(120)
        assert published.is_set()
        assert at_kill < N, at_kill  # killed mid-stream
        wait_for(lambda: Measurement.objects.count() >= N, 60, f"all {N} stored; logs:\n{logs(work)}")
        time.sleep(1.5)  # a duplicate would come now
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
    finally:
        stop(supervisor)
    assert Measurement.objects.count() == N
    assert Measurement.objects.values("measured_at").distinct().count() == N  # each message once
    assert _state(connector) == "stopped"
    log = (work / "connectors.log").read_text()
    assert "process 1 exited with -9; starting it again" in log
    assert "Traceback" not in log
