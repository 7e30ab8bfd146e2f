"""Files of measurements: only the types a parameter allows, by name and by content; refused while
they arrive when too big; zip archives bounded; downloads as attachments, never inline."""

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, FakePayload, encode_multipart
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core.errors import ErrorCode
from lots.models import Item
from measurements.files import DEFAULT_TYPES, allowed_types, without_paths
from measurements.models import Measurement

from .conftest import parameter

pytestmark = pytest.mark.django_db

URL = "/api/measurements/"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
CYCLERS = Path(__file__).resolve().parents[1] / "fixtures" / "cyclers"  # tests/fixtures/README.md


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def loading(db: Any) -> Any:
    """A parameter without file_types of its own: the default list applies."""
    return parameter("mass_loading_f", step_id="coating", unit="mg/cm**2")


def upload(client: APIClient, roll: Item, name: str, content: bytes, code: str = "mass_loading_f") -> Any:
    body = {"parameter": code, "item": roll.code, "source": "offline", "file": SimpleUploadedFile(name, content)}
    return client.post(URL, body, format="multipart")


def refused_file(response: Any, media: Path) -> str:
    """The message of a 400 on `file` that stored nothing."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == ErrorCode.BAD_FILE and list(body["errors"]) == ["file"], body
    assert not Measurement.objects.exists() and not AuditEvent.objects.filter(action="measurement.record").exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []
    return str(body["errors"]["file"][0])


def xlsx_like(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- Types -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["evil.html", "evil.htm", "logo.svg", "run.js", "setup.exe", "page.xhtml"])
def test_a_type_a_browser_would_run_is_refused_with_the_allowed_list(
    operator_client, coated_roll, loading, media, name
):
    message = refused_file(upload(operator_client, coated_roll, name, HTML), media)
    assert "png, jpg, jpeg" in message and "ndax" in message and "pdf" in message


@pytest.mark.parametrize(
    "name", ["evil.png", "evil.jpg", "evil.pdf", "evil.csv", "evil.txt", "evil.xlsx", "evil.nda", "evil.041"]
)
def test_an_html_page_renamed_to_an_allowed_type_is_refused_by_its_content(
    operator_client, coated_roll, loading, media, name
):
    message = refused_file(upload(operator_client, coated_roll, name, HTML), media)
    assert "is not a" in message


def test_the_default_list_takes_images_reports_sheets_and_cycler_files(operator_client, coated_roll, loading, media):
    files = {
        "map.png": PNG,
        "photo.jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
        "report.pdf": PDF,
        "loading.csv": b"x,y\n1,2\n",
        "maccor.txt": (CYCLERS / "maccor" / "maccor_test_file_4267-66-6519.041").read_bytes(),
        "balance.xlsx": xlsx_like({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
        # Cycler files are read when they arrive (a made-up one is refused: tests/datasets/test_cycler_upload.py).
        "cell.nda": (CYCLERS / "neware" / "nda" / "neware_reader" / "new_nda_file.nda").read_bytes(),
        "cell.mpr": (CYCLERS / "biologic" / "00_test_01_OCV_C01.mpr").read_bytes(),
        "run.041": (CYCLERS / "maccor" / "maccor_test_file_4267-66-6519.041").read_bytes(),  # Maccor
    }
    for name, content in files.items():
        response = upload(operator_client, coated_roll, name, content)
        assert response.status_code == 201, (name, response.content)
    assert Measurement.objects.count() == len(files)


def test_a_parameter_takes_only_its_own_types(operator_client, coated_roll, catalog, media):
    # mass_loading_t takes csv and png only: a good PDF is still refused.
    response = upload(operator_client, coated_roll, "report.pdf", PDF, code="mass_loading_t")
    message = refused_file(response, media)
    assert message == "mass_loading_t takes csv, png files, not pdf."


def test_file_types_may_name_media_types_and_never_an_unknown_type(engineer_client, db):
    assert allowed_types(["image/jpeg", ".PNG"]) == ["jpg", "jpeg", "png"]
    assert allowed_types([]) == list(DEFAULT_TYPES)
    body = {"code": "roll_photo_f", "name": "Photo", "scope": "material", "category": "SP", "unit": "1"}
    created = engineer_client.post("/api/parameters/", body | {"file_types": ["image/png", "pdf"]}, format="json")
    assert created.status_code == 201, created.content
    for bad in (["html"], ["png", "svg"], ["text/html"]):
        response = engineer_client.patch("/api/parameters/roll_photo_f/", {"file_types": bad}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == ErrorCode.UNKNOWN_FILE_TYPE and "file_types" in response.json()["errors"]
    assert engineer_client.get("/api/parameters/roll_photo_f/").json()["file_types"] == ["image/png", "pdf"]


# --- Size --------------------------------------------------------------------------------------------


class CountingPayload(FakePayload):
    """The request body, counting what the server read of it."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.served = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.served += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = super().readline(size)
        self.served += len(data)
        return data


