"""run_connectors: drivers found by kind (a missing one leaves the others running), connectors
deleted while running stop, and SIGTERM on the real command commits and acknowledges what it
received and exits 0 within 10 s, nothing lost."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from connectors import runner as runner_module
from connectors.models import Connector, ConnectorStatus
from measurements.models import Measurement
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake, at
from .support import publish, running, wait_for

# Transactional (the runner's threads commit): PostgreSQL only, as SQLite cannot flush the
# append-only record tables between such tests.
pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def status(connector: Connector) -> ConnectorStatus:
    return ConnectorStatus.objects.get(pk=connector.pk)


def room_mapping(topic_filter: str) -> list[dict[str, str]]:
    return [{"source": topic_filter, "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"}]


def test_a_kind_whose_driver_cannot_be_imported_leaves_the_others_running(
    connector_make: ConnectorMake, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(runner_module.DRIVERS, "modbus", "connectors.drivers.not_there")
    broken = connector_make("press-modbus", room_mapping("holding:1"), kind="modbus", endpoint="modbus://127.0.0.1:1")
    working = connector_make("room-mqtt", room_mapping(f"{prefix}/#"), options={"client_id": f"ct-{prefix[-12:]}"})
    with running():
        wait_for(lambda: status(working).state == "connected", what="the MQTT connector connected")
        wait_for(lambda: "No modbus driver" in status(broken).last_error, what="the import error")
        assert status(broken).state == "reconnecting"
        publish([(f"{prefix}/a", "-50")])
        wait_for(lambda: status(working).stored == 1, what="stored")


def test_a_connector_deleted_while_running_stops(connector_make: ConnectorMake, prefix: str) -> None:
    connector = connector_make("room-mqtt", room_mapping(f"{prefix}/#"), options={"client_id": f"ct-{prefix[-12:]}"})
    with running() as runner:
        wait_for(lambda: status(connector).state == "connected", what="connected")
        connector.delete()
        wait_for(lambda: not runner.running, what="the driver stopped")
        publish([(f"{prefix}/a", "-50")])
        time.sleep(0.5)
    assert not Measurement.objects.exists()


@pytest.mark.postgresql_only
def test_sigterm_commits_and_acknowledges_what_it_received_and_exits_0(
    connector_make: ConnectorMake, prefix: str
) -> None:
    connector = connector_make("room-mqtt", room_mapping(f"{prefix}/#"), options={"client_id": f"ct-{prefix[-12:]}"})
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    command = [sys.executable, "manage.py", "run_connectors"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    try:
        wait_for(lambda: status(connector).state == "connected", timeout=20, what="connected")
        n = 3000
        publish(
            [(f"{prefix}/a", {"value": -50.0 - i / 1000, "measured_at": at(i / 100).isoformat()}) for i in range(n)]
        )
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _out, err = process.communicate(timeout=10)
        assert time.monotonic() - started < 10
        assert process.returncode == 0, err.decode()[-2000:]
    finally:
        process.kill()
    assert status(connector).state == "stopped"
    stored_before = Measurement.objects.count()
    assert stored_before == status(connector).stored
    # What the first process had not acknowledged is still the broker's: it arrives now, once.
    with running():
        wait_for(lambda: Measurement.objects.count() == n, timeout=20, what=f"all {n} stored")
        time.sleep(0.5)
    assert Measurement.objects.count() == n
    assert status(connector).stored == n


def test_a_connector_created_while_running_starts_and_its_heartbeat_moves(
    connector_make: ConnectorMake, prefix: str
) -> None:
    with running():
        time.sleep(0.5)
        started = time.monotonic()
        connector = connector_make(
            "late-mqtt", room_mapping(f"{prefix}/#"), options={"client_id": f"ct-{prefix[-12:]}"}
        )
        wait_for(lambda: status(connector).state == "connected", what="connected")
        assert time.monotonic() - started < 10
        first = status(connector).heartbeat_at
        wait_for(lambda: status(connector).heartbeat_at > first, what="a later heartbeat")
