"""GET /api/items/{code}/passport/ (docs/api.md, Interoperability): a cell's BatteryPass v1.2
manufacturing and performance attributes, filled from the genealogy and the formation and
end-of-line measurements, null where nothing is recorded."""

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from lots.models import Item
from measurements.models import Measurement, Parameter
from measurements.services import MeasurementInput, measurement_correct
from tests.factories import T0, register
from tests.interop.passport_line import SITE, TECH, formed_and_tested, measure, passport_cell, url
from traceability.services import InputSpec, operation_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_cell(engineer: User, stations: Any, catalog: None) -> Item:
    cell = passport_cell(engineer, chemistry="NMC811/graphite", nominal_voltage_V=3.65)
    formed_and_tested(engineer, cell)
    return cell


@override_settings(**SITE)
def test_a_formed_and_tested_cell_fills_every_attribute_in_the_data_models_units(
    operator_client: APIClient, demo_cell: Item
) -> None:
    response = operator_client.get(url(demo_cell.code))
    assert response.status_code == 200, response.content
    body = response.json()
    general, tech = body["generalProductInformation"], body[TECH[0]][TECH[1]]
    assert body["dataModel"] == {"name": "BatteryPass", "version": "1.2.0"}
    assert general["productIdentifier"] == body["identification"]["serial"]
    assert f"/21/{demo_cell.code}" in body["identification"]["serial"]
    assert general["manufacturingDate"].startswith("2026-03-02T09:05:00")  # the packaging's end
    assert general["manufacturingPlace"] == {
        "addressCountry": "DE",
        "postalCode": "89081",
        "streetAddress": "Helmholtzstrasse 8",
    }
    assert general["batteryMass"] == pytest.approx(0.0915)  # g -> kg
    chemistry = body["materialComposition"]["batteryChemistry"]
    assert chemistry["shortName"] == "NMC811/graphite"
    assert "NMC811 (lot NMC-24-1)" in chemistry["clearName"] and "graphite (lot G-24-7)" in chemistry["clearName"]
    assert tech["ratedCapacity"] == pytest.approx(4.63)  # end-of-line, not formation
    assert tech["ratedEnergy"] == pytest.approx(0.0169)  # Wh -> kWh
    assert tech["nominalVoltage"] == 3.65
    assert (tech["minimumVoltage"], tech["maximumVoltage"]) == (pytest.approx(2.8), pytest.approx(4.2))
    assert tech["initialInternalResistance"] == [{"ohmicResistance": pytest.approx(0.0172), "batteryComponent": "cell"}]
    assert tech["initialSelfDischarge"] == pytest.approx(2.5)
    assert (
        body["sources"]["/performanceAndDurability/batteryTechicalProperties/ratedCapacity"]["parameter"]
        == "eol_capacity"
    )
    assert set(body["missing"]) == {"/identification/batch"}  # a produced cell has no lot


def test_a_bare_cell_gives_nulls_not_zeros_and_says_why(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None
) -> None:
    cell = register(engineer, "cell", 1, "count")
    body = operator_client.get(url(cell.code)).json()
    general, tech = body["generalProductInformation"], body[TECH[0]][TECH[1]]
    assert general["manufacturingDate"] is None and general["manufacturingPlace"] is None
    assert general["batteryMass"] is None
    assert body["materialComposition"]["batteryChemistry"] is None
    assert all(value is None for value in tech.values()), tech
    assert body["identification"]["batch"] is None
    pointers = {f"/{TECH[0]}/{TECH[1]}/{key}" for key in tech} | {
        "/generalProductInformation/manufacturingDate",
        "/generalProductInformation/manufacturingPlace",
        "/generalProductInformation/batteryMass",
        "/materialComposition/batteryChemistry",
        "/identification/batch",
    }
    assert set(body["missing"]) == pointers
    assert "eol_capacity, formation_discharge_capacity" in body["missing"][f"/{TECH[0]}/{TECH[1]}/ratedCapacity"]
    assert body["sources"] == {}


def test_a_bought_in_cell_carries_its_lot_as_the_batch(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None
) -> None:
    cell = register(engineer, "cell", 1, "count", supplier_lot="REF/24 7")
    body = operator_client.get(url(cell.code)).json()
    assert body["identification"]["batch"].endswith("/10/REF%2F24%207")
    assert "/01/" in body["identification"]["model"] and "/10/" not in body["identification"]["model"]


def test_a_correction_replaces_the_value_and_the_newest_value_wins(
    operator_client: APIClient, engineer: User, demo_cell: Item
) -> None:
    dcir = Measurement.objects.get(item=demo_cell, parameter__code="eol_dcir")
    measurement_correct(
        actor=engineer,
        measurement_id=dcir.pk,
        reason="contact resistance of the probe",
        data=MeasurementInput(parameter="", value=15.0, unit="mohm"),
    )
    measure(engineer, demo_cell, "eol_cell_mass", 91.0, "g", hours=40)  # weighed again, later
    body = operator_client.get(url(demo_cell.code)).json()
    tech = body[TECH[0]][TECH[1]]
    assert tech["initialInternalResistance"][0]["ohmicResistance"] == pytest.approx(0.015)
    assert body["generalProductInformation"]["batteryMass"] == pytest.approx(0.091)


