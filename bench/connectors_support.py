"""What the connector benchmarks (bench/connectors_*.py, bench/load.py) share: the station,
parameter and connector they record, run_connectors in a subprocess, the watchers of its
committed rows and the bulk endpoint's rate on the same values."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from support import ROOT, dsn, percentile


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process and its live children (run_connectors
    --processes N) have used so far: the cost of a figure on a machine shared with other work,
    where the rate alone depends on what else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return own + sum(cpu_seconds(k) for k in kids)


def connector_setup(kind: str, endpoint: str, options: dict[str, object], sources: list[str]) -> tuple[int, str]:
    """Station COAT-01 (coating) with a coating run covering the benchmark, the parameter
    bench_thickness (um), an operator's API token, and a connector of `kind` mapping every
    source to COAT-01 (each value assigned by station and time, as a machine's would be);
    returns (connector id, token). Django must be set up."""
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from connectors.models import Connector, ConnectorMapping, ConnectorStatus
    from measurements.models import Parameter
    from traceability.models import Station
    from traceability.services import OutputSpec, operation_record, station_create

    admin = User.objects.create_superuser(username="bench-admin")
    operator = User.objects.create_user(username="bench-operator")
    operator.groups.add(Group.objects.get_or_create(name="operator")[0])
    token = Token.objects.create(user=operator).key
    station_create(actor=admin, code="COAT-01", name="Coater", steps=["coating"], room="dry-room-1")
    parameter = Parameter.objects.create(
        code="bench_thickness", name="Coating thickness", scope="step", step_id="coating", category="SP", unit="um"
    )
    now = datetime.now(UTC)
    operation_record(
        actor=admin,
        step="coating",
        station="COAT-01",
        started_at=now - timedelta(hours=1),
        ended_at=now + timedelta(hours=6),
        inputs=[],
        outputs=[OutputSpec(kind="coated_roll", quantity=10_000, unit="m", code="CR-bench", polarity="cathode")],
        parameters={},
    )
    connector = Connector.objects.create(code=f"bench-{kind}", kind=kind, endpoint=endpoint, options=options)
    station = Station.objects.get(code="COAT-01")
    ConnectorMapping.objects.bulk_create(
        ConnectorMapping(connector=connector, source=s, station=station, parameter=parameter, unit="um")
        for s in sources
    )
    ConnectorStatus.objects.create(connector=connector)
    return connector.pk, token


def connector_status(connector_id: int) -> tuple[str, int]:
    """(state, stored count) of the connector's status row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT state, stored FROM connectors_connectorstatus WHERE connector_id = %s", [connector_id])
        state, stored = cursor.fetchone()
    return state, int(stored)


def runner_start(env: dict[str, str], spool_dir: Path, processes: int = 1) -> subprocess.Popen[bytes]:
    """`manage.py run_connectors [--processes N]` in a subprocess (its own spool, a kept
    database connection)."""
    env = env | {"CELLTRACE_CONNECTOR_SPOOL_DIR": str(spool_dir), "DATABASE_CONN_MAX_AGE": "600"}
    command = [sys.executable, "manage.py", "run_connectors", "--processes", str(processes)]
    if os.environ.get("BENCH_PROFILE"):  # a profile of the runner (yappi, every thread)
        command = [sys.executable, str(ROOT / "bench" / "profile_runner.py"), os.environ["BENCH_PROFILE"]]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603


def runner_connected(runner: subprocess.Popen[bytes], connector_id: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while connector_status(connector_id)[0] != "connected":
        if time.monotonic() > deadline or runner.poll() is not None:
            raise SystemExit("run_connectors did not connect")
        time.sleep(0.1)


def runner_stop(runner: subprocess.Popen[bytes]) -> None:
    runner.terminate()  # SIGTERM: what it holds is committed first
    try:
        runner.wait(30)
    except subprocess.TimeoutExpired:
        runner.kill()
        runner.wait()


class CommitWatcher:
    """Polls, on its own connection, every `every_s`, the measurement rows of `instrument`
    committed since the last poll (one storage thread commits batches in order, so a new
    commit only adds ids above the highest seen). Each row's latency is the wall-clock time of
    the poll that first saw it minus its measured_at (the source timestamp): source time to
    committed row, within one poll interval."""

    def __init__(self, url: str, instrument: str, every_s: float = 0.02) -> None:
        import threading

        self.url, self.instrument, self.every_s = url, instrument, every_s
        self.seen: list[tuple[float, float, float]] = []  # (measured_at, first seen, value), epoch s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        last = 0
        sql = (
            "SELECT id, extract(epoch FROM measured_at)::float8, value FROM measurements_measurement "
            "WHERE instrument = %s AND id > %s ORDER BY id"
        )
        with psycopg.connect(dsn(self.url), autocommit=True) as conn:
            while True:
                stopping = self._stop.is_set()
                rows = conn.execute(sql, [self.instrument, last]).fetchall()
                now = time.time()
                if rows:
                    last = rows[-1][0]
                    self.seen.extend((at, now, value) for _, at, value in rows)
                if stopping:
                    return
                time.sleep(self.every_s)

    def count(self) -> int:
        return len(self.seen)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def latency_ms(rows: list[tuple[float, float, float]]) -> dict[str, float]:
        latencies = sorted(seen - at for at, seen, _ in rows)
        return {
            "p50": round(percentile(latencies, 0.5) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(latencies[-1] * 1000, 1) if latencies else float("nan"),
        }


class BatchWatcher:
    """Commit times per stored batch, for a runner that stores several batches at once (ids
    then commit out of order, so a poll of the highest id would miss rows). Every batch is one
    bulk ingest with one audit event ("measurement.bulk", entity_id its created_at, which every
    row of it carries) committed with its rows: the watcher polls those events, on its own
    connection, every `every_s`, from a little below the highest id seen (a later id may commit
    first), each event once; a batch's commit time is the wall-clock time of the poll that first
    saw its event. `rows()` then matches the rows of `instrument` to their batch by created_at:
    each row's latency is its batch's commit time minus its measured_at (the source timestamp),
    within one poll interval."""

    SLACK = 64  # events below the highest id seen that are read again

    def __init__(self, url: str, instrument: str, every_s: float = 0.02) -> None:
        import threading

        self.url, self.instrument, self.every_s = url, instrument, every_s
        self.committed_at: dict[int, float] = {}  # batch created_at (epoch us) -> first seen
        self.committed = 0  # rows in the batches seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from datetime import UTC, datetime, timedelta

        import psycopg

        epoch, us = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
        sql = (
            "SELECT id, entity_id, (after->>'count')::bigint FROM audit_auditevent "
            "WHERE action = 'measurement.bulk' AND id > %s ORDER BY id"
        )
        seen: set[int] = set()
        top = 0
        with psycopg.connect(dsn(self.url), autocommit=True) as conn:
            while True:
                stopping = self._stop.is_set()
                events = conn.execute(sql, [max(0, top - self.SLACK)]).fetchall()
                now = time.time()
                for pk, created_at, count in events:
                    if pk not in seen:
                        seen.add(pk)
                        self.committed_at[(datetime.fromisoformat(created_at) - epoch) // us] = now
                        self.committed += count
                        top = max(top, pk)
                if stopping:
                    return
                time.sleep(self.every_s)

    def count(self) -> int:
        return self.committed

    def rows(self) -> list[tuple[float, float, float]]:
        """(measured_at, committed, value) of every row of `instrument` whose batch was seen,
        epoch seconds, in commit order."""
        import psycopg

        sql = (
            "SELECT (extract(epoch FROM created_at) * 1000000)::bigint, extract(epoch FROM measured_at)::float8, "
            "value FROM measurements_measurement WHERE instrument = %s"
        )
        with psycopg.connect(dsn(self.url), autocommit=True) as conn:
            found = conn.execute(sql, [self.instrument]).fetchall()
        rows = [(at, self.committed_at[c], v) for c, at, v in found if c in self.committed_at]
        return sorted(rows, key=lambda row: (row[1], row[0]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def bulk_rate(token: str, instrument: str, station: str = "COAT-01") -> dict[str, object]:
    """The values the connector `instrument` stored, again through POST /api/measurements/bulk/
    (one JSON array, the Django test client in process, so no HTTP): the baseline."""
    import json

    from django.db import connection
    from rest_framework.test import APIClient

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.code, m.value, m.sent_unit, m.measured_at FROM measurements_measurement m "
            "JOIN measurements_parameter p ON p.id = m.parameter_id WHERE m.instrument = %s",
            [instrument],
        )
        values = cursor.fetchall()
    rows = [
        {
            "parameter": p,
            "value": v,
            "unit": u,
            "station": station,
            "measured_at": t.isoformat(),
            "source": "online",
            "instrument": "bench-bulk",
        }
        for p, v, u, t in values
    ]
    body = json.dumps(rows)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    started = time.monotonic()
    response = client.post("/api/measurements/bulk/", body, content_type="application/json")
    seconds = time.monotonic() - started
    if response.status_code != 201:
        raise SystemExit(f"bulk: {response.status_code} {response.content[:500]!r}")
    return {"rows": len(rows), "seconds": round(seconds, 3), "rows_per_s": round(len(rows) / seconds)}
