"""Store and forward: batches spooled to disk while PostgreSQL is away, bounded, replayed in
order once it is back; the fault test stops a PostgreSQL cluster of its own (never the shared
one) under a running `manage.py run_connectors`."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from connectors.spool import Spool
from connectors.storage import Batch, Pending
from tests.faults.services import Cluster, count
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake, at
from .support import publish, wait_for

ROOT = Path(__file__).resolve().parents[2]


def batch(n: int, start: int = 0) -> Batch:
    values = [
        Pending(1, "room/a", at(i), float(i), {"parameter": "p", "value": float(i), "measured_at": at(i)}, at(i))
        for i in range(start, start + n)
    ]
    found = Batch(values=values)
    found.received[1] = n
    found.refused.append((1, "room/b: no mapping has this source."))
    return found


def test_batches_come_back_in_order_with_their_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    assert spool.append(batch(3)) and spool.append(batch(2, start=3))
    replayed: list[Batch] = []
    assert spool.replay(replayed.append) == 2
    assert [[v.value for v in b.values] for b in replayed] == [[0.0, 1.0, 2.0], [3.0, 4.0]]
    first = replayed[0]
    assert first.received[1] == 3 and first.refused == [(1, "room/b: no mapping has this source.")]
    assert first.values[0].source_time == at(0) and first.values[0].row["measured_at"] == at(0).isoformat()
    assert not spool.pending() and not list(tmp_path.iterdir())
    assert spool.replay(replayed.append) == 0


def test_the_spool_refuses_a_batch_past_its_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2_000)
    assert spool.append(batch(3))
    assert not spool.append(batch(50))  # would pass 2,000 bytes: nothing written
    size = spool.size
    assert size == sum(p.stat().st_size for p in tmp_path.iterdir())
    assert Spool(tmp_path, 2_000).size == size  # a restarted process counts what is there


def test_a_replay_cut_by_an_error_resumes_after_the_last_stored_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    for i in range(3):
        spool.append(batch(1, start=i))
    stored: list[float] = []

    def store_two(b: Batch) -> None:
        if len(stored) == 2:
            raise psycopg.OperationalError("the database went away again")
        stored.append(b.values[0].value)

    with pytest.raises(psycopg.OperationalError):
        spool.replay(store_two)
    stored_again: list[float] = []
    Spool(tmp_path, 10_000_000).replay(lambda b: stored_again.append(b.values[0].value))
    assert (stored, stored_again) == ([0.0, 1.0], [2.0])


def test_a_line_cut_by_a_crash_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    spool.append(batch(1))
    segment = next(tmp_path.glob("*.jsonl"))
    with open(segment, "ab") as handle:
        handle.write(b'{"received": {"1": 1}, "refu')  # the process died while writing
    replayed: list[Batch] = []
    assert Spool(tmp_path, 10_000_000).replay(replayed.append) == 1


# --- the fault test: PostgreSQL stops under a running run_connectors ---------------------------


def _run_connectors(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "run_connectors"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def _messages(prefix: str, start_at: int, n: int) -> list[tuple[str, dict[str, object]]]:
    base = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    return [
        (f"{prefix}/a", {"value": -50.0 - i / 100, "measured_at": (base + timedelta(seconds=i)).isoformat()})
        for i in range(start_at, start_at + n)
    ]


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_values_received_while_postgresql_is_away_are_spooled_acknowledged_and_stored_once_back(
    connector_make: ConnectorMake, prefix: str, cluster: Cluster, tmp_path: Path
) -> None:
    connector = connector_make(
        "room-mqtt",
        [{"source": f"{prefix}/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"}],
        options={"client_id": f"ct-{prefix[-12:]}"},
    )
    url = cluster.copy_of_the_test_database("ct_fault")
    stored_sql = "SELECT count(*) FROM measurements_measurement"
    counts_sql = (
        f"SELECT received * 1000000 + stored FROM connectors_connectorstatus WHERE connector_id = {connector.pk}"
    )
    spool_dir = tmp_path / "spool"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELLTRACE_CONNECTOR_SPOOL_DIR": str(spool_dir),
    }

    def start() -> subprocess.Popen[bytes]:
        return _run_connectors(env)

    def messages(start_at: int, n: int) -> list[tuple[str, dict[str, object]]]:
        return _messages(prefix, start_at, n)

    process = start()
    try:
        wait_for(
            lambda: count(url, "SELECT count(*) FROM connectors_connectorstatus WHERE state = 'connected'") == 1,
            timeout=20,
            what="connected",
        )
        publish(messages(0, 200))
        wait_for(lambda: count(url, stored_sql) == 200, what="the first 200 stored")
        cluster.stop()
        publish(messages(200, 300))
        wait_for(
            lambda: spool_dir.exists() and sum(p.stat().st_size for p in spool_dir.glob("*.jsonl")) > 0, what="spooled"
        )
        time.sleep(1.5)  # every batch of the 300 spooled and acknowledged
        process.send_signal(signal.SIGKILL)  # a crash while the database is away
        process.wait(10)
        cluster.start()
        process = start()
        wait_for(lambda: count(url, stored_sql) == 500, timeout=20, what="all 500 stored")
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
    assert count(url, stored_sql) == 500
    # Received 500, not more: the spooled messages were acknowledged, the broker did not resend them.
    assert count(url, counts_sql) == 500 * 1000000 + 500
    assert not list(spool_dir.glob("*.jsonl"))


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_with_the_spool_full_mqtt_messages_stay_unacknowledged_and_are_stored_once_back(
    connector_make: ConnectorMake, prefix: str, cluster: Cluster, tmp_path: Path
) -> None:
    connector = connector_make(
        "room-mqtt",
        [{"source": f"{prefix}/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"}],
        options={"client_id": f"ct-{prefix[-12:]}"},
    )
    url = cluster.copy_of_the_test_database("ct_fault")
    spool_dir = tmp_path / "spool"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELLTRACE_CONNECTOR_SPOOL_DIR": str(spool_dir),
        "CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES": "1",  # full from the start
    }
    stored_sql = "SELECT count(*) FROM measurements_measurement"
    status_sql = (
        f"SELECT received, stored, rejected FROM connectors_connectorstatus WHERE connector_id = {connector.pk}"
    )
    process = _run_connectors(env)
    try:
        connected_sql = "SELECT count(*) FROM connectors_connectorstatus WHERE state = 'connected'"
        wait_for(
            lambda: count(url, connected_sql) == 1,
            timeout=20,
            what="connected",
        )
        publish(_messages(prefix, 0, 100))
        wait_for(lambda: count(url, stored_sql) == 100, what="the first 100 stored")
        cluster.stop()
        publish(_messages(prefix, 100, 150))
        time.sleep(2.0)  # held in memory, unacknowledged: nothing is spooled
        assert not list(spool_dir.glob("*.jsonl"))
        cluster.start()
        wait_for(lambda: count(url, stored_sql) == 250, timeout=20, what="all 250 stored")
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
    with psycopg.connect(url) as conn:
        assert conn.execute(status_sql).fetchone() == (250, 250, 0)
