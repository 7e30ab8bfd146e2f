"""A scan answers the open run it is about: at the station, the one the item is in, else the
latest started there; with none there, the open run the item is in; null once it is finished."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lots.models import Item
from tests.factories import register
from traceability.models import Operation
from traceability.runs import operation_finish, run_start
from traceability.services import InputSpec, OutputSpec

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SCAN = "/api/scan/"


def _coating(actor: Any, step: str = "coating", minutes: int = 0) -> tuple[Operation, Item, Item]:
    """An open run at COAT-01 taking a slurry (passing through) and making a coated roll."""
    slurry = register(actor, "slurry", 10, "kg", polarity="cathode")
    result = run_start(
        actor=actor,
        step=step,
        station="COAT-01",
        started_at=START + timedelta(minutes=minutes),
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    )
    return result.operation, slurry, result.outputs[0]


def _open(client: Any, code: str, station: str | None = "COAT-01") -> Any:
    body = {"code": code} | ({"station": station} if station else {})
    response = client.post(SCAN, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["open_operation"]


def test_a_scan_at_the_station_answers_its_open_run_as_an_operation(operator, operator_client, stations):
    run, slurry, roll = _coating(operator)
    shown = _open(operator_client, slurry.code)
    assert shown["id"] == run.pk and shown["ended_at"] is None
    assert shown["step"] == "coating" and shown["station"] == "COAT-01"
    assert [i["item"] for i in shown["inputs"]] == [slurry.code]
    assert [o["code"] for o in shown["outputs"]] == [roll.code]
    assert shown == operator_client.get(f"/api/operations/{run.pk}/").json()


def test_an_item_outside_the_run_scanned_at_its_station_gets_the_station_s_run(operator, operator_client, stations):
    run, _, _ = _coating(operator)
    foil = register(operator, "current_collector_foil", 500, "m")
    assert _open(operator_client, foil.code)["id"] == run.pk
    assert _open(operator_client, foil.code, station="CAL-01") is None  # nothing open there, nor is the foil in a run
    assert _open(operator_client, foil.code, station=None) is None


def test_with_no_run_open_at_the_station_the_run_the_item_is_in(operator, operator_client, stations):
    run, slurry, roll = _coating(operator)
    assert _open(operator_client, roll.code, station="CAL-01")["id"] == run.pk  # an output
    assert _open(operator_client, slurry.code, station=None)["id"] == run.pk  # an input


def test_of_two_runs_open_at_the_station_the_one_the_item_is_in_else_the_latest(operator, operator_client, stations):
    coating, slurry, _ = _coating(operator, "coating", minutes=0)
    drying, _, dried = _coating(operator, "drying", minutes=5)
    assert _open(operator_client, slurry.code)["id"] == coating.pk  # in the earlier one
    assert _open(operator_client, dried.code)["id"] == drying.pk
    foil = register(operator, "current_collector_foil", 500, "m")
    assert _open(operator_client, foil.code)["id"] == drying.pk  # the latest started


def test_the_station_s_run_comes_before_a_run_elsewhere_the_item_is_in(operator, operator_client, stations):
    run, slurry, _ = _coating(operator)
    mixing = run_start(
        actor=operator,
        step="mixing",
        station="MIX-01",
        started_at=START,
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)],
        outputs=[OutputSpec(kind="slurry", quantity=5, unit="kg", polarity="cathode")],
    ).operation
    assert _open(operator_client, slurry.code, station="MIX-01")["id"] == mixing.pk
    assert _open(operator_client, slurry.code, station="COAT-01")["id"] == run.pk


def test_once_finished_the_scan_answers_null(operator, operator_client, stations):
    run, slurry, roll = _coating(operator)
    operation_finish(actor=operator, operation_id=run.pk, ended_at=START + timedelta(minutes=30))
    assert _open(operator_client, slurry.code) is None
    assert _open(operator_client, roll.code, station=None) is None
