"""Dataset exports over the API: eager Celery for the rules, a real worker on Redis for the path."""

import csv
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from datasets.models import Export, ExportStatus
from datasets.runs import EXPORT_FAILED, export_run, exports_expire, work_directory
from measurements.files import zip_check
from measurements.models import Measurement, Parameter
from tests.factories import build_line
from tests.support import (
    celery_connections_drop,
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)

URL = "/api/exports/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def line(engineer: User, stations: Any) -> Any:
    return build_line(engineer)  # 4 cells


def _post(client: APIClient, body: dict[str, Any], capture: Any = None) -> Any:
    if capture is None:
        return client.post(URL, body, format="json")
    with capture(execute=True):
        return client.post(URL, body, format="json")


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_parquet_export_runs_and_downloads(engineer_client, line, django_capture_on_commit_callbacks):
    response = _post(engineer_client, {"granularity": "cell", "format": "parquet"}, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    status = engineer_client.get(f"{URL}{export_id}/").json()
    assert status["status"] == "done", status
    assert status["progress"] == 1.0
    assert status["rows"] == len(line.cells) == 4
    assert status["error"] == ""
    export = Export.objects.get(pk=export_id)
    assert export.expires_at == export.finished_at + timedelta(hours=72)
    assert export.catalog_version.startswith("sha256:")

    download = engineer_client.get(f"{URL}{export_id}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(b"".join(download.streaming_content)))
    assert table.num_rows == 4
    assert table.num_columns == status["columns"]
    assert sorted(table.column("code").to_pylist()) == sorted(cell.code for cell in line.cells)
    metadata = table.schema.metadata
    assert json.loads(metadata[b"celltrace.query"])["granularity"] == "cell"
    assert download["X-Content-SHA256"] == export.file_sha256 == status["file_sha256"]

    dictionary = engineer_client.get(f"{URL}{export_id}/dictionary/")
    assert dictionary.status_code == 200
    entries = dictionary.json()
    assert [entry["name"] for entry in entries] == table.column_names
    as_csv = engineer_client.get(f"{URL}{export_id}/dictionary/?format=csv")
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    assert [row["name"] for row in csv.DictReader(io.StringIO(as_csv.content.decode()))] == table.column_names

    listing = engineer_client.get(URL).json()
    assert [e["id"] for e in listing["results"]] == [export_id]


def test_an_export_with_a_split_keeps_each_slurry_batch_on_one_side(
    engineer_client, line, django_capture_on_commit_callbacks
):
    body = {"format": "parquet", "split": {"by": "slurry_batch", "test": 0.5, "seed": 1}}
    export_id = _post(engineer_client, body, django_capture_on_commit_callbacks).json()["id"]
    assert engineer_client.get(f"{URL}{export_id}/").json()["status"] == "done"
    table = pq.read_table(io.BytesIO(b"".join(engineer_client.get(f"{URL}{export_id}/download/").streaming_content)))
    sides = dict(zip(table.column("code").to_pylist(), table.column("split").to_pylist(), strict=True))
    assert set(sides.values()) <= {"train", "test"} and len(sides) == len(line.cells)
    # The factory line has one slurry: every cell of it lands on the same side.
    assert len(set(sides.values())) == 1
    provenance = json.loads(table.schema.metadata[b"celltrace.provenance"])
    assert provenance["query"]["split"] == body["split"]


def test_csv_export_of_nothing_is_an_empty_table(engineer_client, line, django_capture_on_commit_callbacks):
    body = {"format": "csv", "layout": "wide", "filters": {"codes": ["NO-SUCH-CELL"]}}
    export_id = _post(engineer_client, body, django_capture_on_commit_callbacks).json()["id"]
    status = engineer_client.get(f"{URL}{export_id}/").json()
    assert (status["status"], status["rows"]) == ("done", 0)
    download = engineer_client.get(f"{URL}{export_id}/download/")
    assert download["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0][0] == "code" and len(rows) == 1


def _cycler_file(cell: Any, content: bytes, name: str = "formation.csv") -> None:
    parameter, _ = Parameter.objects.get_or_create(
        code="formation_cycling", defaults={"name": "Formation cycling", "scope": "material", "category": "SP"}
    )
    measurement = Measurement(parameter=parameter, item=cell, measured_at=timezone.now(), source="offline")
    measurement.file.save(name, ContentFile(content), save=False)
    measurement.save()


# One charge of 1 A for an hour, then a discharge of 0.9 A for an hour: 1.0 and 0.9 A·h.
CYCLER_CSV = b"Test_Time,Current,Voltage,Cycle_Index\n0,1,3.6,1\n3600,1,4.1,1\n3600,-0.9,4.0,1\n7200,-0.9,3.0,1\n"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_a_cell_export_carries_the_cycling_tables_of_its_cells(
    engineer_client, line, django_capture_on_commit_callbacks, fmt
):
    first, second = line.cells[:2]
    _cycler_file(first, CYCLER_CSV)
    _cycler_file(second, b"\x89PNG\r\n\x1a\n", name="photo.png")  # not a cycler file: passed over
    export_id = _post(engineer_client, {"format": fmt}, django_capture_on_commit_callbacks).json()["id"]
    status = engineer_client.get(f"{URL}{export_id}/").json()
    assert status["status"] == "done", status
    assert {name: table["rows"] for name, table in status["tables"].items()} == {"cycling": 4, "cycles": 1}

    def download(table: str) -> list[dict[str, Any]]:
        response = engineer_client.get(f"{URL}{export_id}/download/?table={table}")
        assert response.status_code == 200, response.content
        assert (
            response["X-Content-SHA256"] == status["tables"][table]["sha256"] == status["tables"][table]["file_sha256"]
        )
        body = b"".join(response.streaming_content)
        if fmt == "parquet":
            return pq.read_table(io.BytesIO(body)).to_pylist()
        if fmt == "csv":
            return list(csv.DictReader(io.StringIO(body.decode())))
        return [json.loads(line) for line in body.splitlines()]

    raw = download("cycling")
    assert [row["cell"] for row in raw] == [first.code] * 4
    assert [float(row["current_ampere"]) for row in raw] == [1.0, 1.0, -0.9, -0.9]
    assert {"test_time_second", "voltage_volt", "current_ampere", "cycle_count"} <= set(raw[0])
    # The file has no Step_Index: the steps come from the current, a charge then a discharge.
    assert [int(row["step_index"]) for row in raw] == [1, 1, 2, 2]
    (cycle,) = download("cycles")
    assert cycle["cell"] == first.code and int(cycle["cycle_count"]) == 1
    assert float(cycle["capacity_charge"]) == pytest.approx(1.0)
    assert float(cycle["capacity_discharge"]) == pytest.approx(0.9)
    assert float(cycle["coulomb_efficiency"]) == pytest.approx(0.9)


def test_cycling_tables_are_for_cell_exports_only_and_unknown_tables_are_refused(
    engineer_client, line, django_capture_on_commit_callbacks
):
    export_id = _post(engineer_client, {"granularity": "sheet"}, django_capture_on_commit_callbacks).json()["id"]
    assert engineer_client.get(f"{URL}{export_id}/").json()["tables"] == {}
    missing = engineer_client.get(f"{URL}{export_id}/download/?table=cycling")
    assert missing.status_code == 404 and "table" in missing.json()["errors"]
    unknown = engineer_client.get(f"{URL}{export_id}/download/?table=voltages")
    assert unknown.status_code == 400 and "table" in unknown.json()["errors"]


def test_a_retry_clears_what_a_killed_run_left_in_its_work_directory(engineer, line, settings, tmp_path):
    settings.CELLTRACE_EXPORT_WORK_DIR = tmp_path / "work"
    export = Export.objects.create(
        created_by=engineer, granularity="cell", format="csv", status=ExportStatus.RUNNING, request_sha256="x"
    )
    leftover = work_directory(export.pk) / f"export-{export.pk}.csv.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("code\nCELL-HALF")  # the half file of a killed worker
    done = export_run(export.pk)
    assert done is not None and done.status == ExportStatus.DONE and done.rows == 4
    assert not work_directory(export.pk).exists()
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"granularity": "stack"}, "granularity"),
        ({"format": "xlsx"}, "format"),
        ({"layout": "diagonal"}, "layout"),
        ({"parameters": ["no_such_parameter"]}, "parameters"),
        ({"filters": {"colour": "red"}}, "filters.colour"),
        ({"filters": {"created_after": "yesterday"}}, "filters.created_after"),
        ({"criticality": {"ml": "extreme"}}, "criticality.ml"),
        ({"split": {"by": "moon_phase"}}, "split.by"),
    ],
)
def test_bad_input_names_the_field(engineer_client, body, field):
    response = _post(engineer_client, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Export.objects.exists()


def test_operators_cannot_start_exports(operator_client):
    assert _post(operator_client, {"format": "csv"}).status_code == 403


def test_download_before_done_is_409_and_a_second_identical_request_returns_the_running_one(engineer_client):
    body = {"granularity": "cell", "format": "json", "filters": {"codes": ["B", "A"]}}
    first = _post(engineer_client, body)  # on_commit never runs here: the task is not sent
    assert first.status_code == 202
    assert first.json()["status"] == "queued"
    export_id = first.json()["id"]
    assert Export.objects.get(pk=export_id).format == "jsonl"
    assert engineer_client.get(f"{URL}{export_id}/download/").status_code == 409
    assert engineer_client.get(f"{URL}{export_id}/dictionary/").status_code == 409

    Export.objects.filter(pk=export_id).update(status=ExportStatus.RUNNING)
    again = _post(engineer_client, {"format": "jsonl", "filters": {"codes": ["A", "B"]}, "granularity": "cell"})
    assert again.status_code == 202
    assert again.json()["id"] == export_id
    assert again.json()["status"] == "running"
    other = _post(engineer_client, {"format": "csv", "filters": {"codes": ["A", "B"]}})
    assert other.json()["id"] != export_id


def test_another_users_export_is_not_found_but_admins_see_it(
    engineer_client, admin_client_api, line, django_capture_on_commit_callbacks
):
    export_id = _post(engineer_client, {"format": "csv"}, django_capture_on_commit_callbacks).json()["id"]
    colleague = User.objects.create_user(username="carl-colleague")
    colleague.groups.add(Group.objects.get_or_create(name="engineer")[0])
    other = _client(colleague)
    for suffix in ("", "download/", "dictionary/"):
        assert other.get(f"{URL}{export_id}/{suffix}").status_code == 404
    assert other.get(URL).json()["results"] == []
    assert admin_client_api.get(f"{URL}{export_id}/download/").status_code == 200
    assert [e["id"] for e in admin_client_api.get(URL).json()["results"]] == [export_id]


def test_expired_exports_are_gone(engineer_client, line, django_capture_on_commit_callbacks, _media):
    _cycler_file(line.cells[0], CYCLER_CSV)
    export_id = _post(engineer_client, {"format": "csv"}, django_capture_on_commit_callbacks).json()["id"]
    export = Export.objects.get(pk=export_id)
    paths = [Path(export.file.path)] + [_media / table["file"] for table in export.tables.values()]
    assert len(paths) == 3 and all(path.exists() for path in paths)
    Export.objects.filter(pk=export_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert engineer_client.get(f"{URL}{export_id}/download/").status_code == 410
    assert exports_expire() == 1
    assert not any(path.exists() for path in paths)
    assert Export.objects.get(pk=export_id).file == ""
    assert Export.objects.get(pk=export_id).tables == {}
    assert engineer_client.get(f"{URL}{export_id}/download/?table=cycles").status_code == 410
    assert engineer_client.get(f"{URL}{export_id}/download/").status_code == 410


def test_a_failure_is_recorded_with_its_error(engineer_client, monkeypatch, django_capture_on_commit_callbacks):
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("datasets.runs.dataset_rows", broken)
    export_id = _post(engineer_client, {"format": "csv"}, django_capture_on_commit_callbacks).json()["id"]
    status = engineer_client.get(f"{URL}{export_id}/").json()
    assert status["status"] == "failed"
    assert EXPORT_FAILED in status["error"]
    assert "the database went away" not in status["error"]  # the detail is logged, not shown
    assert engineer_client.get(f"{URL}{export_id}/download/").status_code == 409
    assert not Export.objects.get(pk=export_id).file


def test_a_redelivered_task_starts_again_and_a_finished_one_is_left_alone(engineer, line):
    export = Export.objects.create(
        created_by=engineer, granularity="cell", format="csv", status=ExportStatus.RUNNING, request_sha256="x"
    )
    done = export_run(export.pk)
    assert done is not None and done.status == ExportStatus.DONE and done.rows == 4
    name = done.file.name
    again = export_run(export.pk)
    assert again is not None and again.file.name == name and again.finished_at == done.finished_at
    assert export_run(10**9) is None


# --- The real path: a Celery worker on Redis ------------------------------------------------------
# transaction=True tests end with a TRUNCATE of every table, which also empties the item kinds and
# steps that data migrations seeded (see tests/traceability/test_concurrency.py): put them back.
# This test stays last in the module so the tests above still find them.


REDIS = "redis://127.0.0.1:6379/15"


@pytest.fixture
def worker(transactional_db: None, settings: Any, _media: Path) -> Iterator[subprocess.Popen[bytes]]:
    import redis

    from config.celery import app

    seed_kinds_and_steps()
    redis.Redis.from_url(REDIS).flushdb()
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}/{db['NAME']}"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": REDIS,
        "DATABASE_URL": url,
        "DJANGO_MEDIA_ROOT": str(_media),
    }
    celery = Path(sys.executable).with_name("celery")
    process = subprocess.Popen(
        [str(celery), "-A", "config", "worker", "--pool=solo", "--concurrency=1", "-l", "warning"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # The app read the Django settings (namespace CELERY) when first used: override its copy too.
    saved = (app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_BROKER_URL)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = REDIS
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.CELERY_BROKER_URL = REDIS
    celery_connections_drop(app)  # a pool made earlier would still point at the old broker
    assert app.pool.connection.as_uri() == REDIS
    try:
        yield process
    finally:
        app.conf.CELERY_TASK_ALWAYS_EAGER, app.conf.CELERY_BROKER_URL = saved
        celery_connections_drop(app)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_export(worker, stations, engineer):
    build_line(engineer)
    client = _client(engineer)
    response = _post(client, {"granularity": "cell", "format": "parquet"})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    export_id = response.json()["id"]
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(f"{URL}{export_id}/").json()
        if status["status"] in ("done", "failed") or worker.poll() is not None:
            break
        time.sleep(0.2)
    if status.get("status") != "done":
        worker.terminate()
        output = worker.communicate(timeout=20)[0].decode(errors="replace")
        pytest.fail(f"export {status}; worker said:\n{output[-3000:]}")
    assert status["rows"] == 4
    export = Export.objects.get(pk=export_id)
    assert export.celery_task_id and export.started_at is not None
    download = client.get(f"{URL}{export_id}/download/")
    assert download.status_code == 200
    assert pq.read_table(io.BytesIO(b"".join(download.streaming_content))).num_rows == 4


# --- Bad cycler files --------------------------------------------------------------------------


def _no_paths(messages: list[str]) -> None:
    for message in messages:
        assert "/" not in message and "\\" not in message, message


def test_an_unreadable_cycler_file_is_a_warning_and_the_other_cells_are_exported(
    engineer_client, line, django_capture_on_commit_callbacks
):
    first, second = line.cells[:2]
    _cycler_file(first, CYCLER_CSV)
    _cycler_file(second, b"not a neware file at all", name="garbage.nda")  # 25 bytes of garbage
    export_id = _post(engineer_client, {"format": "csv"}, django_capture_on_commit_callbacks).json()["id"]
    status = engineer_client.get(f"{URL}{export_id}/").json()
    assert status["status"] == "done", status
    assert status["error"] == ""
    [warning] = status["warnings"]
    assert warning["cell"] == second.code and warning["file"].startswith("garbage") and warning["file"].endswith(".nda")
    assert warning["file"] in warning["message"] and second.code in warning["message"]
    _no_paths([warning["message"], warning["file"]])
    assert status["tables"]["cycling"]["rows"] == 4
    body = b"".join(engineer_client.get(f"{URL}{export_id}/download/?table=cycling").streaming_content)
    assert {row["cell"] for row in csv.DictReader(io.StringIO(body.decode()))} == {first.code}


def test_a_zip_bomb_ndax_is_not_unzipped_during_an_export(
    engineer_client, line, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.CELLTRACE_MAX_UNZIPPED_BYTES = 4 * 1024 * 1024
    settings.CELLTRACE_EXPORT_WORK_DIR = tmp_path / "work"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("VersionInfo.xml", b"<x/>")
        archive.writestr("data.ndc", bytes(8 * 1024 * 1024))  # ~8 KB zipped
    _cycler_file(line.cells[0], buffer.getvalue(), name="bomb.ndax")
    _cycler_file(line.cells[1], CYCLER_CSV)
    export_id = _post(engineer_client, {"format": "csv"}, django_capture_on_commit_callbacks).json()["id"]
    status = engineer_client.get(f"{URL}{export_id}/").json()
    assert status["status"] == "done", status
    [warning] = status["warnings"]
    assert warning["cell"] == line.cells[0].code and "unzips to more than 4194304 bytes" in warning["message"]
    _no_paths([warning["message"]])
    assert status["tables"]["cycling"]["rows"] == 4


def test_an_archive_lying_about_its_sizes_is_caught_while_it_is_read(settings, tmp_path):
    settings.CELLTRACE_MAX_UNZIPPED_BYTES = 1024 * 1024
    path = tmp_path / "liar.ndax"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.ndc", bytes(3 * 1024 * 1024))
    data = bytearray(path.read_bytes())
    # Claim 100 bytes in the central directory and the local header: the directory check passes.
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.index(signature) + offset
        data[at : at + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.infolist()[0].file_size == 100
    zip_check(path, stream=False)  # the directory alone is fooled
    with pytest.raises(ValueError, match="not a readable zip archive|unzips to more than"):
        zip_check(path)


def test_a_failed_export_names_no_server_path(engineer, line, settings, tmp_path):
    settings.CELLTRACE_EXPORT_WORK_DIR = tmp_path / "work"
    export = Export.objects.create(created_by=engineer, granularity="cell", format="csv", request_sha256="x")
    settings.MEDIA_ROOT = "/dev/null/media"  # storing the file fails with a path in the OS error
    export = export_run(export.pk)
    assert export is not None and export.status == ExportStatus.FAILED
    assert export.error and "/" not in export.error, export.error
