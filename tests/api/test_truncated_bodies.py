"""A body that ends before its declared length stores nothing and leaves its Idempotency-Key
unused; the bulk CSV's charset and NUL errors are 400s naming what is wrong.

The truncated requests are sent over a raw socket (a client cannot send less than it declares
otherwise) to a real server: the live server, and gunicorn for chunked bodies."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from core.errors import ErrorCode
from core.models import IdempotencyKey
from lots.models import Item
from measurements.models import Measurement
from tests.factories import register
from tests.measurements.conftest import parameter
from tests.support import reseed_after_the_last_truncate, seed_kinds_and_steps  # noqa: F401

BULK = "/api/measurements/bulk/"
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
HEADER = "parameter,value,unit,item,position_m,measured_at,source"


@pytest.fixture
def token(transactional_db: Any) -> str:
    seed_kinds_and_steps()  # emptied by the TRUNCATE ending the previous transactional test
    user = User.objects.create_user(username="olga-operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return Token.objects.create(user=user).key


@pytest.fixture
def subject(db: Any) -> Item:
    """A parameter that takes values and CSV files, and the roll it is measured on."""
    seed_kinds_and_steps()
    engineer = User.objects.create_user(username="emil-engineer")
    engineer.groups.add(Group.objects.get_or_create(name="engineer")[0])
    parameter(
        "bulk_mass_loading", step_id="coating", unit="mg/cm**2", typical_min=10, typical_max=30, file_types=["csv"]
    )
    return register(engineer, "coated_roll", 500, "m", code="CR-0003", polarity="cathode")


def csv_lines(count: int) -> list[bytes]:
    at = [(T0 + timedelta(seconds=i)).isoformat() for i in range(count)]
    return [
        f"bulk_mass_loading,{20 + i % 5},mg/cm**2,CR-0003,{i % 500},{at[i]},online\n".encode() for i in range(count)
    ]


def raw_post(url: str, path: str, headers: dict[str, str], sent: bytes) -> bytes:
    """Send the request line, `headers` and `sent`, close the sending side, return what the
    server answers (maybe nothing)."""
    parts = urlsplit(url)
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode() + sent)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def assert_refused(answer: bytes) -> None:
    """Whatever the server got to answer is a 400 body_truncated, not a stored write or a 500."""
    if answer:
        assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400"), answer[:300]
        assert ErrorCode.BODY_TRUNCATED.encode() in answer, answer[:600]


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", **headers}


def retry_and_replay(url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The full body with the same key succeeds; sent again it is replayed."""
    first = requests.post(url, data=body, headers=headers, timeout=60)
    assert first.status_code == 201, first.content[:600]
    again = requests.post(url, data=body, headers=headers, timeout=60)
    assert again.status_code == 201, again.content[:600]
    assert again.headers["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    result: dict[str, Any] = first.json()
    return result


@pytest.mark.postgresql_only  # the flush ending a transactional test needs tests.postgresql_flush
def test_a_truncated_csv_stores_nothing_and_the_retry_succeeds(live_server, token, subject):
    lines = csv_lines(10_000)
    body = (HEADER + "\n").encode() + b"".join(lines)
    sent = (HEADER + "\n").encode() + b"".join(lines[:5_001])  # ends on a row boundary: valid CSV
    headers = auth(token, **{"Content-Type": "text/csv", "Idempotency-Key": "csv-1"})

    answer = raw_post(live_server.url, BULK, headers | {"Content-Length": str(len(body))}, sent)

    assert_refused(answer)
    assert Measurement.objects.count() == 0
    assert not IdempotencyKey.objects.exists()
    assert retry_and_replay(live_server.url + BULK, headers, body)["created"] == 10_000
    assert Measurement.objects.count() == 10_000


@pytest.mark.postgresql_only  # the flush ending a transactional test needs tests.postgresql_flush
def test_a_truncated_bulk_json_array_stores_nothing(live_server, token, subject):
    rows = [dict(zip(HEADER.split(","), line.decode().strip().split(","), strict=True)) for line in csv_lines(300)]
    body = json.dumps(rows).encode() + b" " * 50_000  # what arrives is the whole array
    headers = auth(token, **{"Content-Type": "application/json", "Idempotency-Key": "json-1"})

    answer = raw_post(live_server.url, BULK, headers | {"Content-Length": str(len(body))}, body[:-25_000])

    assert_refused(answer)
    assert not Measurement.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert retry_and_replay(live_server.url + BULK, headers, body)["created"] == 300


@pytest.mark.postgresql_only  # the flush ending a transactional test needs tests.postgresql_flush
def test_a_truncated_json_body_registers_nothing(live_server, token):
    # Padding after the object: the half that arrives is valid JSON on its own.
    body = b'{"kind": "binder", "quantity": 1, "unit": "kg"}' + b" " * 2000
    headers = auth(token, **{"Content-Type": "application/json", "Idempotency-Key": "item-1"})

    answer = raw_post(live_server.url, "/api/items/", headers | {"Content-Length": str(len(body))}, body[:1000])

    assert_refused(answer)
    assert not Item.objects.exists()
    assert not IdempotencyKey.objects.exists()
    retry_and_replay(live_server.url + "/api/items/", headers, body)
    assert Item.objects.count() == 1


@pytest.mark.postgresql_only  # the flush ending a transactional test needs tests.postgresql_flush
def test_a_truncated_file_upload_stores_nothing(live_server, token, subject, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    content = b"position_m,loading\n" + b"".join(f"{i},{20 + i % 3}\n".encode() for i in range(5000))
    prepared = requests.Request(
        "POST",
        live_server.url + "/api/measurements/",
        data={"parameter": "bulk_mass_loading", "item": subject.code, "source": "offline"},
        files={"file": ("loading-map.csv", content, "text/csv")},
    ).prepare()
    body = prepared.body
    assert isinstance(body, bytes)
    headers = auth(token, **{"Content-Type": prepared.headers["Content-Type"], "Idempotency-Key": "file-1"})

    answer = raw_post(
        live_server.url, "/api/measurements/", headers | {"Content-Length": str(len(body))}, body[: len(body) // 2]
    )

    assert_refused(answer)
    assert not Measurement.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert not [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    result = retry_and_replay(live_server.url + "/api/measurements/", headers, body)
    assert Measurement.objects.get().file_sha256 == result["file_sha256"]


# --- chunked bodies, under gunicorn (the development server does not decode chunks) ----------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def gunicorn(transactional_db: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A gunicorn serving the test database: (its URL, its log file)."""
    db = django_settings.DATABASES["default"]
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--access-logfile", "-", "--error-logfile", "-"],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=30)


def chunked(lines: list[bytes], *, terminated: bool) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines)
    return body + (b"0\r\n\r\n" if terminated else b"")


@pytest.mark.postgresql_only
def test_a_chunked_csv_without_its_last_chunk_stores_nothing(gunicorn, token, subject):
    url, log = gunicorn
    lines = [(HEADER + "\n").encode(), *csv_lines(2_000)]
    headers = auth(token, **{"Content-Type": "text/csv", "Idempotency-Key": "chunked-1"})
    headers["Transfer-Encoding"] = "chunked"

    answer = raw_post(url, BULK, headers, chunked(lines, terminated=False))

    assert_refused(answer)
    assert Measurement.objects.count() == 0
    assert not IdempotencyKey.objects.exists()
    # The same body, ended properly, is read whole: chunked uploads are not ignored.
    answer = raw_post(url, BULK, headers, chunked(lines, terminated=True))
    assert answer.startswith(b"HTTP/1.1 201"), answer[:600]
    assert Measurement.objects.count() == 2_000
    output = log.read_text()
    assert '" 500 ' not in output and "Traceback" not in output, output


# --- the bulk CSV's encoding (no server needed) ----------------------------------------------


@pytest.mark.django_db
def test_a_csv_declared_utf16_but_sent_as_utf8_is_a_400_naming_the_body(operator_client, subject):
    text = HEADER + "\n" + b"".join(csv_lines(3)).decode()
    response = operator_client.post(BULK, text.encode(), content_type="text/csv; charset=utf-16")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == ErrorCode.MALFORMED
    assert "body" in response.json()["errors"]
    assert "utf-16" in response.json()["detail"]
    assert not Measurement.objects.exists()


def post_lines(client: Any, lines: list[bytes]) -> Any:
    response = client.post(BULK, (HEADER + "\n").encode() + b"".join(lines), content_type="text/csv")
    assert response.status_code == 400, response.content
    return response


@pytest.mark.django_db
def test_bad_utf8_deep_in_a_csv_is_a_400_naming_the_row(operator_client, subject):
    lines = csv_lines(5_000)
    lines[2_999] = lines[2_999].replace(b"online", b"onl\xff\xfeine")
    response = post_lines(operator_client, lines)
    [field] = response.json()["errors"]
    # Text is decoded ahead of the parser, in pieces: the row named is at or before the bad one.
    assert field.startswith("rows[") and 2_000 <= int(field[5:-1]) <= 2_999, field
    assert not Measurement.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_a_csv_field_is_a_400_naming_the_row_and_field(operator_client, subject):
    lines = csv_lines(10)
    lines[6] = lines[6].replace(b"CR-0003", b"CR-\x000003")
    response = post_lines(operator_client, lines)
    body = response.json()
    assert body["errors"] == {"rows[6].item": ["contains a NUL character (0x00)."]}
    assert body["rows"] == [
        {"row": 7, "field": "item", "message": "contains a NUL character (0x00).", "code": "nul_character"}
    ]
    assert not Measurement.objects.exists()