def test_the_formation_value_stands_in_only_when_the_end_of_line_value_is_missing(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None
) -> None:
    cell = passport_cell(engineer)
    measure(engineer, cell, "formation_discharge_capacity", 4.61, "Ah")
    body = operator_client.get(url(cell.code)).json()
    assert body[TECH[0]][TECH[1]]["ratedCapacity"] == pytest.approx(4.61)
    # Upstream materials name the chemistry when the cell records none.
    assert body["materialComposition"]["batteryChemistry"]["shortName"] == "NMC811/graphite"


def test_a_value_of_another_cell_at_the_same_operation_is_not_taken(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None
) -> None:
    one, other = passport_cell(engineer), register(engineer, "cell", 1, "count")
    operation_record(
        actor=engineer,
        step="eol_test",
        station="FORM-01",
        started_at=T0 + timedelta(hours=9),
        inputs=[InputSpec(one.code, consume=False), InputSpec(other.code, consume=False)],
        outputs=[],
    )
    measure(engineer, other, "eol_capacity", 4.2, "Ah")
    body = operator_client.get(url(one.code)).json()
    assert body[TECH[0]][TECH[1]]["ratedCapacity"] is None


def test_a_non_cell_is_a_400_naming_code(operator_client: APIClient, engineer: User, catalog: None) -> None:
    lot = register(engineer, "cathode_active_material", 1, "kg")
    response = operator_client.get(url(lot.code))
    assert response.status_code == 400
    assert "code" in response.json()["errors"]


def test_an_unknown_item_is_a_404(operator_client: APIClient) -> None:
    assert operator_client.get(url("CELL-999999")).status_code == 404
    assert operator_client.get(url("CELL%00")).status_code in (400, 404)


def test_authentication_is_required_and_every_role_reads(
    anon_client: APIClient, operator_client: APIClient, engineer_client: APIClient, demo_cell: Item
) -> None:
    assert anon_client.get(url(demo_cell.code)).status_code == 401
    assert operator_client.get(url(demo_cell.code)).status_code == 200
    assert engineer_client.get(url(demo_cell.code)).status_code == 200


def test_the_cell_is_found_by_its_digital_link(operator_client: APIClient, demo_cell: Item) -> None:
    serial = operator_client.get(url(demo_cell.code)).json()["identification"]["serial"]
    response = operator_client.get(url(quote(serial, safe="")))
    assert response.status_code == 200 and response.json()["code"] == demo_cell.code


def test_the_number_of_queries_does_not_grow_with_the_genealogy(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None, django_assert_num_queries: Any
) -> None:
    small = passport_cell(engineer)
    large = passport_cell(engineer, extra_lots=12)
    for cell in (small, large):
        formed_and_tested(engineer, cell)
    # token with its role, item, the operation that made it, measurements, upstream walk, its lots
    with django_assert_num_queries(6) as small_run:
        assert operator_client.get(url(small.code)).status_code == 200
    with django_assert_num_queries(len(small_run.captured_queries)):
        assert operator_client.get(url(large.code)).status_code == 200


def test_a_value_whose_unit_does_not_convert_is_null_with_the_reason(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None
) -> None:
    Parameter.objects.filter(code="eol_discharge_energy").update(unit="V")  # a catalog edited by hand
    cell = passport_cell(engineer)
    measure(engineer, cell, "eol_discharge_energy", 3.7, "V")
    body = operator_client.get(url(cell.code)).json()
    pointer = f"/{TECH[0]}/{TECH[1]}/ratedEnergy"
    assert body[TECH[0]][TECH[1]]["ratedEnergy"] is None
    assert "'V'" in body["missing"][pointer] and "'kWh'" in body["missing"][pointer]
    assert pointer not in body["sources"]


@pytest.mark.parametrize("recorded", ["3.65", True, None, [3.65], {"value": 3.65}])
def test_a_design_value_that_is_not_a_number_is_not_read_as_one(
    operator_client: APIClient, engineer: User, stations: Any, catalog: None, recorded: Any
) -> None:
    chemistry = "  " if isinstance(recorded, str) else recorded  # a string chemistry is one
    cell = passport_cell(engineer, nominal_voltage_V=recorded, chemistry=chemistry)
    body = operator_client.get(url(cell.code)).json()
    assert body[TECH[0]][TECH[1]]["nominalVoltage"] is None
    assert body["materialComposition"]["batteryChemistry"]["shortName"] == "NMC811/graphite"  # from the lots


def test_another_sites_label_and_hostile_codes_find_no_passport(operator_client: APIClient, demo_cell: Item) -> None:
    foreign = quote(f"https://id.elsewhere.example/01/00614141004018/21/{demo_cell.code}", safe="")
    response = operator_client.get(url(foreign))
    assert response.status_code == 404 and response.json()["code"] == "foreign_label"
    assert operator_client.get(url("CELL%00-1")).status_code == 400  # NUL: refused before any lookup
    for code in ("x" * 5000, "%F0%9F%94%8B", "..%2F..%2Fetc"):
        assert operator_client.get(url(code)).status_code == 404, code


def test_the_passport_is_documented_in_the_openapi_schema(operator_client: APIClient) -> None:
    schema = operator_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/items/{identifier}/passport/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    passport = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"generalProductInformation", "materialComposition", "performanceAndDurability"} <= set(
        passport["properties"]
    )
