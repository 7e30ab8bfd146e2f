"""Numbers and times on every write path: finite after conversion, JSON numbers not booleans or
lists, times in [1970, 2200) with an offset within +-15:59; 400 naming the field, nothing stored,
and the database refuses what slips past."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core.errors import ErrorCode
from lots.models import Item
from measurements.models import Measurement, Parameter, Source
from tests.factories import T0, register
from traceability.models import Hold, Operation

pytestmark = pytest.mark.django_db

MEASUREMENTS = "/api/measurements/"
BULK = "/api/measurements/bulk/"
OPERATIONS = "/api/operations/"
ITEMS = "/api/items/"
HOLDS = "/api/holds/"
INVALID = "invalid"
YEAR_ONE = "0001-01-01T00:00:00+14:00"
HUGE = 10**400  # a JSON integer Python reads, float() cannot


def counts() -> tuple[int, ...]:
    return (
        Measurement.objects.count(),
        Operation.objects.count(),
        Item.objects.count(),
        Hold.objects.count(),
        AuditEvent.objects.count(),
    )


def send(client: APIClient, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def refused(client: APIClient, url: str, body: Any, field: str, code: str) -> dict[str, Any]:
    before = counts()
    response = send(client, url, body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == code, data
    assert field in data["errors"], data
    assert counts() == before
    return data


def value_body(roll: Item, **changes: Any) -> dict[str, Any]:
    body = {
        "parameter": "mass_loading_t",
        "value": 21.4,
        "unit": "mg/cm**2",
        "item": roll.code,
        "position_m": 50.0,
        "measured_at": (T0 + timedelta(hours=2, minutes=30)).isoformat(),
    }
    return body | changes


# --- One measurement --------------------------------------------------------------------------


SINGLE = [
    pytest.param({"measured_at": YEAR_ONE}, "measured_at", ErrorCode.OUT_OF_RANGE, id="year-one"),
    pytest.param({"measured_at": "1969-12-31T23:59:59Z"}, "measured_at", ErrorCode.OUT_OF_RANGE, id="before-1970"),
    pytest.param({"measured_at": "2200-01-01T00:00:00Z"}, "measured_at", ErrorCode.OUT_OF_RANGE, id="year-2200"),
    pytest.param({"measured_at": "2026-03-02T09:10:00+16:00"}, "measured_at", ErrorCode.OUT_OF_RANGE, id="offset"),
    pytest.param({"measured_at": "2026-03-02T09:10:00"}, "measured_at", INVALID, id="no-offset"),
    pytest.param({"measured_at": "2026-03-02"}, "measured_at", INVALID, id="a-date"),
    pytest.param({"measured_at": 5}, "measured_at", INVALID, id="time-a-number"),
    pytest.param({"value": 1e308, "unit": "kg/cm**2"}, "value", ErrorCode.NOT_FINITE, id="infinite-once-converted"),
    pytest.param({"value": HUGE}, "value", INVALID, id="400-digits"),
    pytest.param({"value": True}, "value", INVALID, id="true"),
    pytest.param({"value": [1]}, "value", INVALID, id="value-a-list"),
    pytest.param({"value": {"a": 1}}, "value", INVALID, id="value-an-object"),
    pytest.param({"unit": ["kg"]}, "unit", INVALID, id="unit-a-list"),
    pytest.param({"item": ["X"]}, "item", INVALID, id="item-a-list"),
    pytest.param({"position_m": False}, "position_m", INVALID, id="position-false"),
    pytest.param({"uncertainty": HUGE}, "uncertainty", INVALID, id="uncertainty-400-digits"),
    pytest.param({"uncertainty": 1e308, "unit": "kg/cm**2"}, "uncertainty", ErrorCode.NOT_FINITE, id="uncertainty"),
    pytest.param(
        {"value": None, "series": {"x": [0, 1], "y": [1, 1e308], "y_unit": "kg/cm**2"}},
        "series.y[1]",
        ErrorCode.NOT_FINITE,
        id="series-point-infinite-once-converted",
    ),
    pytest.param(
        {"value": None, "series": {"x": [0, True], "y": [1, 2]}},
        "series.x[1]",
        ErrorCode.BAD_QUANTITY,
        id="series-true",
    ),
]


@pytest.mark.parametrize(("changes", "field", "code"), SINGLE)
def test_a_single_measurement_is_refused_on_its_field(operator_client, coated_roll, catalog, changes, field, code):
    refused(operator_client, MEASUREMENTS, value_body(coated_roll, **changes), field, code)


def test_the_refusal_shows_the_expected_form_of_a_time(operator_client, coated_roll, catalog):
    body = value_body(coated_roll, measured_at="2026-03-02T09:10:00")
    data = refused(operator_client, MEASUREMENTS, body, "measured_at", INVALID)
    assert "2026-03-02T09:10:00+01:00" in data["errors"]["measured_at"][0]


def test_true_is_refused_as_true_not_as_one(operator_client, coated_roll, catalog):
    data = refused(operator_client, MEASUREMENTS, value_body(coated_roll, value=True), "value", INVALID)
    assert "true/false" in data["errors"]["value"][0]


@pytest.mark.parametrize("moment", ["1970-01-01T00:00:00Z", "2199-12-31T23:59:59+00:00", "2026-03-02T09:10:00-15:59"])
def test_the_edges_of_the_range_are_accepted(operator_client, catalog, engineer, moment):
    room_value = {"parameter": "dew_point_t", "value": -60, "unit": "degC", "room": "dry-room-1", "measured_at": moment}
    response = send(operator_client, MEASUREMENTS, room_value)
    assert response.status_code == 201, response.content


# --- Bulk: JSON and CSV -----------------------------------------------------------------------


BULK_ROWS = [
    pytest.param({"measured_at": YEAR_ONE}, "measured_at", ErrorCode.OUT_OF_RANGE, id="year-one"),
    pytest.param({"measured_at": "2026-03-02T09:10:00"}, "measured_at", ErrorCode.BAD_TIME, id="no-offset"),
    pytest.param({"measured_at": 5}, "measured_at", ErrorCode.BAD_TIME, id="time-a-number"),
    pytest.param({"value": 1e308, "unit": "kg/cm**2"}, "value", ErrorCode.NOT_FINITE, id="infinite-once-converted"),
    pytest.param({"value": HUGE}, "value", ErrorCode.BAD_QUANTITY, id="400-digits"),
    pytest.param({"value": True}, "value", ErrorCode.BAD_QUANTITY, id="true"),
    pytest.param({"value": [1]}, "value", ErrorCode.BAD_QUANTITY, id="value-a-list"),
    pytest.param({"unit": ["kg"]}, "unit", ErrorCode.BAD_UNIT, id="unit-a-list"),
    pytest.param({"position_m": {"a": 1}}, "position_m", ErrorCode.BAD_QUANTITY, id="position-an-object"),
    pytest.param({"uncertainty": 1e308, "unit": "kg/cm**2"}, "uncertainty", ErrorCode.NOT_FINITE, id="uncertainty"),
]


@pytest.mark.parametrize(("changes", "field", "code"), BULK_ROWS)
def test_a_bad_bulk_json_row_is_named_and_nothing_is_stored(
    operator_client, coated_roll, catalog, changes, field, code
):
    good = value_body(coated_roll)
    data = refused(operator_client, BULK, [good, value_body(coated_roll, **changes)], f"rows[1].{field}", INVALID)
    assert data["rows"][0] == data["rows"][0] | {"row": 2, "field": field, "code": code}


def test_an_unhashable_item_in_a_bulk_row_is_named(operator_client, coated_roll, catalog):
    data = refused(operator_client, BULK, [value_body(coated_roll, item=["X"])], "rows[0].item", INVALID)
    assert data["rows"][0]["field"] == "item"


@pytest.mark.parametrize(
    ("cells", "field", "code"),
    [
        ("21.4,mg/cm**2," + YEAR_ONE, "measured_at", ErrorCode.OUT_OF_RANGE),
        ("1e308,kg/cm**2,2026-03-02T09:10:00+01:00", "value", ErrorCode.NOT_FINITE),
        ("21.4,mg/cm**2,2026-03-02T09:10:00", "measured_at", ErrorCode.BAD_TIME),
        ("1" + "0" * 400 + ",mg/cm**2,2026-03-02T09:10:00+01:00", "value", ErrorCode.BAD_QUANTITY),
    ],
)
def test_a_bad_csv_row_is_named_and_nothing_is_stored(operator_client, coated_roll, catalog, cells, field, code):
    text = f"parameter,item,value,unit,measured_at\nmass_loading_t,{coated_roll.code},21,mg/cm**2,{T0.isoformat()}\n"
    text += f"mass_loading_t,{coated_roll.code},{cells}\n"
    before = counts()
    response = operator_client.post(BULK, text.encode(), content_type="text/csv")
    assert response.status_code == 400, response.content
    assert response.json()["rows"][0] | {"message": ""} == {"row": 2, "field": field, "code": code, "message": ""}
    assert counts() == before


# --- Operations, items, holds ------------------------------------------------------------------


def coating(engineer: Any, **changes: Any) -> dict[str, Any]:
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    body = {
        "step": "coating",
        "station": "COAT-01",
        "started_at": (T0 + timedelta(days=2)).isoformat(),
        "inputs": [{"item": slurry.code, "quantity": 8, "unit": "kg"}],
        "outputs": [{"kind": "coated_roll", "quantity": 100, "unit": "m"}],
        "parameters": {"coating_speed_t": {"value": 2, "unit": "m/min"}},
    }
    return body | changes


OPERATION = [
    pytest.param(
        {"parameters": {"coating_speed_t": {"value": 1e308, "unit": "km/s"}}},
        "parameters.coating_speed_t.value",
        ErrorCode.NOT_FINITE,
        id="parameter-infinite-once-converted",
    ),
    pytest.param(
        {"parameters": {"coating_speed_t": {"value": HUGE, "unit": "m/min"}}},
        "parameters.coating_speed_t.value",
        ErrorCode.BAD_QUANTITY,
        id="parameter-400-digits",
    ),
    pytest.param({"started_at": YEAR_ONE}, "started_at", ErrorCode.OUT_OF_RANGE, id="started-year-one"),
    pytest.param({"started_at": "2026-03-04T09:10:00"}, "started_at", INVALID, id="started-no-offset"),
    pytest.param({"ended_at": "2200-03-04T09:10:00Z"}, "ended_at", ErrorCode.OUT_OF_RANGE, id="ended-2200"),
    pytest.param({"ended_at": "2026-03-04"}, "ended_at", INVALID, id="ended-a-date"),
]


@pytest.mark.parametrize(("changes", "field", "code"), OPERATION)
def test_an_operation_is_refused_on_its_field(operator_client, engineer, catalog, stations, changes, field, code):
    refused(operator_client, OPERATIONS, coating(engineer, **changes), field, code)


@pytest.mark.parametrize(
    ("entry", "field", "code"),
    [
        ({"quantity": 1e308, "unit": "Mg"}, "inputs[0].quantity", ErrorCode.NOT_FINITE),
        ({"quantity": True}, "inputs[0].quantity", INVALID),
        ({"quantity": HUGE}, "inputs[0].quantity", INVALID),
        ({"quantity": {"a": 1}}, "inputs[0].quantity", INVALID),
        ({"unit": ["kg"]}, "inputs[0].unit", INVALID),
        ({"item": ["X"]}, "inputs[0].item", INVALID),
    ],
)
def test_an_operation_input_is_refused_on_its_field(operator_client, engineer, catalog, stations, entry, field, code):
    body = coating(engineer)
    body["inputs"][0].update(entry)
    refused(operator_client, OPERATIONS, body, field, code)


def test_an_output_quantity_must_be_a_number(operator_client, engineer, catalog, stations):
    body = coating(engineer)
    body["outputs"][0]["quantity"] = [100]
    refused(operator_client, OPERATIONS, body, "outputs[0].quantity", INVALID)


ITEM = {"kind": "cathode_active_material", "quantity": 25, "unit": "kg"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"quantity": True}, "quantity"), ({"quantity": HUGE}, "quantity"), ({"quantity": {"a": 1}}, "quantity")]
    + [({"unit": ["kg"]}, "unit")],
)
def test_an_item_quantity_is_a_json_number(operator_client, changes, field):
    refused(operator_client, ITEMS, ITEM | changes, field, INVALID)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"from": "2026-03-02T09:00:00"}, "from", INVALID),
        ({"to": "2026-03-02"}, "to", INVALID),
        ({"from": YEAR_ONE}, "from", ErrorCode.OUT_OF_RANGE),
        ({"to": "2200-01-01T00:00:00Z"}, "to", ErrorCode.OUT_OF_RANGE),
    ],
)
def test_a_hold_window_is_refused_on_its_field(engineer_client, stations, changes, field, code):
    window = {"station": "COAT-01", "reason": "drift", "from": "2026-03-02T08:00:00Z", "to": "2026-03-02T10:00Z"}
    refused(engineer_client, HOLDS, window | changes, field, code)


@pytest.mark.parametrize(("changes", "field"), [({"from_m": "NaN"}, "from_m"), ({"to_m": "Infinity"}, "to_m")])
def test_a_held_stretch_is_finite(engineer_client, coated_roll, changes, field):
    stretch = {"item": coated_roll.code, "reason": "drift", "downstream": True, "from_m": 10, "to_m": 20}
    refused(engineer_client, HOLDS, stretch | changes, field, ErrorCode.BAD_QUANTITY)


# --- The database ------------------------------------------------------------------------------


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"measured_at": datetime(1969, 12, 31, 23, 59, tzinfo=UTC)}, id="before-1970"),
        pytest.param({"measured_at": datetime(2200, 1, 1, tzinfo=UTC)}, id="year-2200"),
        pytest.param({"value": float("inf")}, id="infinity"),
        pytest.param({"value": float("-inf")}, id="minus-infinity"),
        pytest.param({"value": float("nan")}, id="nan"),
        pytest.param({"position_m": float("nan")}, id="nan-position"),
        pytest.param({"uncertainty": float("inf")}, id="infinite-uncertainty"),
    ],
)
def test_the_database_refuses_what_the_services_refuse(operator_client, coated_roll, catalog, changes):
    row = {
        "parameter": Parameter.objects.get(code="mass_loading_t"),
        "item": coated_roll,
        "measured_at": T0,
        "source": Source.ONLINE,
        "value": 21.0,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Measurement.objects.create(**(row | changes))
    assert Measurement.objects.count() == 0
    Measurement.objects.create(**row)  # the same row in range is stored
    for query in ({"item": coated_roll.code}, {"parameter": "mass_loading_t"}):
        response = operator_client.get(MEASUREMENTS, query)
        assert response.status_code == 200, response.content
        assert [m["value"] for m in response.json()["results"]] == [21.0]


@pytest.mark.postgresql_only
def test_the_database_refuses_an_operation_out_of_range(engineer, stations):
    from traceability.models import Station, Step

    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(
            step=Step.objects.get(pk="coating"),
            station=Station.objects.get(code="COAT-01"),
            started_at=datetime(1, 1, 1, tzinfo=UTC),
        )


def test_reads_answer_after_refused_writes(operator_client, coated_roll, catalog):
    for body in (value_body(coated_roll, measured_at=YEAR_ONE), value_body(coated_roll, value=1e308, unit="kg/cm**2")):
        assert send(operator_client, MEASUREMENTS, body).status_code == 400
    assert send(operator_client, MEASUREMENTS, value_body(coated_roll)).status_code == 201
    response = operator_client.get(MEASUREMENTS, {"item": coated_roll.code})
    assert response.status_code == 200
    assert [m["value"] for m in response.json()["results"]] == [21.4]
