"""Cycler files are checked for a format version the readers know when they arrive: the real
files of tests/fixtures/cyclers are taken, with their format version and reader stored; a
patched version, a truncated file, a random binary and an unknown CSV layout are refused with a
400 naming `file` that says what was found and what is supported, and nothing is stored."""

import hashlib
import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core.errors import ErrorCode
from datasets.cycler_versions import UnsupportedCyclerFile, cycler_version, ndc_supported
from measurements.models import Measurement
from tests.factories import build_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cyclers"  # see tests/fixtures/README.md
NDA_29 = FIXTURES / "neware" / "nda" / "neware_reader" / "new_nda_file.nda"
NDA_130 = FIXTURES / "neware" / "nda" / "github" / "Issue72" / "TestFile.nda"
NDAX_14 = FIXTURES / "neware" / "nda" / "github" / "Issue94" / "123456789012_Unit27_Example_Data_File.ndax"
NDAX_17 = FIXTURES / "neware" / "nda" / "github" / "PR28" / "TESTCELL0001-Test_Data_Collection_Ndc17.ndax"
MPR = FIXTURES / "biologic" / "00_test_04_MB_C01.mpr"
ARBIN = FIXTURES / "arbin" / "2017-05-09_test-TC-contact_CH33.csv"
MACCOR = FIXTURES / "maccor" / "maccor_test_file_4267-66-6519.041"
URL = "/api/measurements/"
FORMATION = "formation_charge_capacity"  # a parameter of the formation step


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def cell(engineer: User, stations: Any) -> Any:
    call_command("load_catalog", stdout=io.StringIO())
    return build_line(engineer).cells[0]


def upload(client: APIClient, cell: Any, name: str, content: bytes, parameter: str = FORMATION) -> Any:
    body = {"parameter": parameter, "item": cell.code, "source": "offline", "instrument": "cycler-7"}
    body["file"] = SimpleUploadedFile(name, content)
    return client.post(URL, body, format="multipart")


def counts() -> tuple[int, int]:
    return Measurement.objects.count(), AuditEvent.objects.filter(entity="measurement").count()


def refused(response: Any, media: Path, before: tuple[int, int]) -> str:
    """The message of a cycler_file_unsupported 400 naming `file`, after nothing was stored."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == ErrorCode.CYCLER_FILE_UNSUPPORTED, body
    assert list(body["errors"]) == ["file"], body
    assert counts() == before
    assert not [p for p in media.rglob("*") if p.is_file()], "a refused file is not kept"
    message = body["errors"]["file"][0]
    assert "Supported cycler files: Neware .nda versions 29, 130" in message, message
    return str(message)


# --- Versions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind", "fmt", "reader"),
    [
        (NDA_29, "neware", "neware-nda 29", "NewareNDA v"),
        (NDA_130, "neware", "neware-nda 130", "NewareNDA v"),
        (NDAX_14, "neware", "neware-ndax ndc 14", "NewareNDA v"),
        (NDAX_17, "neware", "neware-ndax ndc 17", "NewareNDA v"),
        (MPR, "biologic", "biologic-mpr data 0", "galvani 0."),
        (ARBIN, "arbin", "arbin-csv without units", "celltrace-csv 1"),
        (MACCOR, "maccor", "maccor-text", "celltrace-maccor 1"),
    ],
)
def test_the_fixture_files_are_of_known_versions(path: Path, kind: str, fmt: str, reader: str) -> None:
    version = cycler_version(path.name, path.read_bytes())
    assert (version.kind, version.format) == (kind, fmt)
    assert version.reader.startswith(reader)


def _mpr_with_data_version(data: bytes, version: int) -> bytes:
    """The .mpr with its `VMP data` module's version field set (EC-Lab >= 11.50 header layout)."""
    at = data.index(b"MODULEVMP data  ") + len(b"MODULE")
    assert data[at + 35 : at + 39] == b"\xff\xff\xff\xff", "the fixture has the longer module header"
    field = at + 35 + 4 + 4  # shortname, longname, max length, length: then the version
    return data[:field] + version.to_bytes(4, "little") + data[field + 4 :]


