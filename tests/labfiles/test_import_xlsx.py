"""POST /api/imports/ with a balance's Excel workbook (built with openpyxl): the sheet and header
row of the mapping, naive Excel times in the mapping's zone, errors by the row Excel shows."""

from datetime import UTC, datetime

import pytest

from core.errors import ErrorCode
from labfiles.models import LabImport
from labfiles.services import mapping_create
from measurements.models import Measurement

from .conftest import balance_fields, xlsx

pytestmark = pytest.mark.django_db

HEADER = ["Sample", "Date", "Loading [mg/cm2]", "Comment"]


def test_a_workbook_is_imported_from_its_sheet_with_excel_times_in_the_zone(operator_client, balance, roll, upload):
    data = xlsx(
        [
            HEADER,
            ["CR-0100", datetime(2026, 1, 15, 9, 0), 20.5, "winter: +01:00"],  # noqa: DTZ001  (naive, as Excel keeps it)
            [None, None, None, None],
            ["CR-0100", datetime(2026, 7, 15, 9, 0), 21, "summer: +02:00"],  # noqa: DTZ001
            ["CR-0100", datetime(2026, 7, 15, 9, 5), None, "no value: skipped"],  # noqa: DTZ001
        ],
        extra_sheet="Chart",
    )
    response = upload(operator_client, data, "balance-xlsx")
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == 2
    assert sorted(Measurement.objects.values_list("measured_at", "value")) == [
        (datetime(2026, 1, 15, 8, 0, tzinfo=UTC), 20.5),
        (datetime(2026, 7, 15, 7, 0, tzinfo=UTC), 21.0),
    ]
    assert set(Measurement.objects.values_list("instrument", "source")) == {("balance-3", "offline")}
    assert LabImport.objects.get().rows == 3


def test_errors_name_the_row_excel_shows_below_a_title(engineer, operator_client, params, roll, upload):
    mapping_create(actor=engineer, data=balance_fields(code="balance-titled", header_row=3))
    data = xlsx(
        [
            ["Balance BX-3 export"],
            [],
            HEADER,
            ["CR-0100", datetime(2026, 3, 2, 9, 0), 20.5],  # noqa: DTZ001
            ["CR-0100", datetime(2026, 3, 2, 9, 1), "n/a"],  # noqa: DTZ001
            ["CR-0100", "2026-03-29 02:15", 20.1],  # text, and a time Berlin skips
            ["CR-0100", datetime(2026, 3, 2, 9, 3), 1e308],  # noqa: DTZ001  (absurd but finite: flagged, not refused)
            [12345, datetime(2026, 3, 2, 9, 4), 20.0],  # noqa: DTZ001  (a number where a code belongs)
        ]
    )
    response = upload(operator_client, data, "balance-titled", dry_run="true")
    body = response.json()
    assert response.status_code == 200, body
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (5, "Loading [mg/cm2]", ErrorCode.BAD_QUANTITY),
        (6, "Date", ErrorCode.BAD_TIME),
        (8, "Sample", ErrorCode.UNKNOWN_ITEM),
    ]
    assert "'12345'" in body["errors"][2]["message"]
    assert (body["rows"], body["values"], body["would_store"]) == (5, 5, 2)
    refused = upload(operator_client, data, "balance-titled")
    assert refused.status_code == 400
    assert refused.json()["errors"] == body["errors"]
    assert not Measurement.objects.exists()


def test_the_first_sheet_when_the_mapping_names_none(engineer, operator_client, params, roll, upload):
    mapping_create(actor=engineer, data=balance_fields(code="balance-any", sheet=""))
    data = xlsx([HEADER, ["CR-0100", "2026-03-02T09:00:00Z", 20.5]], sheet="Tabelle1")
    assert upload(operator_client, data, "balance-any").status_code == 201
    assert Measurement.objects.get().measured_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_file_without_values_is_not_an_import(operator_client, balance, roll, upload):
    data = xlsx([HEADER, ["CR-0100", datetime(2026, 3, 2, 9, 0), None]])  # noqa: DTZ001
    checked = upload(operator_client, data, "balance-xlsx", dry_run="true").json()
    assert (checked["rows"], checked["values"], checked["errors"]) == (1, 0, [])
    response = upload(operator_client, data, "balance-xlsx")
    assert response.status_code == 400
    assert response.json()["errors"] == {"file": ["The file holds no values in the mapped columns."]}
    assert not LabImport.objects.exists()
