"""Redis goes away under gunicorn: the API keeps recording (measurements answer 201) and an
export request is accepted as queued (202, never a 500), its task unsent. Once Redis is back on
its port, `manage.py requeue_exports` sends it and a Celery worker builds it: done, with a file."""

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from datasets.models import Export, ExportStatus
from measurements.models import Measurement, Parameter
from tests.factories import build_line
from tests.support import seed_kinds_and_steps

from .services import Daemon, app_database_url, app_env, celery_worker, gunicorn, logs, start, stop, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def env(redis_server: Daemon, work: Path) -> dict[str, str]:
    return app_env(app_database_url(), work, CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_server.port}/0")


@pytest.fixture
def app(env: dict[str, str], work: Path) -> Iterator[str]:
    process, base = gunicorn(env, work)
    try:
        yield base
    finally:
        stop(process)


def _measurement(i: int) -> dict[str, Any]:
    return {
        "parameter": "ct_dew_point",
        "value": -40 - i,
        "unit": "degC",
        "room": "dry-room-1",
        "measured_at": f"2026-03-02T07:00:{i:02d}+00:00",
    }


def test_with_redis_down_writes_are_stored_and_an_export_waits_queued_until_requeued(
    app: str, env: dict[str, str], redis_server: Daemon, engineer: User, stations: Any, work: Path
) -> None:
    seed_kinds_and_steps()
    build_line(engineer)  # 4 cells
    Parameter.objects.create(code="ct_dew_point", name="Dew point", scope="environment", category="PP", unit="degC")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=engineer).key}"

    redis_server.stop()
    measured = session.post(f"{app}/api/measurements/bulk/", json=[_measurement(i) for i in range(3)], timeout=60)
    assert measured.status_code == 201, (measured.status_code, measured.text[:500], logs(work))
    assert Measurement.objects.filter(parameter__code="ct_dew_point").count() == 3

    started = time.monotonic()
    asked = session.post(f"{app}/api/exports/", json={"granularity": "cell", "format": "csv"}, timeout=60)
    assert asked.status_code == 202, (asked.status_code, asked.text[:500], logs(work))
    assert time.monotonic() - started < 30  # the broker's absence does not hold the request long
    export_id = asked.json()["id"]
    assert asked.json()["status"] == "queued"
    export = Export.objects.get(pk=export_id)
    assert export.status == ExportStatus.QUEUED and export.celery_task_id == ""  # recorded, unsent

    # A worker started now finds nothing: the task was never sent.
    redis_server.start()
    worker = celery_worker(env, work)
    try:
        time.sleep(3)
        assert Export.objects.get(pk=export_id).status == ExportStatus.QUEUED
        requeue = start([sys.executable, "manage.py", "requeue_exports"], env, work / "requeue.log")
        assert requeue.wait(timeout=60) == 0, logs(work)
        assert "Sent the tasks of 1 queued exports." in (work / "requeue.log").read_text()
        done = wait_for(
            lambda: Export.objects.filter(pk=export_id, status__in=[ExportStatus.DONE, ExportStatus.FAILED]).first(),
            60,
            f"export {export_id} finished; logs:\n{logs(work)}",
        )
    finally:
        stop(worker)
    assert done.status == ExportStatus.DONE, (done.error, logs(work))
    assert done.rows == 4 and done.file
    download = session.get(f"{app}/api/exports/{export_id}/download/", timeout=30)
    assert download.status_code == 200
    assert len(download.content.decode().strip().splitlines()) == 1 + 4  # a header and the four cells
    assert "Traceback" not in (work / "gunicorn.log").read_text()
