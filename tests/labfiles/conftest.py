"""Fixtures of the lab file tests: two parameters of our own, a roll and a cell to measure, a
balance mapping (xlsx) and a caliper mapping (CSV), and helpers that build real files."""

import io
from collections.abc import Callable, Iterable
from typing import Any

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from labfiles.models import ImportMapping
from labfiles.services import mapping_create
from lots.models import Item
from measurements.models import Parameter
from tests.factories import register

URL = "/api/imports/"
MAPPINGS = "/api/import-mappings/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    """Imported files are kept: in the test's own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def params(db: Any) -> dict[str, Parameter]:
    common = {"scope": "step", "step_id": "coating", "category": "SP"}
    return {
        "loading": Parameter.objects.create(
            code="lab_mass_loading", name="Mass loading", unit="mg/cm**2", typical_min=10, typical_max=30, **common
        ),
        "thickness": Parameter.objects.create(
            code="lab_thickness", name="Coating thickness", unit="um", typical_min=50, typical_max=200, **common
        ),
    }


@pytest.fixture
def roll(engineer: User) -> Item:
    return register(engineer, "coated_roll", 500, "m", code="CR-0100", polarity="cathode")


@pytest.fixture
def roll2(engineer: User) -> Item:
    return register(engineer, "coated_roll", 500, "m", code="CR-0101", polarity="cathode")


def balance_fields(**changes: Any) -> dict[str, Any]:
    """The contract's example: an Excel sheet `Results` of a balance, loading in mg/cm2."""
    return {
        "code": "balance-xlsx",
        "format": "xlsx",
        "sheet": "Results",
        "header_row": 1,
        "item_column": "Sample",
        "time_column": "Date",
        "time_zone": "Europe/Berlin",
        "position_column": None,
        "source": "offline",
        "instrument": "balance-3",
        "values": [{"column": "Loading [mg/cm2]", "parameter": "lab_mass_loading", "unit": "mg/cm**2"}],
    } | changes


def caliper_fields(**changes: Any) -> dict[str, Any]:
    """A caliper's CSV: roll, position along it, time, thickness in mm and loading in g/m2."""
    return {
        "code": "caliper-csv",
        "format": "csv",
        "header_row": 1,
        "item_column": "Roll",
        "time_column": "Time",
        "time_zone": "Europe/Berlin",
        "position_column": "Position [m]",
        "instrument": "caliper-1",
        "values": [
            {"column": "Thickness [mm]", "parameter": "lab_thickness", "unit": "mm"},
            {"column": "Loading [g/m2]", "parameter": "lab_mass_loading", "unit": "g/m**2"},
        ],
    } | changes


@pytest.fixture
def balance(engineer: User, params: dict[str, Parameter]) -> ImportMapping:
    return mapping_create(actor=engineer, data=balance_fields())


@pytest.fixture
def caliper(engineer: User, params: dict[str, Parameter]) -> ImportMapping:
    return mapping_create(actor=engineer, data=caliper_fields())


def xlsx(rows: Iterable[Iterable[Any]], sheet: str = "Results", extra_sheet: str | None = None) -> bytes:
    """A real workbook written by openpyxl; `rows` from row 1."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet
    for row in rows:
        worksheet.append(list(row))
    if extra_sheet:
        workbook.create_sheet(extra_sheet)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(lines: Iterable[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.fixture
def upload() -> Callable[..., Any]:
    """POST a file to /api/imports/ as multipart."""

    def post(client: Any, data: bytes, mapping: str, name: str = "results.xlsx", **fields: Any) -> Any:
        body = {"file": SimpleUploadedFile(name, data), "mapping": mapping, **fields}
        return client.post(URL, body, format="multipart")

    return post
