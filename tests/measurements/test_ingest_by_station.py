"""Bulk rows that name a station (and no item) are assigned by station and time like single
values: the item in process there then, by the one rule of selectors_in_process.items_in_process (issue 11,
point 13). All or nothing, and the number of queries does not grow with the rows."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import ErrorCode
from lots.models import Item
from measurements.ingest import measurements_ingest
from measurements.ingest_rows import BulkInvalid
from measurements.models import Measurement, Parameter
from measurements.services import MeasurementInput, measurement_record
from traceability.models import Operation
from traceability.services import OutputSpec, operation_record

URL = "/api/measurements/bulk/"
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def thickness(db: Any) -> Parameter:
    return Parameter.objects.create(
        code="st_thickness", name="Coating thickness", scope="step", step_id="coating", category="SP", unit="µm"
    )


@pytest.fixture
def rolls(engineer: User, stations: Any) -> dict[str, tuple[Operation, Item]]:
    """Two coating runs at COAT-01: 07:00-08:00 at 1 m/min, then 09:00-10:00 without a speed."""
    made = {}
    for name, start, parameters in (
        ("first", T0, {"coating_speed": {"value": 1, "unit": "m/min"}}),
        ("second", T0 + timedelta(hours=2), {}),
    ):
        result = operation_record(
            actor=engineer,
            step="coating",
            station="COAT-01",
            started_at=start,
            ended_at=start + timedelta(hours=1),
            inputs=[],
            outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m", code=f"CR-{name}", polarity="cathode")],
            parameters=parameters,
        )
        made[name] = (result.operation, result.outputs[0])
    return made


def _stored() -> list[tuple[Any, ...]]:
    return list(
        Measurement.objects.filter(parameter__code="st_thickness")
        .order_by("measured_at")
        .values_list("item__code", "operation_id", "station__code", "position_m")
    )


def test_json_rows_with_a_station_go_to_the_item_in_process_then(operator_client: Any, thickness, rolls) -> None:
    first, second = rolls["first"], rolls["second"]
    rows = [
        {"parameter": "st_thickness", "value": 101, "unit": "µm", "station": "COAT-01", "measured_at": at(30)},
        {"parameter": "st_thickness", "value": 102, "unit": "µm", "station": "COAT-01", "measured_at": at(130),
         "position_m": 5},
        {"parameter": "st_thickness", "value": 103, "unit": "µm", "station": "COAT-01", "measured_at": at(150)},
    ]  # fmt: skip
    response = operator_client.post(URL, json.dumps(rows), content_type="application/json")
    assert response.status_code == 201, response.json()
    assert _stored() == [
        ("CR-first", first[0].pk, "COAT-01", pytest.approx(30.0)),  # 30 min at 1 m/min
        ("CR-second", second[0].pk, "COAT-01", 5.0),  # the sent position
        ("CR-second", second[0].pk, "COAT-01", None),  # no speed: the whole roll
    ]


def test_csv_rows_with_a_station_are_assigned_as_single_values_are(
    operator: User, operator_client: Any, thickness, rolls
) -> None:
    times = [10, 59, 125, 170]
    text = "parameter,value,unit,station,measured_at\n" + "".join(
        f"st_thickness,{100 + n},µm,COAT-01,{at(minutes)}\n" for n, minutes in enumerate(times)
    )
    response = operator_client.post(URL, text.encode(), content_type="text/csv")
    assert response.status_code == 201, response.json()
    bulk = _stored()
    singles = [
        measurement_record(
            actor=operator,
            data=MeasurementInput(
                parameter="st_thickness", value=1, unit="µm", station="COAT-01", measured_at=T0 + timedelta(minutes=m)
            ),
        ).measurement
        for m in times
    ]
    assert bulk == [
        (m.item and m.item.code, m.operation_id, m.station and m.station.code, m.position_m) for m in singles
    ]
    assert [code for code, *_ in bulk] == ["CR-first", "CR-first", "CR-second", "CR-second"]


def test_a_row_with_item_and_station_keeps_its_item_like_a_single_value(
    operator: User, operator_client: Any, thickness, rolls
) -> None:
    row: dict[str, Any] = {
        "parameter": "st_thickness",
        "value": 1,
        "unit": "µm",
        "item": "CR-first",
        "station": "COAT-01",
    }
    response = operator_client.post(URL, json.dumps([row | {"measured_at": at(150)}]), content_type="application/json")
    assert response.status_code == 201, response.json()
    single = measurement_record(
        actor=operator, data=MeasurementInput(**row, measured_at=T0 + timedelta(minutes=150))
    ).measurement
    assert _stored() == [("CR-first", None, "COAT-01", None)] * 2
    assert (single.item_id, single.operation_id) == (rolls["first"][1].pk, None)


def test_a_room_value_at_a_station_stays_about_the_station(operator_client: Any, rolls) -> None:
    Parameter.objects.create(code="st_dew_point", name="Dew point", scope="environment", category="PP", unit="degC")
    row = {"parameter": "st_dew_point", "value": -45, "unit": "degC", "station": "COAT-01", "measured_at": at(90)}
    response = operator_client.post(URL, json.dumps([row]), content_type="application/json")
    assert response.status_code == 201, response.json()
    assert list(Measurement.objects.filter(parameter__code="st_dew_point").values_list("item", "station__code")) == [
        (None, "COAT-01")
    ]


def test_a_row_outside_every_operation_is_a_400_naming_it_and_nothing_is_stored(
    operator_client: Any, thickness, rolls
) -> None:
    before = Measurement.objects.count()
    text = "parameter,value,unit,station,measured_at\n" + "".join(
        f"st_thickness,100,µm,COAT-01,{at(minutes)}\n" for minutes in (10, 20, 90, 150)
    )
    response = operator_client.post(URL, text.encode(), content_type="text/csv")
    body = response.json()
    assert response.status_code == 400, body
    assert body["rows"] == [
        {
            "row": 3,
            "field": "measured_at",
            "message": "No operation ran at COAT-01 at 2026-03-02T08:30:00+00:00.",
            "code": ErrorCode.NO_OPERATION_AT_STATION,
        }
    ]
    assert body["detail"].startswith("Row 3, measured_at: No operation ran at COAT-01 at 2026-03-02T08:30:00+00:00.")
    assert Measurement.objects.count() == before


def test_a_run_with_several_items_in_process_is_refused_by_row(engineer: User, operator: User, thickness, stations):
    operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        inputs=[],
        outputs=[OutputSpec(kind="coated_roll", quantity=50, unit="m", polarity="anode") for _ in range(2)],
    )
    rows = [
        {"parameter": "st_thickness", "value": 1, "unit": "µm", "item": "", "station": "COAT-01", "measured_at": at(5)},
        {"parameter": "st_thickness", "value": 1, "unit": "µm", "station": "COAT-01", "measured_at": at(6)},
    ]
    with pytest.raises(BulkInvalid) as error:
        measurements_ingest(actor=operator, rows=rows)
    assert [(r["row"], r["field"], r["code"]) for r in error.value.rows] == [
        (1, "item", ErrorCode.AMBIGUOUS_ITEM),
        (2, "item", ErrorCode.AMBIGUOUS_ITEM),
    ]
    assert "has several items in process; send the item." in error.value.rows[0]["message"]
    assert not Measurement.objects.filter(parameter=thickness).exists()


def test_a_line_speed_position_beyond_the_roll_is_refused_by_row(engineer: User, operator: User, thickness, stations):
    operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0,
        inputs=[],
        outputs=[OutputSpec(kind="coated_roll", quantity=10, unit="m", polarity="anode")],
        parameters={"coating_speed": {"value": 1, "unit": "m/min"}},
    )
    rows = [{"parameter": "st_thickness", "value": 1, "unit": "µm", "station": "COAT-01", "measured_at": at(m)}
            for m in (5, 11)]  # fmt: skip
    with pytest.raises(BulkInvalid) as error:
        measurements_ingest(actor=operator, rows=rows)
    assert [(r["row"], r["field"]) for r in error.value.rows] == [(2, "measured_at")]
    assert "beyond its 10 m" in error.value.rows[0]["message"]


def _rows(n: int) -> list[dict[str, Any]]:
    minutes = [10 + (m % 40) if m % 2 else 125 + (m % 50) for m in range(n)]  # in both runs
    return [
        {"parameter": "st_thickness", "value": 100, "unit": "µm", "station": "COAT-01", "measured_at": at(m)}
        for m in minutes
    ]


def test_the_queries_do_not_grow_with_the_rows(operator: User, thickness, rolls, django_assert_num_queries) -> None:
    with CaptureQueriesContext(connection) as ten:
        assert measurements_ingest(actor=operator, rows=_rows(10)).count == 10
    with django_assert_num_queries(len(ten.captured_queries)):
        assert measurements_ingest(actor=operator, rows=_rows(1000)).count == 1000
    assigned = Measurement.objects.filter(parameter=thickness).values_list("item__code", flat=True)
    assert set(assigned) == {"CR-first", "CR-second"} and None not in set(assigned)
    assert Measurement.objects.filter(parameter=thickness, operation__isnull=True).count() == 0
