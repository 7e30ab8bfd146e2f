"""run_connectors is SIGKILLed while QoS 1 messages stream in from a Mosquitto of the test's own:
it acknowledges a message only once its measurement is committed, so what it had not committed
is redelivered to the restarted process, and what it had is not stored again. Afterwards every
message is stored exactly once."""

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from connectors.models import Connector, ConnectorMapping, ConnectorStatus
from measurements.models import Measurement, Parameter
from tests.connectors.support import publish

from .services import Daemon, app_env, logs, run_connectors, stop, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

FIRST, SECOND = 1500, 500  # messages before the kill (some stored, some not), after the restart
CHUNK = 50
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def _test_database_url() -> str:
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}/{db['NAME']}"


@pytest.fixture
def connector(mosquitto: Daemon) -> Iterator[Connector]:
    parameter = Parameter.objects.create(
        code="ct_dew_point", name="Dew point", scope="environment", category="PP", unit="degC"
    )
    found = Connector.objects.create(
        code="room-mqtt", kind="mqtt", endpoint=f"mqtt://127.0.0.1:{mosquitto.port}", options={"client_id": "ct-fault"}
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
    return ConnectorStatus.objects.get(pk=connector.pk).state


def test_a_killed_run_connectors_loses_nothing_and_stores_nothing_twice(
    connector: Connector, mosquitto: Daemon, work: Path
) -> None:
    env = app_env(_test_database_url(), work)
    first = run_connectors(env, work)
    published = threading.Event()

    def stream() -> None:  # chunk by chunk, so that the kill lands mid-stream
        for start in range(0, FIRST, CHUNK):
            publish(_messages(start, start + CHUNK), port=mosquitto.port)
            time.sleep(0.05)
        published.set()

    try:
        wait_for(lambda: _state(connector) == "connected", 30, f"connected; logs:\n{logs(work)}")
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
        wait_for(lambda: _state(connector) == "connected", 30, f"connected again; logs:\n{logs(work)}")
        publish(_messages(FIRST, FIRST + SECOND), port=mosquitto.port)
        total = FIRST + SECOND
        wait_for(lambda: Measurement.objects.count() >= total, 60, f"all {total} stored; logs:\n{logs(work)}")
        time.sleep(1.0)  # a duplicate would come now
    finally:
        stop(second)
    assert Measurement.objects.count() == total
    assert Measurement.objects.values("measured_at").distinct().count() == total  # each message once
    assert "Traceback" not in (work / "connectors.log").read_text()
