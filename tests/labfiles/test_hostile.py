"""Lab files that cannot be read as their mapping says: refused whole with the reason (400 naming
`file` or `mapping`), in the dry run as in the import, and nothing stored."""

import io
import zipfile
from datetime import datetime

import pytest

from core.errors import ErrorCode
from labfiles.models import LabImport
from labfiles.services import mapping_create
from measurements.models import Measurement

from .conftest import URL, balance_fields, csv_bytes, xlsx

pytestmark = pytest.mark.django_db

HEADER = ["Sample", "Date", "Loading [mg/cm2]"]
GOOD = [HEADER, ["CR-0100", datetime(2026, 3, 2, 9, 0), 20.5]]  # noqa: DTZ001


def refused(response, code: str, field: str = "file") -> str:
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == code, body
    assert field in body["errors"], body
    assert not Measurement.objects.exists()
    assert not LabImport.objects.exists()
    return body["errors"][field][0]


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_a_truncated_workbook(operator_client, balance, roll, upload, dry_run):
    data = xlsx(GOOD)
    message = refused(upload(operator_client, data[: len(data) * 2 // 3], "balance-xlsx", dry_run=dry_run), "bad_file")
    assert "complete" in message


def test_a_zip_that_is_not_a_workbook(operator_client, balance, roll, upload):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("results.csv", "Sample,Date\n")
    message = refused(upload(operator_client, buffer.getvalue(), "balance-xlsx"), ErrorCode.BAD_FILE)
    assert "not an Excel workbook" in message


def test_a_text_file_sent_to_an_excel_mapping(operator_client, balance, upload):
    refused(upload(operator_client, b"Sample,Date\n", "balance-xlsx"), ErrorCode.BAD_FILE)


def test_xml_entities_in_a_sheet_are_refused(operator_client, balance, roll, upload):
    """A billion laughs in the sheet's XML: defusedxml, which openpyxl uses when it is installed,
    refuses the entity declarations before anything expands."""
    source = zipfile.ZipFile(io.BytesIO(xlsx(GOOD)))
    buffer = io.BytesIO()
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    with zipfile.ZipFile(buffer, "w") as archive:
        for member in source.infolist():
            content = bomb.encode() if member.filename == "xl/worksheets/sheet1.xml" else source.read(member)
            archive.writestr(member, content)
    refused(upload(operator_client, buffer.getvalue(), "balance-xlsx"), ErrorCode.BAD_FILE)


def test_nul_bytes_in_a_csv(operator_client, caliper, roll, upload):
    data = csv_bytes(["Roll,Position [m],Time,Thickness [mm],Loading [g/m2]", "CR-0100,1,2026-03-02 09:00,0.1\x00,2"])
    message = refused(upload(operator_client, data, "caliper-csv", name="c.csv"), ErrorCode.NUL_CHARACTER)
    assert "Line 2" in message


def test_a_csv_that_is_not_utf8(operator_client, caliper, upload):
    data = "Roll,Position [m],Time,Thickness [mm],Loading [g/m²]\r\n".encode("latin-1")
    assert "UTF-8" in refused(upload(operator_client, data, "caliper-csv", name="c.csv"), ErrorCode.BAD_FILE)


def test_a_csv_cut_inside_a_quoted_cell(operator_client, caliper, roll, upload):
    data = csv_bytes(["Roll,Position [m],Time,Thickness [mm],Loading [g/m2]"]) + b'CR-0100,1,"2026-03-02'
    assert "Line 2" in refused(upload(operator_client, data, "caliper-csv", name="c.csv"), ErrorCode.BAD_FILE)


def test_an_unknown_mapping_is_named(operator_client, balance, upload):
    message = refused(upload(operator_client, xlsx(GOOD), "no-such-mapping"), ErrorCode.UNKNOWN_MAPPING, "mapping")
    assert "no-such-mapping" in message
    response = operator_client.post(URL, {"mapping": "balance-xlsx"}, format="multipart")
    refused(response, ErrorCode.INVALID, "file")
    response = upload(operator_client, xlsx(GOOD), "balance-xlsx", dry_run="perhaps")
    refused(response, ErrorCode.INVALID, "dry_run")


@pytest.mark.parametrize("mapping", ["balance-xlsx\x00", "\x00", "\U0001e304\x00"])
def test_a_nul_in_the_mapping_code_is_an_unknown_mapping(operator_client, balance, upload, mapping):
    """PostgreSQL cannot even compare text holding NUL: the code is refused before it is looked up."""
    message = refused(upload(operator_client, xlsx(GOOD), mapping), ErrorCode.UNKNOWN_MAPPING, "mapping")
    assert "\\x00" in message


def test_a_sheet_the_workbook_does_not_have(operator_client, balance, upload):
    message = refused(upload(operator_client, xlsx(GOOD, sheet="Sheet1"), "balance-xlsx"), ErrorCode.UNKNOWN_LAYOUT)
    assert "'Results'" in message and "'Sheet1'" in message


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_a_header_without_a_mapped_column_is_an_unknown_layout(operator_client, balance, upload, dry_run):
    data = xlsx([["Sample", "Date", "Loading"], ["CR-0100", datetime(2026, 3, 2, 9, 0), 20.5]])  # noqa: DTZ001
    message = refused(upload(operator_client, data, "balance-xlsx", dry_run=dry_run), ErrorCode.UNKNOWN_LAYOUT)
    assert "'Loading [mg/cm2]'" in message


def test_a_mapped_column_twice_in_the_header(operator_client, balance, upload):
    data = xlsx([["Sample", "Date", "Loading [mg/cm2]", "Loading [mg/cm2]"]])
    assert "2 times" in refused(upload(operator_client, data, "balance-xlsx"), ErrorCode.UNKNOWN_LAYOUT)


def test_a_header_row_below_the_end_of_the_file(engineer, operator_client, params, upload):
    mapping_create(actor=engineer, data=balance_fields(code="deep", header_row=1_000_000))
    message = refused(upload(operator_client, xlsx(GOOD), "deep"), ErrorCode.UNKNOWN_LAYOUT)
    assert "row 1000000" in message and "ends at row 2" in message


def test_a_file_over_the_size_limit(operator_client, balance, upload, settings):
    settings.CELLTRACE_MAX_LAB_FILE_BYTES = 1000
    assert "1000" in refused(upload(operator_client, xlsx(GOOD), "balance-xlsx"), ErrorCode.BAD_FILE)


def test_an_empty_file(operator_client, balance, upload):
    refused(upload(operator_client, b"", "balance-xlsx"), ErrorCode.BAD_FILE)
