"""A worker killed mid-export on a real Redis: nothing to download meanwhile, and the unacknowledged
task (acks_late) is redelivered to the next worker, which builds the export from scratch.

The first worker is slowed down by a launcher (`python -c`) that patches `datasets.writers` to
write one row per batch and sleep before each, so that the test can SIGKILL it while the export
runs; production code knows nothing of it. The workers run with a Redis visibility timeout of a
few seconds (CELERY_VISIBILITY_TIMEOUT) so that the redelivery comes within the test's time; an
export still running then is delivered to a second worker too, which must not build it again.
"""

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from datasets.models import Export, ExportStatus
from tests.factories import build_line
from tests.support import (
    celery_connections_drop,
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)

URL = "/api/exports/"
REDIS = "redis://127.0.0.1:6379/14"
VISIBILITY_TIMEOUT_S = 3
ROOT = Path(__file__).resolve().parents[2]
WORKER_ARGS = ["-A", "config", "worker", "--pool=solo", "--concurrency=1", "-l", "warning", "--without-mingle"]

# Runs `celery worker` after patching the writers: one row per batch, a sleep before each.
_SLOW_WORKER = """
import sys, time
import django
django.setup()
import datasets.writers as writers
batches = writers._batches
def slow(rows, size):
    for batch in batches(rows, 1):
        time.sleep({delay})
        yield batch
writers._batches = slow
from celery.__main__ import main
sys.argv = ["celery", *{args!r}]
main()
"""

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


# transaction=True tests end with a TRUNCATE of every table, which also empties the item kinds and
# steps that data migrations seeded (see tests/datasets/test_exports.py): put them back.


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


Start = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(transactional_db: None, settings: Any, _media: Path, tmp_path: Path) -> Iterator[Start]:
    """start_worker(name, slow=None) starts a worker on REDIS; `slow` seconds of sleep per row."""
    import redis

    from config.celery import app

    seed_kinds_and_steps()
    redis.Redis.from_url(REDIS).flushdb()
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": REDIS,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}/{db['NAME']}",
        "DJANGO_MEDIA_ROOT": str(_media),
        "TMPDIR": str(tmp_path),
        # where a killed worker's half-written file stays behind
        "CELLTRACE_EXPORT_WORK_DIR": str(tmp_path / "celltrace-exports"),
    }
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, slow: float | None = None) -> subprocess.Popen[bytes]:
        args = [*WORKER_ARGS, "-n", f"{name}@%h"]
        if slow is None:
            command = [str(Path(sys.executable).with_name("celery")), *args]
        else:
            command = [sys.executable, "-c", _SLOW_WORKER.format(delay=slow, args=args)]
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    saved = (app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_BROKER_URL)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = REDIS
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.CELERY_BROKER_URL = REDIS
    celery_connections_drop(app)
    assert app.pool.connection.as_uri() == REDIS
    try:
        yield start
    finally:
        app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_BROKER_URL = saved
        celery_connections_drop(app)
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in tmp_path.glob("*.log"))


