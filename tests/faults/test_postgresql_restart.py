"""PostgreSQL goes away under gunicorn while clients write (bulk measurements, item
registrations) with Idempotency-Keys: while it is away the API answers a JSON 503 with
Retry-After, never a 500; the clients retry with the same keys, and afterwards every write is
stored exactly once."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from core.models import IdempotencyKey
from lots.models import Item
from measurements.models import Measurement, Parameter

from .services import Cluster, app_env, count, gunicorn, logs, stop

pytestmark = [pytest.mark.faults, pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

CLIENTS = 3
WRITES_PER_CLIENT = 16  # alternately a bulk of ROWS measurements and an item
ROWS = 25


@pytest.fixture
def app(operator: User, cluster: Cluster, work: Path) -> Iterator[tuple[str, str, str]]:
    """gunicorn (2 processes, 4 threads each) on a copy of the test database on `cluster`."""
    Parameter.objects.create(code="ct_dew_point", name="Dew point", scope="room", category="PP", unit="degC")
    token = Token.objects.create(user=operator).key
    url = cluster.copy_of_the_test_database()
    process, base = gunicorn(app_env(url, work), work)
    try:
        yield base, token, url
    finally:
        stop(process)


def _body(client: int, n: int) -> tuple[str, Any]:
    if n % 2:
        return "/api/items/", {
            "kind": "cathode_active_material",
            "quantity": 25,
            "unit": "kg",
            "code": f"F{client}-{n}",
        }
    rows = [
        {
            "parameter": "ct_dew_point",
            "value": -40 - i / 100,
            "unit": "degC",
            "room": "dry-room-1",
            "measured_at": f"2026-03-02T07:{client:02d}:{i % 60:02d}.{n:03d}+00:00",
        }
        for i in range(ROWS)
    ]
    return "/api/measurements/bulk/", rows


class Client(threading.Thread):
    """Writes its bodies in order; a failed write is sent again with the same key until stored."""

    def __init__(self, number: int, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.number, self.base = number, base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.answers: list[tuple[int, str, str | None]] = []  # status, code, Retry-After of failures
        self.stored = 0
        self.failed: str = ""

    def run(self) -> None:
        try:
            for n in range(WRITES_PER_CLIENT):
                path, body = _body(self.number, n)
                self._write(path, body, f"client-{self.number}-write-{n}")
                time.sleep(0.05)
        except Exception as exc:  # reported by the test
            self.failed = repr(exc)

    def _write(self, path: str, body: Any, key: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = self.session.post(self.base + path, json=body, headers={"Idempotency-Key": key}, timeout=30)
            if response.status_code == 201:
                self.stored += 1
                return
            code = response.json().get("code", "") if "json" in response.headers.get("Content-Type", "") else ""
            self.answers.append((response.status_code, code, response.headers.get("Retry-After")))
            time.sleep(0.2)  # shorter than Retry-After: the test has no time to lose
        raise AssertionError(f"{key} not stored within 60 s: {self.answers[-3:]}")


def test_writes_through_a_postgresql_restart_are_stored_once_and_the_outage_answers_503(
    app: tuple[str, str, str], cluster: Cluster, work: Path
) -> None:
    base, token, url = app
    clients = [Client(i, base, token) for i in range(CLIENTS)]
    for client in clients:
        client.start()
    # Mid-ingest: a third of the writes stored, then the server stops (connections cut,
    # transactions in flight rolled back) and stays away a moment before it starts again.
    wait_total = CLIENTS * WRITES_PER_CLIENT // 3
    deadline = time.monotonic() + 60
    while sum(c.stored for c in clients) < wait_total and time.monotonic() < deadline:
        time.sleep(0.02)
    cluster.stop()
    time.sleep(1.5)
    cluster.start()
    for client in clients:
        client.join(120)
    assert all(not c.is_alive() for c in clients), "a client still writes after 120 s"
    assert not [c.failed for c in clients if c.failed], ([c.failed for c in clients], logs(work))

    failures = [answer for c in clients for answer in c.answers]
    assert failures, "no write met the outage: the test proved nothing"
    # Every failure a client saw says what it is and when to retry: no 500, no HTML page.
    assert {answer for answer in failures} == {(503, "database_unavailable", "5")}, failures
    items = CLIENTS * (WRITES_PER_CLIENT // 2)
    bulks = CLIENTS * (WRITES_PER_CLIENT - WRITES_PER_CLIENT // 2)
    assert count(url, f"SELECT count(*) FROM {Item._meta.db_table} WHERE code LIKE 'F%'") == items
    assert count(url, f"SELECT count(*) FROM {Measurement._meta.db_table}") == bulks * ROWS
    # One idempotency row per write: a retry that found its key replayed it, storing nothing.
    assert (
        count(url, f"SELECT count(*) FROM {IdempotencyKey._meta.db_table} WHERE key LIKE 'client-%'") == items + bulks
    )
    assert "Traceback" not in (work / "gunicorn.log").read_text()
