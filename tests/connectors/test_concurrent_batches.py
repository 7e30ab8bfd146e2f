"""Two batches stored at once (connectors.sink.STORE_WORKERS) against a Mosquitto of the test's
own: a burst with redeliveries is stored once each and counted exactly; SIGTERM with batches in
flight loses nothing; with PostgreSQL away the concurrent batches reach the spool in arrival
order, and are stored once when it is back."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from connectors.models import ConnectorStatus
from connectors.runner import Runner
from connectors.spool import _decode
from measurements.models import Measurement
from tests.faults.services import Cluster, count
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake
from .room_stream import room_connector, room_messages, status_counts, stored_once
from .support import private_broker, publish, running, wait_for

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def test_a_burst_with_redeliveries_over_concurrent_batches_is_stored_once_and_counted(
    connector_make: ConnectorMake, prefix: str, tmp_path: Path, settings: Any
) -> None:
    settings.CELLTRACE_CONNECTOR_FLUSH_ROWS = 150  # many small batches, two at a time
    n = 3000
    with private_broker(tmp_path) as port:
        connector = room_connector(connector_make, prefix, port)
        messages = room_messages(prefix, 0, n)
        # Every fifth message sent twice, the copy a little later: a redelivery that lands in a
        # batch storing at the same time as the original's (shared receipt keys).
        burst = []
        for i, message in enumerate(messages):
            burst.append(message)
            if i % 5 == 0 and i >= 7:
                burst.append(messages[i - 7])
        runner = Runner(reload_s=0.5, heartbeat_s=0.5)
        with running(runner):
            wait_for(lambda: ConnectorStatus.objects.get(pk=connector.pk).state == "connected", what="connected")
            publish(burst, port=port)
            wait_for(lambda: status_counts(connector)[0] == len(burst), timeout=60, what="the burst received")
        assert runner.sink.peak_in_flight == 2
    assert len(burst) == n + 598
    assert stored_once() == (n, n)
    assert status_counts(connector) == (len(burst), n, 0)


def test_sigterm_with_batches_in_flight_loses_nothing_and_stores_nothing_twice(
    connector_make: ConnectorMake, prefix: str, tmp_path: Path
) -> None:
    n = 6000
    with private_broker(tmp_path) as port:
        connector = room_connector(connector_make, prefix, port)
        db = connection.settings_dict
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "CELLTRACE_CONNECTOR_FLUSH_ROWS": "400",
        }
        command = [sys.executable, "manage.py", "run_connectors"]
        log = tmp_path / "run_connectors.log"
        with open(log, "wb") as err:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)  # noqa: S603
        try:
            stored_sql = "SELECT count(*) FROM measurements_measurement"
            connected_sql = f"SELECT count(*) FROM connectors_connectorstatus WHERE state = 'connected' AND connector_id = {connector.pk}"  # noqa: E501
            wait_for(lambda: count(url, connected_sql) == 1, timeout=20, what=f"connected: {log.read_text()[-2000:]}")
            publish(room_messages(prefix, 0, n), port=port)
            wait_for(lambda: count(url, stored_sql) >= 800, timeout=30, what="storing under way")
            process.send_signal(signal.SIGTERM)  # while batches are storing, more waiting
            assert process.wait(10) == 0, log.read_text()[-2000:]
        finally:
            process.kill()
        first = stored_once()
        assert first[0] == first[1] == status_counts(connector)[1]
        # What the first process had not acknowledged is still the broker's: it comes now, once.
        with running():
            wait_for(lambda: Measurement.objects.count() == n, timeout=60, what=f"all {n} stored")
            time.sleep(0.5)
    assert stored_once() == (n, n)
    assert status_counts(connector)[1] == n


def test_concurrent_batches_reach_the_spool_in_arrival_order_and_are_stored_once_back(
    connector_make: ConnectorMake, prefix: str, cluster: Cluster, tmp_path: Path
) -> None:
    with private_broker(tmp_path) as port:
        connector = room_connector(connector_make, prefix, port)
        url = cluster.copy_of_the_test_database("ct_fault")
        spool_dir = tmp_path / "spool"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "CELLTRACE_CONNECTOR_SPOOL_DIR": str(spool_dir),
            "CELLTRACE_CONNECTOR_FLUSH_ROWS": "50",
        }
        command = [sys.executable, "manage.py", "run_connectors"]

        log = tmp_path / "run_connectors.log"

        def start() -> subprocess.Popen[bytes]:
            with open(log, "ab") as err:  # a file: a pipe nobody reads would block the process
                return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)  # noqa: S603

        stored_sql = "SELECT count(*) FROM measurements_measurement"
        process = start()
        try:
            connected_sql = "SELECT count(*) FROM connectors_connectorstatus WHERE state = 'connected'"
            wait_for(lambda: count(url, connected_sql) == 1, timeout=20, what="connected")
            publish(room_messages(prefix, 0, 100), port=port)
            wait_for(lambda: count(url, stored_sql) == 100, what="the first 100 stored")
            cluster.stop()
            publish(room_messages(prefix, 100, 1000), port=port)

            def spooled() -> int:
                lines = [line for p in sorted(spool_dir.glob("*.jsonl")) for line in p.read_bytes().splitlines()]
                return sum(len(_decode(line).values) for line in lines)

            wait_for(lambda: spool_dir.exists() and spooled() == 1000, timeout=30, what="all 1000 spooled")
            time.sleep(1.5)  # every spooled batch acknowledged
            process.send_signal(signal.SIGKILL)  # what is on disk is all there is
            process.wait(10)
            times = [
                v.source_time
                for p in sorted(spool_dir.glob("*.jsonl"))
                for line in p.read_bytes().splitlines()
                for v in _decode(line).values
            ]
            assert len(times) == 1000
            assert times == sorted(times)  # batch after batch, in the order they arrived
            cluster.start()
            process = start()
            wait_for(lambda: count(url, stored_sql) == 1100, timeout=30, what="all 1100 stored")
            time.sleep(1.0)
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        finally:
            process.kill()
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT measured_at) FROM measurements_measurement").fetchone()
        assert stored == (1100, 1100)
        status = conn.execute(
            f"SELECT received, stored FROM connectors_connectorstatus WHERE connector_id = {connector.pk}"
        ).fetchone()
        assert status == (1100, 1100)
    assert not list(spool_dir.glob("*.jsonl"))