def _wait(client: APIClient, export_id: int, until: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(f"{URL}{export_id}/").json()
        if until(status):
            return status
        time.sleep(0.1)
    return status


def test_a_killed_worker_leaves_nothing_to_download_and_the_export_is_redelivered(
    start_worker: Start, stations: Any, engineer: User, tmp_path: Path
) -> None:
    build_line(engineer)  # 4 cells: 4 batches of one row, 2 s each in the slow worker
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    first = start_worker("first", slow=2.0)
    response = client.post(URL, {"granularity": "cell", "format": "parquet"}, format="json")
    assert response.status_code == 202
    export_id = response.json()["id"]

    status = _wait(client, export_id, lambda s: s["status"] != "queued" or first.poll() is not None, 60)
    if status.get("status") != "running":
        pytest.fail(f"export {status}, expected running; logs:\n{_logs(tmp_path)}")
    assert client.get(f"{URL}{export_id}/download/").status_code == 409
    started = Export.objects.get(pk=export_id).started_at
    assert started is not None

    # Kill it once it is writing: the half file is there, under a temporary name, in the export's
    # own work directory only.
    half = f"celltrace-exports/export-{export_id}/*.part"
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(half)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(half)), f"the worker never started writing; logs:\n{_logs(tmp_path)}"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(0.5)
    status = client.get(f"{URL}{export_id}/").json()
    assert status["status"] == "running", status
    assert client.get(f"{URL}{export_id}/download/").status_code == 409
    export = Export.objects.get(pk=export_id)
    assert not export.file and export.rows is None
    assert list(tmp_path.glob(half))  # left behind until the export is retried

    # The message stays unacknowledged in Redis; a worker that starts after the visibility timeout
    # restores it at once (kombu restores visible messages when it starts polling).
    time.sleep(VISIBILITY_TIMEOUT_S + 1)
    second = start_worker("second")
    status = _wait(client, export_id, lambda s: s["status"] in ("done", "failed") or second.poll() is not None, 60)
    if status.get("status") != "done":
        pytest.fail(f"export {status}, expected done after redelivery; logs:\n{_logs(tmp_path)}")
    assert status["rows"] == 4
    export = Export.objects.get(pk=export_id)
    assert export.started_at is not None and export.started_at > started  # built again from scratch
    download = client.get(f"{URL}{export_id}/download/")
    assert download.status_code == 200
    assert pq.read_table(io.BytesIO(download.getvalue())).num_rows == 4
    assert Export.objects.filter(status=ExportStatus.DONE).count() == 1
    assert not (tmp_path / "celltrace-exports" / f"export-{export_id}").exists()  # the retry cleared it


def test_a_second_delivery_of_a_running_export_waits_and_does_not_build_it_again(
    start_worker: Start, stations: Any, engineer: User, tmp_path: Path
) -> None:
    """An export running past the visibility timeout is delivered again to another worker; that
    copy finds the export's lock taken, builds nothing and retries until the first run is done."""
    # 4 cells: 4 batches of one row, 6 s each in the slow worker (CSV: batched): long enough that
    # the first run still builds while a second worker starts on a loaded machine.
    build_line(engineer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    first = start_worker("first", slow=6.0)
    response = client.post(URL, {"granularity": "cell", "format": "csv"}, format="json")
    export_id = response.json()["id"]
    status = _wait(client, export_id, lambda s: s["status"] != "queued" or first.poll() is not None, 60)
    if status.get("status") != "running":
        pytest.fail(f"export {status}, expected running; logs:\n{_logs(tmp_path)}")
    started = Export.objects.get(pk=export_id).started_at

    # Past the visibility timeout the unacknowledged task is visible again: a worker starting now
    # takes it while the first still builds the export.
    time.sleep(VISIBILITY_TIMEOUT_S + 1)
    second = start_worker("second")
    second_log = tmp_path / "second.log"
    deadline = time.monotonic() + 30
    while "being built by another worker" not in second_log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no second delivery; logs:\n{_logs(tmp_path)}"
        time.sleep(0.1)
    export = Export.objects.get(pk=export_id)
    assert (export.status, export.started_at) == (ExportStatus.RUNNING, started)  # the first still runs
    assert first.poll() is None and second.poll() is None

    status = _wait(client, export_id, lambda s: s["status"] in ("done", "failed"), 90)
    if status.get("status") != "done":
        pytest.fail(f"export {status}, expected done; logs:\n{_logs(tmp_path)}")
    export = Export.objects.get(pk=export_id)
    assert export.started_at == started  # built once, by the first run: the copy never restarted it
    assert export.rows == 4
    download = client.get(f"{URL}{export_id}/download/")
    assert len(b"".join(download.streaming_content).decode().splitlines()) == 1 + 4
    # The copy's retries end once the export is done; nothing builds it again afterwards.
    time.sleep(VISIBILITY_TIMEOUT_S)
    later = Export.objects.get(pk=export_id)
    assert (later.status, later.started_at, later.finished_at) == (ExportStatus.DONE, started, export.finished_at)
