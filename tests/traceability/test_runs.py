"""Runs open while the machine streams: recorded at their start without ended_at, finished by
POST /api/operations/{id}/finish/, the only change an operation ever takes (issue 13, point 2)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode
from lots.models import Item
from tests.factories import register
from tests.traceability.helpers import row_counts
from traceability.holds import hold_place, hold_release
from traceability.models import Operation
from traceability.runs import operation_finish, run_start, runs_open
from traceability.services import InputSpec, OutputSpec

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
URL = "/api/operations/"


def finish_url(pk: int) -> str:
    return f"{URL}{pk}/finish/"


@pytest.fixture
def coating_run(operator_client: APIClient, engineer: User, stations: Any) -> dict[str, Any]:
    """An open coating run at COAT-01 from 07:00Z, making one coated roll, through the API."""
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    body = {
        "step": "coating",
        "station": "COAT-01",
        "started_at": START.isoformat(),
        "inputs": [{"item": slurry.code, "quantity": 8, "unit": "kg"}],
        "outputs": [{"kind": "coated_roll", "quantity": 100, "unit": "m"}],
    }
    response = operator_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["ended_at"] is None
    return response.json()


def test_finishing_an_open_run_answers_the_operation_as_its_detail_does(operator_client, operator, coating_run):
    pk = coating_run["id"]
    response = operator_client.post(finish_url(pk), {"ended_at": "2026-03-02T09:30:00+01:00"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["ended_at"] == "2026-03-02T08:30:00Z"
    assert response.json() == operator_client.get(f"{URL}{pk}/").json()
    assert response.json()["outputs"] == coating_run["outputs"]  # nothing else changed
    assert Operation.objects.get(pk=pk).ended_at == START + timedelta(hours=1, minutes=30)
    event = AuditEvent.objects.get(action="operation.finish")
    assert (event.entity, event.entity_id, event.station, event.actor) == ("operation", str(pk), "COAT-01", operator)
    assert event.before == {"ended_at": None}
    assert event.after == {"ended_at": "2026-03-02T09:30:00+01:00"}  # as sent


def test_the_open_filter_lists_runs_without_an_end(operator_client, coating_run, engineer):
    closed = register(engineer, "slurry", 5, "kg", polarity="cathode")
    done = operator_client.post(
        URL,
        {
            "step": "coating",
            "station": "COAT-01",
            "started_at": "2026-03-01T07:00:00Z",
            "ended_at": "2026-03-01T08:00:00Z",
            "inputs": [{"item": closed.code, "quantity": 1, "unit": "kg"}],
            "outputs": [{"kind": "coated_roll", "quantity": 50, "unit": "m"}],
        },
        format="json",
    ).json()

    def ids(**query: str) -> list[int]:
        response = operator_client.get(URL, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(open="true") == [coating_run["id"]]
    assert ids(open="false") == [done["id"]]
    assert ids(open="true", station="COAT-01", step="coating") == [coating_run["id"]]
    assert ids(open="true", station="CAL-01") == []
    operator_client.post(finish_url(coating_run["id"]), {"ended_at": "2026-03-02T08:00:00Z"}, format="json")
    assert ids(open="true") == []
    assert sorted(ids(open="false")) == sorted([coating_run["id"], done["id"]])


@pytest.mark.parametrize("value", ["maybe", "", "1\x00"])
def test_an_open_filter_that_is_not_a_boolean_is_a_400_naming_it(operator_client, value):
    response = operator_client.get(URL, {"open": value})
    assert response.status_code == 400, response.json()
    body = response.json()
    assert "open" in body["errors"] or body["code"] == ErrorCode.NUL_CHARACTER


def test_a_second_finish_is_a_409_and_the_first_end_stays(operator_client, coating_run):
    pk = coating_run["id"]
    first = operator_client.post(finish_url(pk), {"ended_at": "2026-03-02T08:00:00Z"}, format="json")
    assert first.status_code == 200
    before = row_counts()
    second = operator_client.post(finish_url(pk), {"ended_at": "2026-03-02T09:00:00Z"}, format="json")

    assert second.status_code == 409, second.json()
    assert second.json()["code"] == ErrorCode.OPERATION_FINISHED
    assert Operation.objects.get(pk=pk).ended_at == START + timedelta(hours=1)
    assert row_counts() == before


def test_an_operation_recorded_with_its_end_cannot_be_finished(operator_client, engineer, stations):
    roll = register(engineer, "calendered_roll", 100, "m", polarity="cathode")
    done = operator_client.post(
        URL,
        {
            "step": "slitting",
            "station": "SLT-01",
            "started_at": "2026-03-02T07:00:00Z",
            "ended_at": "2026-03-02T07:30:00Z",
            "inputs": [{"item": roll.code}],
            "outputs": [{"kind": "slit_roll", "quantity": 100, "unit": "m"}],
        },
        format="json",
    ).json()
    response = operator_client.post(finish_url(done["id"]), {"ended_at": "2026-03-02T08:00:00Z"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == ErrorCode.OPERATION_FINISHED


FAR_FUTURE = (timezone.now() + timedelta(days=365)).isoformat()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({}, ErrorCode.INVALID, id="missing"),
        pytest.param({"ended_at": None}, ErrorCode.INVALID, id="null"),
        pytest.param({"ended_at": ""}, ErrorCode.BAD_TIME, id="empty"),
        pytest.param({"ended_at": 1741000000}, ErrorCode.BAD_TIME, id="a-number"),
        pytest.param({"ended_at": ["2026-03-02T08:00:00Z"]}, ErrorCode.BAD_TIME, id="a-list"),
        pytest.param({"ended_at": "yesterday"}, ErrorCode.BAD_TIME, id="garbage"),
        pytest.param({"ended_at": "2026-03-02T08:00:00"}, ErrorCode.BAD_TIME, id="naive"),
        pytest.param({"ended_at": "2026-03-02"}, ErrorCode.BAD_TIME, id="a-date"),
        pytest.param({"ended_at": "2200-01-01T00:00:00Z"}, ErrorCode.OUT_OF_RANGE, id="year-2200"),
        pytest.param({"ended_at": "1969-12-31T23:59:59Z"}, ErrorCode.OUT_OF_RANGE, id="before-1970"),
        pytest.param({"ended_at": "9999-12-31T23:59:59+14:00"}, ErrorCode.OUT_OF_RANGE, id="year-9999"),
        pytest.param({"ended_at": "2026-03-02T08:00:00+18:00"}, ErrorCode.OUT_OF_RANGE, id="offset-18h"),
        pytest.param({"ended_at": "2026-03-02T06:59:59Z"}, ErrorCode.INVALID, id="before-start"),
        pytest.param({"ended_at": FAR_FUTURE}, ErrorCode.INVALID, id="next-year"),
    ],
)
def test_a_bad_end_is_a_400_naming_ended_at_and_the_run_stays_open(operator_client, coating_run, body, code):
    before = row_counts()
    response = operator_client.post(finish_url(coating_run["id"]), body, format="json")

    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert list(errors) == ["ended_at"], errors
    # A field error from the serializer carries its own code in the message list; the service's
    # answer carries it at the top.
    assert response.json()["code"] in {code, ErrorCode.INVALID}
    assert Operation.objects.get(pk=coating_run["id"]).ended_at is None
    assert row_counts() == before


def test_the_end_may_equal_the_start(operator_client, coating_run):
    response = operator_client.post(finish_url(coating_run["id"]), {"ended_at": START.isoformat()}, format="json")
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("raw", "content_type", "code"),
    [
        pytest.param(b'{"ended_at": "2026-03-02T08:00:00Z"', "application/json", ErrorCode.MALFORMED, id="truncated"),
        pytest.param(b"not json", "application/json", ErrorCode.MALFORMED, id="garbage"),
        pytest.param(
            b'{"ended_at": "2026-03-02T08:00\\u0000Z"}', "application/json", ErrorCode.NUL_CHARACTER, id="nul"
        ),
        pytest.param(
            b'{"ended_at": "2026-03-02T08:00:00Z\x00"}', "application/json", ErrorCode.MALFORMED, id="raw-nul"
        ),
        pytest.param(b'["2026-03-02T08:00:00Z"]', "application/json", ErrorCode.INVALID, id="a-list"),
        pytest.param(b'{"ended_at": 1e999}', "application/json", None, id="infinite-number"),
    ],
)
def test_a_body_that_is_not_a_finish_is_a_400_and_changes_nothing(
    operator_client, coating_run, raw, content_type, code
):
    before = row_counts()
    response = operator_client.generic("POST", finish_url(coating_run["id"]), raw, content_type=content_type)

    assert response.status_code == 400, response.content
    if code is not None:
        assert response.json()["code"] == code
    assert Operation.objects.get(pk=coating_run["id"]).ended_at is None
    assert row_counts() == before


def test_an_unknown_operation_is_a_404(operator_client, coating_run):
    body = {"ended_at": "2026-03-02T08:00:00Z"}
    response = operator_client.post(finish_url(coating_run["id"] + 1000), body, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == ErrorCode.NOT_FOUND
    assert operator_client.post(f"{URL}abc/finish/", body, format="json").status_code == 404


def test_finishing_needs_a_token_and_a_role(anon_client, coating_run, db):
    body = {"ended_at": "2026-03-02T08:00:00Z"}
    assert anon_client.post(finish_url(coating_run["id"]), body, format="json").status_code == 401
    nobody = APIClient()
    user = User.objects.create_user(username="visitor-without-role")
    nobody.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert nobody.post(finish_url(coating_run["id"]), body, format="json").status_code == 403
    assert Operation.objects.get(pk=coating_run["id"]).ended_at is None


def test_an_idempotency_key_replays_the_finish_and_refuses_another_body(operator_client, coating_run):
    url, key = finish_url(coating_run["id"]), {"HTTP_IDEMPOTENCY_KEY": "finish-coat-01-0830"}
    first = operator_client.post(url, {"ended_at": "2026-03-02T08:30:00Z"}, format="json", **key)
    again = operator_client.post(url, {"ended_at": "2026-03-02T08:30:00Z"}, format="json", **key)
    other = operator_client.post(url, {"ended_at": "2026-03-02T08:45:00Z"}, format="json", **key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replay"] == "true"
    assert other.status_code == 409
    assert other.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert AuditEvent.objects.filter(action="operation.finish").count() == 1


# --- The services -------------------------------------------------------------------------------


def _start(actor: User, step: str = "coating", station: str = "COAT-01", **extra: Any) -> Operation:
    slurry = register(actor, "slurry", 10, "kg", polarity="cathode")
    return run_start(
        actor=actor,
        step=step,
        station=station,
        started_at=extra.pop("started_at", START),
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)] if step == "coating" else [],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")] if step == "coating" else [],
        **extra,
    ).operation


def test_a_second_run_of_a_step_open_at_the_station_is_refused(operator, stations):
    first = _start(operator)
    items = Item.objects.count()
    with pytest.raises(Conflict) as refused:
        _start(operator, started_at=START + timedelta(hours=1))
    assert refused.value.code == ErrorCode.RUN_OPEN
    assert f"Run {first.pk}" in refused.value.message
    assert Item.objects.count() == items + 1  # the second run's slurry only: nothing of the run
    assert list(runs_open(station=stations["COAT-01"])) == [first]

    operation_finish(actor=operator, operation_id=first.pk, ended_at=START + timedelta(minutes=50))
    second = _start(operator, started_at=START + timedelta(hours=1))
    assert list(runs_open(station=stations["COAT-01"])) == [second]


def test_another_step_of_the_station_may_run_alongside(operator, stations):
    coating = _start(operator)
    roll = coating.outputs.get()
    drying = run_start(
        actor=operator,
        step="drying",
        station="COAT-01",
        started_at=START + timedelta(minutes=1),
        inputs=[InputSpec(roll.code, consume=False)],
        outputs=[],
    ).operation
    assert set(runs_open(station=stations["COAT-01"])) == {coating, drying}
    assert list(runs_open(station=stations["COAT-01"], step="drying")) == [drying]


def test_a_containment_window_after_an_open_runs_start_holds_its_roll(operator, engineer, stations):
    run = _start(operator)
    roll = run.outputs.get()
    later = {"station": "COAT-01", "window_from": START + timedelta(hours=1), "window_to": START + timedelta(hours=2)}

    caught = hold_place(actor=engineer, reason="oven 2 over temperature", downstream=True, **later)
    assert roll.code in caught.items, "the roll was being coated in the window"

    hold_release(actor=engineer, hold_id=caught.hold.pk, reason="oven checked")
    operation_finish(actor=operator, operation_id=run.pk, ended_at=START + timedelta(minutes=30))
    after = hold_place(actor=engineer, reason="oven 2 over temperature again", downstream=True, **later)
    assert roll.code not in after.items, "finished before the window"
