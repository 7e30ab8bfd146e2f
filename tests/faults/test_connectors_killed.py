"""run_connectors is SIGKILLed while QoS 1 messages stream in from a Mosquitto of the test's own:
it acknowledges a message only once its measurement is committed, so what it had not committed
is redelivered to the restarted process, and what it had is not stored again. Afterwards every
message is stored exactly once."""

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

FIRST, SECOND = 1500, 500  # messages before the kill (some stored, some not), after the restart
CHUNK = 50


@pytest.fixture
def connector(mosquitto: Daemon) -> Connector:
    return dew_point_connector(mosquitto.port, "ct-fault")


def test_a_killed_run_connectors_loses_nothing_and_stores_nothing_twice(
    connector: Connector, mosquitto: Daemon, work: Path
) -> None:
    env = app_env(app_database_url(), work)
    first = run_connectors(env, work)
    published = threading.Event()

    def stream() -> None:  # chunk by chunk, so that the kill lands mid-stream
        for start in range(0, FIRST, CHUNK):
            publish(dew_point_messages(start, start + CHUNK), port=mosquitto.port)
            time.sleep(0.05)
        published.set()

    try:
        wait_for(lambda: connector_state(connector) == "connected", 30, f"connected; logs:\n{logs(work)}")
        publisher = threading.Thread(target=stream, daemon=True)
        publisher.start()
        wait_for(lambda: Measurement.objects.count() >= FIRST // 5, 60, f"stored; logs:\n{logs(work)}")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    stored_at_kill = Measurement.objects.count()
    publisher.join(60)
    assert published.is_set()
    assert 0 < stored_at_kill < FIRST, stored_at_kill  # killed mid-stream

    second = run_connectors(env, work)
    try:
        wait_for(lambda: connector_state(connector) == "connected", 30, f"connected again; logs:\n{logs(work)}")
        publish(dew_point_messages(FIRST, FIRST + SECOND), port=mosquitto.port)
        total = FIRST + SECOND
        wait_for(lambda: Measurement.objects.count() >= total, 60, f"all {total} stored; logs:\n{logs(work)}")
        time.sleep(1.0)  # a duplicate would come now
    finally:
        stop(second)
    assert Measurement.objects.count() == total
    assert Measurement.objects.values("measured_at").distinct().count() == total  # each message once
    assert "Traceback" not in (work / "connectors.log").read_text()