def _ndax_with_ndc_version(path: Path, version: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "data.ndc":
                content = content[:2] + bytes([version]) + content[3:]
            target.writestr(member, content)
    return out.getvalue()


def test_a_patched_version_is_refused_naming_what_was_found_and_what_is_supported() -> None:
    nda = bytearray(NDA_29.read_bytes())
    nda[14] = 31
    with pytest.raises(UnsupportedCyclerFile, match=r"^Neware .nda version 31 is not supported \(supported: 29, 130\)"):
        cycler_version("cell.nda", bytes(nda))
    with pytest.raises(UnsupportedCyclerFile, match=r"BioLogic \.mpr data module version 7 is not supported"):
        cycler_version("cell.mpr", _mpr_with_data_version(MPR.read_bytes(), 7))
    assert (99, 1) not in ndc_supported() and (17, 1) in ndc_supported()
    with pytest.raises(UnsupportedCyclerFile, match=r"data\.ndc version 99 \(file type 1\) is not supported"):
        cycler_version("cell.ndax", _ndax_with_ndc_version(NDAX_17, 99))
    # A CSV whose current is in mA would read a thousand times too large: refused, not guessed.
    csv = b"Test_Time(s),Current(mA),Voltage(V)\n0,1000,3.6\n"
    with pytest.raises(UnsupportedCyclerFile, match=r"column 'Current\(mA\)': unit 'ma' is not supported"):
        cycler_version("run.csv", csv)


def test_truncated_files_are_refused() -> None:
    cases = {
        "cell.mpr": (MPR.read_bytes()[:-3], "BioLogic .mpr not readable to its end (truncated?)"),
        "cell.nda": (NDA_130.read_bytes()[:1000], "ends within its header: truncated"),
        "cell.ndax": (NDAX_17.read_bytes()[:3000], "not a readable Neware .ndax archive (truncated?)"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(UnsupportedCyclerFile) as caught:
            cycler_version(name, data)
        assert message in str(caught.value), (name, caught.value)


def test_a_random_binary_is_refused_whatever_its_name() -> None:
    noise = random.Random(13).randbytes(4096)
    for name, message in (
        ("cell.nda", "not a Neware .nda file"),
        ("cell.mpr", "not a BioLogic .mpr file"),
        ("cell.ndax", "not a readable Neware .ndax archive"),
        ("cell.csv", "no cycler layout recognised (no text header)"),
    ):
        with pytest.raises(UnsupportedCyclerFile, match=message.replace("(", r"\(").replace(")", r"\)")):
            cycler_version(name, noise)


# --- Upload ----------------------------------------------------------------------------------


def test_a_known_file_is_stored_with_its_version_reader_and_hash(operator_client: APIClient, cell: Any, media: Path):
    content = NDA_130.read_bytes()
    response = upload(operator_client, cell, "formation.nda", content)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["file_format"] == "neware-nda 130"
    assert body["file_reader"].startswith("NewareNDA v")
    assert body["file_sha256"] == hashlib.sha256(content).hexdigest()
    assert body["derived_from"] is None
    derived = Measurement.objects.filter(derived_from_id=body["id"])
    codes = set(derived.values_list("parameter__code", flat=True))
    assert {"formation_charge_capacity", "formation_discharge_capacity", "formation_coulombic_efficiency"} <= codes
    method = derived.first().method  # type: ignore[union-attr]
    assert method.startswith(f"from cycler file #{body['id']} (neware-nda 130, NewareNDA v"), method


def test_a_patched_nda_upload_is_a_400_naming_file(operator_client: APIClient, cell: Any, media: Path):
    before = counts()
    nda = bytearray(NDA_29.read_bytes())
    nda[14] = 31
    message = refused(upload(operator_client, cell, "formation.nda", bytes(nda)), media, before)
    assert message.startswith("formation.nda: Neware .nda version 31 is not supported (supported: 29, 130).")


def test_truncated_uploads_are_refused(operator_client: APIClient, cell: Any, media: Path):
    before = counts()
    message = refused(upload(operator_client, cell, "formation.mpr", MPR.read_bytes()[:2000]), media, before)
    assert "truncated" in message
    # Cut within its records, a version 29 file has no record NewareNDA can find: not readable.
    message = refused(upload(operator_client, cell, "formation.nda", NDA_29.read_bytes()[:3000]), media, before)
    assert "neware-nda 29 could not be read (File does not contain any valid records.)" in message


def test_an_unknown_csv_layout_is_refused_on_a_cycler_step_and_kept_elsewhere(
    operator_client: APIClient, cell: Any, media: Path
):
    before = counts()
    notes = b"Sample,Operator\nA1,olga\n"
    message = refused(upload(operator_client, cell, "notes.csv", notes), media, before)
    assert "notes.csv: no cycler layout recognised (a header 'Sample,Operator')" in message
    # The same file on a parameter of no cycler step is an ordinary file.
    response = upload(operator_client, cell, "notes.csv", notes, parameter="opposing_area")
    assert response.status_code == 201, response.content
    assert response.json()["file_format"] == ""


def test_a_random_binary_upload_is_refused(operator_client: APIClient, cell: Any, media: Path):
    before = counts()
    noise = b"NEWARE" + random.Random(13).randbytes(4096)
    message = refused(upload(operator_client, cell, "formation.nda", noise), media, before)
    assert "formation.nda: Neware .nda version" in message and "is not supported" in message