def test_an_oversized_file_is_refused_before_it_is_read_whole(operator_client, coated_roll, loading, media, settings):
    settings.CELLTRACE_MAX_FILE_BYTES = 100_000
    body = encode_multipart(
        BOUNDARY,
        {"parameter": "mass_loading_f", "item": coated_roll.code, "file": SimpleUploadedFile("big.png", PNG * 10_000)},
    )
    assert 2_500_000 < len(body) < settings.CELLTRACE_MAX_FILE_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    payload = CountingPayload(body)
    response = operator_client.generic("POST", URL, body, MULTIPART_CONTENT, **{"wsgi.input": payload})
    message = refused_file(response, media)
    assert "limit is 100000" in message
    assert payload.served < 500_000, "the file was refused as it arrived, not after"


def test_a_body_declared_larger_than_a_file_may_be_is_refused_unread(
    operator_client, coated_roll, loading, media, settings
):
    settings.CELLTRACE_MAX_FILE_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = encode_multipart(
        BOUNDARY, {"parameter": "mass_loading_f", "item": coated_roll.code, "file": SimpleUploadedFile("a.png", PNG)}
    )
    payload = CountingPayload(body)
    response = operator_client.generic(
        "POST", URL, body, MULTIPART_CONTENT, CONTENT_LENGTH="5000", **{"wsgi.input": payload}
    )
    assert "5000 bytes" in refused_file(response, media)
    assert payload.served == 0


# --- Zip archives ------------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_on_upload(operator_client, coated_roll, loading, media, settings):
    settings.CELLTRACE_MAX_UNZIPPED_BYTES = 4 * 1024 * 1024
    bomb = xlsx_like({"xl/worksheets/sheet1.xml": bytes(8 * 1024 * 1024)})
    assert len(bomb) < 20_000
    assert "unzips to more than" in refused_file(upload(operator_client, coated_roll, "sheet.xlsx", bomb), media)


def test_a_high_ratio_is_refused_even_under_the_size_limit(operator_client, coated_roll, loading, media):
    bomb = xlsx_like({"data.ndc": bytes(4 * 1024 * 1024)})  # ~1000:1
    assert "times its size" in refused_file(upload(operator_client, coated_roll, "cell.ndax", bomb), media)


def test_a_broken_archive_is_refused(operator_client, coated_roll, loading, media):
    message = refused_file(upload(operator_client, coated_roll, "cell.ndax", b"PK\x03\x04" + bytes(40)), media)
    assert "not a readable zip archive" in message


# --- Downloads ---------------------------------------------------------------------------------------


def test_a_file_downloads_as_an_attachment_that_is_never_sniffed(
    operator_client, anon_client, coated_roll, loading, media
):
    created = upload(operator_client, coated_roll, "map.png", PNG).json()
    assert created["file"] == f"/api/measurements/{created['id']}/file/"
    download = operator_client.get(created["file"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG
    assert download["Content-Disposition"].startswith("attachment; filename=")
    assert download["Content-Disposition"].endswith('.png"')
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] == "application/octet-stream"
    assert download["X-Content-SHA256"] == created["file_sha256"]
    assert anon_client.get(created["file"]).status_code == 401
    value = operator_client.post(
        URL, {"parameter": "mass_loading_f", "item": coated_roll.code, "value": 21, "unit": "mg/cm**2"}, format="json"
    ).json()
    assert value["file"] is None
    assert operator_client.get(f"/api/measurements/{value['id']}/file/").status_code == 404


def test_paths_are_cut_from_messages():
    assert without_paths("[Errno 2] No such file: '/srv/media/measurements/2026/01/x.nda'") == (
        "[Errno 2] No such file: 'x.nda'"
    )
    assert without_paths(r"C:\data\run1\cell.mpr is bad") == "cell.mpr is bad"
    assert without_paths("3/4 of mg/cm**2") == "3/4 of mg/cm**2"
