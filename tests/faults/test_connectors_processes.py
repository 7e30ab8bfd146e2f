"""run_connectors --processes 2 against a Mosquitto of the test's own (MQTT 5 shared
subscriptions): one of the two processes is SIGKILLed while QoS 1 messages stream in; the
supervisor starts it again, its session (same client id) gets back what it had not
acknowledged, and every message is stored exactly once. SIGTERM to the supervisor stops both
processes cleanly (exit 0, the connector reads `stopped`)."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from connectors.models import Connector
from measurements.models import Measurement
from tests.connectors.support import publish

from .dew_point import connector_state, dew_point_connector, dew_point_messages
from .services import Daemon, app_database_url, app_env, logs, run_connectors, stop, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

N, CHUNK = 3000, 100


@pytest.fixture
def connector(mosquitto: Daemon) -> Connector:
    return dew_point_connector(mosquitto.port, "ct-share")


def _children(pid: int) -> list[int]:
    """The supervisor's live processes, oldest first (process 0 is started first)."""
    return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_killed_process_of_two_is_restarted_and_nothing_is_lost_or_stored_twice(
    connector: Connector, mosquitto: Daemon, work: Path
) -> None:
    supervisor = run_connectors(app_env(app_database_url(), work), work, processes=2)
    published = threading.Event()

    def stream() -> None:  # chunk by chunk, so that the kill lands mid-stream
        for start in range(0, N, CHUNK):
            publish(dew_point_messages(start, start + CHUNK), port=mosquitto.port)
            time.sleep(0.05)
        published.set()

    try:
        wait_for(lambda: connector_state(connector) == "connected", 30, f"connected; logs:\n{logs(work)}")
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
    assert connector_state(connector) == "stopped"
    log = (work / "connectors.log").read_text()
    assert "process 1 exited with -9; starting it again" in log
    assert "Traceback" not in log
