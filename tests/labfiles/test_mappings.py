"""POST/GET/PATCH/DELETE /api/import-mappings/: engineers keep the mappings, everyone reads them,
and a mapping is checked against the catalog when it is saved."""

from typing import Any

import pytest

from audit.models import AuditEvent
from core.errors import ErrorCode
from labfiles.models import HEADER_ROW_MAX, ImportMapping

from .conftest import MAPPINGS, balance_fields, caliper_fields, xlsx

pytestmark = pytest.mark.django_db


def refused(response: Any, field: str, code: str = ErrorCode.INVALID) -> str:
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == code, body
    assert field in body["errors"], body["errors"]
    return body["errors"][field][0]


def test_an_engineer_saves_a_mapping_and_it_is_audited(engineer_client, params):
    response = engineer_client.post(MAPPINGS, balance_fields(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"] == "balance-xlsx"
    assert body["position_column"] is None
    assert body["values"] == [{"column": "Loading [mg/cm2]", "parameter": "lab_mass_loading", "unit": "mg/cm**2"}]
    assert body["created_by"] == "emil-engineer"
    event = AuditEvent.objects.get(action="import_mapping.create")
    assert event.entity_id == "balance-xlsx"
    assert event.after["time_zone"] == "Europe/Berlin"


def test_an_operator_may_not_save_a_mapping_but_reads_them(operator_client, anon_client, balance):
    assert operator_client.post(MAPPINGS, caliper_fields(), format="json").status_code == 403
    assert anon_client.get(MAPPINGS).status_code == 401
    listed = operator_client.get(MAPPINGS)
    assert listed.status_code == 200
    assert [m["code"] for m in listed.json()] == ["balance-xlsx"]
    assert operator_client.get(f"{MAPPINGS}balance-xlsx/").json()["sheet"] == "Results"
    assert operator_client.patch(f"{MAPPINGS}balance-xlsx/", {"sheet": "X"}, format="json").status_code == 403
    assert operator_client.delete(f"{MAPPINGS}balance-xlsx/").status_code == 403
    assert ImportMapping.objects.get().sheet == "Results"


def test_an_unknown_parameter_is_named_by_its_place_in_values(engineer_client, params):
    values = [
        {"column": "Loading [mg/cm2]", "parameter": "lab_mass_loading", "unit": "mg/cm**2"},
        {"column": "Porosity", "parameter": "no_such_parameter", "unit": ""},
    ]
    response = engineer_client.post(MAPPINGS, balance_fields(values=values), format="json")
    assert "no_such_parameter" in refused(response, "values[1].parameter", ErrorCode.UNKNOWN_PARAMETER)
    assert not ImportMapping.objects.exists()


@pytest.mark.parametrize(
    ("unit", "code"),
    [("m", ErrorCode.INCOMPATIBLE_UNIT), ("blorps", ErrorCode.BAD_UNIT), ("", ErrorCode.BAD_UNIT)],
)
def test_a_unit_that_does_not_convert_to_the_parameters_is_refused(engineer_client, params, unit, code):
    values = [{"column": "Loading [mg/cm2]", "parameter": "lab_mass_loading", "unit": unit}]
    response = engineer_client.post(MAPPINGS, balance_fields(values=values), format="json")
    refused(response, "values[0].unit", code)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"header_row": HEADER_ROW_MAX + 1}, "header_row"),
        ({"header_row": 10**30}, "header_row"),
        ({"header_row": 0}, "header_row"),
        ({"header_row": True}, "header_row"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"format": "xls"}, "format"),
        ({"code": "has space"}, "code"),
        ({"source": "inline"}, "source"),
        ({"delimiter": "ab"}, "delimiter"),
        ({"item_column": ""}, "item_column"),
        ({"values": []}, "values"),
        ({"values": [{"column": "A", "parameter": "lab_mass_loading", "unit": "mg/cm**2", "x": 1}]}, "values[0].x"),
        ({"sheet": "s" * 32}, "sheet"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_each_field_is_checked_and_named(engineer_client, params, changes, field):
    response = engineer_client.post(MAPPINGS, balance_fields(**changes), format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not ImportMapping.objects.exists()


def test_a_column_mapped_twice_is_refused(engineer_client, params):
    values = [
        {"column": "Loading", "parameter": "lab_mass_loading", "unit": "mg/cm**2"},
        {"column": "Loading", "parameter": "lab_thickness", "unit": "um"},
    ]
    response = engineer_client.post(MAPPINGS, balance_fields(values=values), format="json")
    assert "mapped twice" in refused(response, "values[1].column")
    response = engineer_client.post(MAPPINGS, balance_fields(time_column="Sample"), format="json")
    refused(response, "time_column")


def test_a_code_in_use_is_409(engineer_client, balance):
    response = engineer_client.post(MAPPINGS, balance_fields(), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == ErrorCode.DUPLICATE_CODE


def test_an_update_is_checked_whole_and_audits_what_changed(engineer_client, balance):
    url = f"{MAPPINGS}balance-xlsx/"
    response = engineer_client.patch(
        url, {"values": [{"column": "L", "parameter": "lab_thickness", "unit": "kg"}]}, format="json"
    )
    refused(response, "values[0].unit", ErrorCode.INCOMPATIBLE_UNIT)
    response = engineer_client.patch(url, {"code": "other"}, format="json")
    refused(response, "code", ErrorCode.CODE_IMMUTABLE)
    response = engineer_client.patch(url, {"header_row": 3, "sheet": "Raw"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["header_row"], response.json()["sheet"]) == (3, "Raw")
    event = AuditEvent.objects.get(action="import_mapping.update")
    assert event.before == {"sheet": "Results", "header_row": 1}
    assert event.after == {"sheet": "Raw", "header_row": 3}
    assert engineer_client.patch(f"{MAPPINGS}nope/", {"sheet": "A"}, format="json").status_code == 404


def test_a_mapping_that_imported_a_file_stays(engineer_client, operator_client, balance, roll, upload):
    data = xlsx([["Sample", "Date", "Loading [mg/cm2]"], ["CR-0100", "2026-03-02T09:00:00", 20.5]])
    assert upload(operator_client, data, "balance-xlsx").status_code == 201
    response = engineer_client.delete(f"{MAPPINGS}balance-xlsx/")
    assert response.status_code == 409
    assert response.json()["code"] == ErrorCode.MAPPING_IN_USE
    assert ImportMapping.objects.filter(code="balance-xlsx").exists()


def test_an_unused_mapping_is_deleted_and_audited(engineer_client, balance):
    assert engineer_client.delete(f"{MAPPINGS}balance-xlsx/").status_code == 204
    assert not ImportMapping.objects.exists()
    assert AuditEvent.objects.get(action="import_mapping.delete").before["sheet"] == "Results"
    assert engineer_client.delete(f"{MAPPINGS}balance-xlsx/").status_code == 404
