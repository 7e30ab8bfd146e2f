"""POST /api/imports/ with a caliper's CSV: values converted and stored through the bulk path,
naive times read in the mapping's zone (across a DST change), errors by line and column, the
dry run storing nothing and the import storing all or nothing."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import ErrorCode
from labfiles.models import LabImport
from labfiles.services import mapping_create
from measurements.models import Measurement

from .conftest import URL, caliper_fields, csv_bytes

pytestmark = pytest.mark.django_db

HEADER = "Roll,Position [m],Time,Thickness [mm],Loading [g/m2],Operator"
# 2026-03-29: in Europe/Berlin the clocks go from 02:00 (+01:00) to 03:00 (+02:00).
SPRING = csv_bytes(
    [
        HEADER,
        "CR-0100,10.5,2026-03-29 01:30:00,0.120,205,anna",
        "CR-0100,20,2026-03-29 03:30:00,0.121,,anna",
        "",
        "CR-0101,5,2026-03-29T04:00:00+02:00,0.119,210,bob",
    ]
)
# Line 3: unknown roll; 4: beyond the roll's 500 m; 5: no time and no number.
BAD = csv_bytes(
    [
        HEADER,
        "CR-0100,10,2026-03-02 09:00,0.120,205,anna",
        "CR-9999,10,2026-03-02 09:01,0.120,205,anna",
        "CR-0100,900,2026-03-02 09:02,0.120,,anna",
        "CR-0100,10,yesterday,abc,205,anna",
    ]
)


def errors_at(body: dict) -> list[tuple[int, str | None]]:
    return [(e["row"], e["column"]) for e in body["errors"]]


def test_a_csv_is_imported_converted_with_its_naive_times_in_the_zone(operator_client, caliper, roll, roll2, upload):
    response = upload(operator_client, SPRING, "caliper-csv", name="caliper.csv")
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == 5
    stored = {
        (m.item.code, m.parameter.code, m.measured_at): (m.value, m.sent_value, m.sent_unit, m.position_m)
        for m in Measurement.objects.select_related("item", "parameter")
    }
    before, after = datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert stored[("CR-0100", "lab_thickness", before)] == (pytest.approx(120), 0.12, "mm", 10.5)
    assert stored[("CR-0100", "lab_mass_loading", before)] == (pytest.approx(20.5), 205, "g/m**2", 10.5)
    assert stored[("CR-0100", "lab_thickness", after)][0] == pytest.approx(121)  # 03:30+02:00
    assert ("CR-0100", "lab_mass_loading", after) not in stored  # the empty cell is skipped
    assert ("CR-0101", "lab_mass_loading", datetime(2026, 3, 29, 2, 0, tzinfo=UTC)) in stored
    assert {m.instrument for m in Measurement.objects.all()} == {"caliper-1"}
    record = LabImport.objects.get()
    assert (record.rows, record.stored, record.file_name, record.mapping.code) == (3, 5, "caliper.csv", "caliper-csv")
    assert record.file.read() == SPRING
    assert AuditEvent.objects.get(action="lab_file.import").after["stored"] == 5
    assert AuditEvent.objects.get(action="measurement.bulk").after["count"] == 5


@pytest.mark.parametrize(
    ("local", "words"),
    [("2026-03-29 02:30", "does not exist"), ("2026-10-25 02:30", "happens twice")],
)
def test_a_local_time_the_clocks_skip_or_repeat_is_a_bad_row(operator_client, caliper, roll, upload, local, words):
    data = csv_bytes([HEADER, "CR-0100,1,2026-03-29 01:59,0.1,200,a", f"CR-0100,2,{local},0.1,200,a"])
    response = upload(operator_client, data, "caliper-csv", name="c.csv", dry_run="true")
    body = response.json()
    assert response.status_code == 200, body
    assert (body["rows"], body["values"], body["would_store"]) == (2, 4, 2)
    assert errors_at(body) == [(3, "Time")]
    assert body["errors"][0]["code"] == ErrorCode.BAD_TIME
    assert words in body["errors"][0]["message"]
    assert "Europe/Berlin" in body["errors"][0]["message"]


def test_an_ambiguous_time_with_its_offset_is_taken(operator_client, caliper, roll, upload):
    data = csv_bytes([HEADER, "CR-0100,1,2026-10-25T02:30:00+01:00,0.1,200,a"])
    assert upload(operator_client, data, "caliper-csv", name="c.csv").status_code == 201
    assert set(Measurement.objects.values_list("measured_at", flat=True)) == {datetime(2026, 10, 25, 1, 30, tzinfo=UTC)}


def test_the_dry_run_lists_every_error_by_line_and_column_and_stores_nothing(operator_client, caliper, roll, upload):
    events = AuditEvent.objects.count()
    response = upload(operator_client, BAD, "caliper-csv", name="c.csv", dry_run="true")
    body = response.json()
    assert response.status_code == 200, body
    assert (body["rows"], body["values"], body["would_store"], body["complete"]) == (4, 7, 2, True)
    assert errors_at(body) == [(3, "Roll"), (4, "Position [m]"), (5, "Time"), (5, "Thickness [mm]")]
    codes = [e["code"] for e in body["errors"]]
    assert codes == [ErrorCode.UNKNOWN_ITEM, ErrorCode.BAD_POSITION, ErrorCode.BAD_TIME, ErrorCode.BAD_QUANTITY]
    assert not Measurement.objects.exists()
    assert AuditEvent.objects.count() == events
    assert not LabImport.objects.exists()


def test_a_dry_run_of_a_good_file_says_what_would_be_stored_and_stores_nothing(
    operator_client, caliper, roll, roll2, upload
):
    response = upload(operator_client, SPRING, "caliper-csv", name="c.csv", dry_run="true")
    assert response.json() == {"rows": 3, "values": 5, "would_store": 5, "errors": [], "complete": True}
    assert not Measurement.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["measurement.bulk", "lab_file.import"]).exists()
    # ... and the file is still new: the import that follows stores it.
    assert upload(operator_client, SPRING, "caliper-csv", name="c.csv").status_code == 201


def test_one_bad_row_and_nothing_is_stored(operator_client, caliper, roll, upload):
    response = upload(operator_client, BAD, "caliper-csv", name="c.csv")
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == ErrorCode.BAD_ROWS
    assert body["detail"].startswith("Row 3, Roll: Unknown item 'CR-9999'.")
    assert errors_at(body) == [(3, "Roll"), (4, "Position [m]"), (5, "Time"), (5, "Thickness [mm]")]
    assert (body["rows"], body["values"], body["would_store"]) == (4, 7, 2)
    assert not Measurement.objects.exists()
    assert not LabImport.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["measurement.bulk", "lab_file.import"]).exists()


def test_a_row_of_another_width_is_a_bad_row(operator_client, caliper, roll, upload):
    # The last line cut short, as a file copied while the instrument was still writing.
    data = csv_bytes([HEADER, "CR-0100,1,2026-03-02 09:00,0.1,200,a"]) + b"CR-0100,2,2026-03-02 09:0"
    response = upload(operator_client, data, "caliper-csv", name="c.csv")
    assert response.status_code == 400
    assert errors_at(response.json()) == [(3, None)]
    assert "3 fields; the header has 6" in response.json()["errors"][0]["message"]
    assert not Measurement.objects.exists()


def test_semicolons_a_bom_and_a_header_below_a_title(engineer_client, operator_client, params, roll, upload):
    fields = {
        "code": "caliper-semicolon",
        "format": "csv",
        "header_row": 3,
        "delimiter": ";",
        "item_column": "Roll",
        "time_column": "Time",
        "time_zone": "UTC",
        "values": [{"column": "Thickness [mm]", "parameter": "lab_thickness", "unit": "mm"}],
    }
    assert engineer_client.post("/api/import-mappings/", fields, format="json").status_code == 201
    data = (
        "\ufeffCaliper export;v2\r\n\r\nRoll;Time;Thickness [mm]\r\nCR-0100;2026-03-02 09:00;0.1\r\nCR-0100;x;0.1\r\n"
    )
    response = upload(operator_client, data.encode(), "caliper-semicolon", name="c.csv", dry_run="true")
    assert response.status_code == 200, response.json()
    assert errors_at(response.json()) == [(5, "Time")]  # the line number, the title being line 1


def test_the_same_file_twice_is_409(operator_client, caliper, roll, roll2, upload):
    assert upload(operator_client, SPRING, "caliper-csv", name="c.csv").status_code == 201
    again = upload(operator_client, SPRING, "caliper-csv", name="copy.csv")
    assert again.status_code == 409
    assert again.json()["code"] == ErrorCode.ALREADY_IMPORTED
    assert Measurement.objects.count() == 5


def test_who_may_import(anon_client, operator_client, caliper, roll, roll2, upload):
    assert upload(anon_client, SPRING, "caliper-csv", name="c.csv").status_code == 401
    assert anon_client.get(URL).status_code == 401
    assert upload(operator_client, SPRING, "caliper-csv", name="c.csv").status_code == 201
    listed = operator_client.get(URL).json()["results"]
    assert [(r["mapping"], r["stored"], r["created_by"]) for r in listed] == [("caliper-csv", 5, "olga-operator")]


def test_the_lists_read_in_a_fixed_number_of_queries(engineer, operator_client, caliper, roll, upload):
    """GET /api/imports/: the token with its user and the user's groups (the role), one page of
    imports joined to their mapping and user. GET /api/import-mappings/: token with groups, the
    mappings with their user. However many there are."""

    def counts() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as imports:
            assert operator_client.get(URL).status_code == 200
        with CaptureQueriesContext(connection) as mappings:
            assert operator_client.get("/api/import-mappings/").status_code == 200
        return len(imports), len(mappings)

    line = "CR-0100,1,2026-03-02 09:0{},0.1,200,a"
    assert upload(operator_client, csv_bytes([HEADER, line.format(0)]), "caliper-csv", name="a.csv").status_code == 201
    few = counts()
    for minute in range(1, 4):
        data = csv_bytes([HEADER, line.format(minute)])
        assert upload(operator_client, data, "caliper-csv", name="b.csv").status_code == 201
        mapping_create(actor=engineer, data=caliper_fields(code=f"caliper-{minute}"))
    assert counts() == few
    assert few == (2, 2)


def test_a_german_csv_with_decimal_commas_and_day_first_times(engineer_client, operator_client, params, roll, upload):
    fields = caliper_fields(
        code="caliper-de", delimiter=";", decimal=",", time_format="%d.%m.%Y %H:%M:%S", time_zone="Europe/Berlin"
    )
    response = engineer_client.post("/api/import-mappings/", fields, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["decimal"], response.json()["time_format"]) == (",", "%d.%m.%Y %H:%M:%S")
    data = csv_bytes(
        [
            "Roll;Position [m];Time;Thickness [mm];Loading [g/m2]",
            "CR-0100;12,5;02.03.2026 09:10:00;0,120;205,5",
            "CR-0100;13;2026-03-02 09:11:00;0,121;206",  # not the mapping's time format
        ]
    )
    checked = upload(operator_client, data, "caliper-de", name="de.csv", dry_run="true").json()
    assert errors_at(checked) == [(3, "Time")]
    assert "%d.%m.%Y %H:%M:%S" in checked["errors"][0]["message"]
    assert (
        upload(operator_client, data.split(b"\r\nCR-0100;13")[0] + b"\r\n", "caliper-de", name="de.csv").status_code
        == 201
    )
    stored = {m.parameter.code: m for m in Measurement.objects.select_related("parameter")}
    assert stored["lab_thickness"].value == pytest.approx(120)
    assert stored["lab_mass_loading"].value == pytest.approx(20.55)
    assert stored["lab_thickness"].position_m == 12.5
    assert stored["lab_thickness"].measured_at == datetime(2026, 3, 2, 8, 10, tzinfo=UTC)


@pytest.mark.parametrize("time_format", ["%H:%M", "%Y", "nothing", "%d.%m.%Y %Q"])
def test_a_time_format_without_the_date_and_the_minute_is_refused(engineer_client, params, time_format):
    response = engineer_client.post("/api/import-mappings/", caliper_fields(time_format=time_format), format="json")
    assert response.status_code == 400
    assert "time_format" in response.json()["errors"]


def test_the_check_stops_at_its_error_limit_and_says_so(operator_client, caliper, roll, upload, settings):
    settings.CELLTRACE_LAB_MAX_ERRORS = 5
    lines = ["CR-0100,1,2026-03-02 08:59,0.1,200,a"] + [f"CR-0100,1,2026-03-02 09:{m:02},abc,200,a" for m in range(20)]
    body = upload(operator_client, csv_bytes([HEADER, *lines]), "caliper-csv", name="c.csv", dry_run="true").json()
    assert body["complete"] is False
    assert [e["row"] for e in body["errors"]] == [3, 4, 5, 6, 7]
    # A bad thickness spoils its row: its loading is not storable either; the rows after the
    # last error were not checked, so only line 2 counts.
    assert (body["values"], body["would_store"]) == (42, 2)
