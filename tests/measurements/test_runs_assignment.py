"""An open run catches the values its station sends by station and time from its start on; once
finished, a value after its end finds nothing (409 single, 400 by row in bulk); and a run does not
end before a value it already caught (issue 13, point 2)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from core.errors import ErrorCode
from measurements.models import Measurement, Parameter
from tests.factories import register
from traceability.models import Operation

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
OPERATIONS = "/api/operations/"


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def thickness(db: Any) -> Parameter:
    return Parameter.objects.create(
        code="run_thickness", name="Coating thickness", scope="step", step_id="coating", category="SP", unit="um"
    )


@pytest.fixture
def open_run(operator_client: Any, engineer: User, stations: Any) -> dict[str, Any]:
    """A coating run at COAT-01 recorded at its start (07:00Z), without ended_at."""
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    response = operator_client.post(
        OPERATIONS,
        {
            "step": "coating",
            "station": "COAT-01",
            "started_at": START.isoformat(),
            "inputs": [{"item": slurry.code, "quantity": 8, "unit": "kg"}],
            "outputs": [{"kind": "coated_roll", "quantity": 100, "unit": "m"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _value(minutes: float) -> dict[str, Any]:
    return {"parameter": "run_thickness", "value": 101, "unit": "um", "station": "COAT-01", "measured_at": at(minutes)}


def _finish(client: Any, run: dict[str, Any], minutes: float) -> Any:
    return client.post(f"{OPERATIONS}{run['id']}/finish/", {"ended_at": at(minutes)}, format="json")


def test_a_value_sent_during_an_open_run_goes_to_its_roll_and_after_the_finish_none_does(
    operator_client, thickness, open_run
):
    roll = open_run["outputs"][0]["code"]
    during = operator_client.post("/api/measurements/", _value(10), format="json")
    assert during.status_code == 201, during.json()
    assert during.json()["assigned"]["operation"] == open_run["id"]
    assert during.json()["item"] == roll
    # Long after the start, still open: caught.
    assert operator_client.post("/api/measurements/", _value(24 * 60), format="json").status_code == 201
    # A value before the start is not the run's.
    before = operator_client.post("/api/measurements/", _value(-1), format="json")
    assert before.status_code == 409
    assert before.json()["code"] == ErrorCode.NO_OPERATION_AT_STATION

    assert _finish(operator_client, open_run, 25 * 60).status_code == 200
    after = operator_client.post("/api/measurements/", _value(25 * 60 + 1), format="json")
    assert after.status_code == 409, after.json()
    assert after.json()["code"] == ErrorCode.NO_OPERATION_AT_STATION
    assert list(Measurement.objects.filter(parameter=thickness).values_list("item__code", "operation_id")) == [
        (roll, open_run["id"]),
        (roll, open_run["id"]),
    ]
    # Up to the end itself, the run still holds.
    edge = operator_client.post("/api/measurements/", _value(25 * 60), format="json")
    assert edge.status_code == 201, edge.json()


def test_bulk_rows_during_an_open_run_go_to_its_roll_and_after_the_finish_a_row_is_refused(
    operator_client, thickness, open_run
):
    bulk = "/api/measurements/bulk/"
    rows = [_value(5), _value(30), _value(90)]
    response = operator_client.post(bulk, json.dumps(rows), content_type="application/json")
    assert response.status_code == 201, response.json()
    stored = Measurement.objects.filter(parameter=thickness).values_list("operation_id", flat=True)
    assert list(stored) == [open_run["id"]] * 3

    assert _finish(operator_client, open_run, 100).status_code == 200
    count = Measurement.objects.count()
    late = operator_client.post(bulk, json.dumps([_value(95), _value(101)]), content_type="application/json")
    assert late.status_code == 400, late.json()
    [row] = late.json()["rows"]
    assert (row["row"], row["field"], row["code"]) == (2, "measured_at", ErrorCode.NO_OPERATION_AT_STATION)
    assert Measurement.objects.count() == count  # all or nothing


def test_a_run_does_not_end_before_a_value_it_caught(operator_client, thickness, open_run):
    assert operator_client.post("/api/measurements/", _value(40), format="json").status_code == 201
    early = _finish(operator_client, open_run, 39)

    assert early.status_code == 400, early.json()
    assert list(early.json()["errors"]) == ["ended_at"]
    assert "07:40:00" in early.json()["detail"]
    assert Operation.objects.get(pk=open_run["id"]).ended_at is None
    assert _finish(operator_client, open_run, 40).status_code == 200


def test_a_value_about_the_operation_from_elsewhere_does_not_bind_its_end(operator_client, thickness, open_run):
    """A lab's value about the run (no station), measured the next day, is not one the run caught."""
    lab = {
        "parameter": "run_thickness",
        "value": 99,
        "unit": "um",
        "operation": open_run["id"],
        "measured_at": at(1440),
    }
    response = operator_client.post("/api/measurements/", lab, format="json")
    assert response.status_code == 201, response.json()
    assert _finish(operator_client, open_run, 60).status_code == 200
