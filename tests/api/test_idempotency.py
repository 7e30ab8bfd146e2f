"""Idempotency-Key on POST /api/operations/ (and the other writes)."""

import pytest

from core.errors import ErrorCode
from lots.models import Item
from tests.factories import register
from tests.traceability.helpers import row_counts, slitting_body
from traceability.models import Operation

pytestmark = pytest.mark.django_db

URL = "/api/operations/"
KEY = "HTTP_IDEMPOTENCY_KEY"


@pytest.fixture
def roll(engineer, stations):
    return register(engineer, "calendered_roll", 520, "m", code="CAL-0007", polarity="cathode")


def test_same_key_and_body_replays_the_first_response(operator_client, roll):
    first = operator_client.post(URL, slitting_body(), format="json", **{KEY: "slt-2026-03-02-0800"})
    assert first.status_code == 201
    counts = row_counts()
    again = operator_client.post(URL, slitting_body(), format="json", **{KEY: "slt-2026-03-02-0800"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replay"] == "true"
    assert "Idempotent-Replay" not in first
    assert row_counts() == counts
    assert Operation.objects.count() == 1


def test_same_key_with_another_body_is_a_409(operator_client, roll):
    assert operator_client.post(URL, slitting_body(), format="json", **{KEY: "k-1"}).status_code == 201
    counts = row_counts()
    other = slitting_body(parameters={"slitting_speed": {"value": 120, "unit": "m/min"}})
    response = operator_client.post(URL, other, format="json", **{KEY: "k-1"})
    assert response.status_code == 409
    assert response.json()["code"] == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert "Idempotency-Key" in response.json()["errors"]
    assert row_counts() == counts


def test_a_refused_request_does_not_use_up_its_key(operator_client, roll):
    bad = slitting_body(step="levitation")
    assert operator_client.post(URL, bad, format="json", **{KEY: "k-2"}).status_code == 400
    response = operator_client.post(URL, slitting_body(), format="json", **{KEY: "k-2"})
    assert response.status_code == 201
    assert Item.objects.get(code="CAL-0007").status == "consumed"


def test_a_conflict_does_not_use_up_its_key(operator_client, roll):
    greedy = slitting_body(inputs=[{"item": "CAL-0007", "quantity": 600, "unit": "m"}])
    assert operator_client.post(URL, greedy, format="json", **{KEY: "k-3"}).status_code == 409
    assert operator_client.post(URL, slitting_body(), format="json", **{KEY: "k-3"}).status_code == 201


def test_keys_belong_to_their_user(operator_client, engineer_client, roll):
    assert operator_client.post(URL, slitting_body(), format="json", **{KEY: "shared"}).status_code == 201
    # The engineer's "shared" is a different key: the request runs, and the roll is gone by now.
    response = engineer_client.post(URL, slitting_body(), format="json", **{KEY: "shared"})
    assert response.status_code == 409
    assert response.json()["code"] == ErrorCode.ITEM_CONSUMED


def test_without_a_key_the_same_body_is_a_second_write(operator_client, engineer, stations):
    register(engineer, "binder", 5, "kg", code="PVDF-1")
    body = {
        "step": "mixing",
        "station": "MIX-01",
        "inputs": [{"item": "PVDF-1", "quantity": 1, "unit": "kg"}],
        "outputs": [{"kind": "slurry", "quantity": 1, "unit": "kg"}],
    }
    assert operator_client.post(URL, body, format="json").status_code == 201
    assert operator_client.post(URL, body, format="json").status_code == 201
    assert Operation.objects.count() == 2
    assert float(Item.objects.get(code="PVDF-1").quantity) == 3


def test_a_key_too_long_is_refused(operator_client, roll):
    response = operator_client.post(URL, slitting_body(), format="json", **{KEY: "k" * 256})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert Operation.objects.count() == 0


def test_item_register_replays_too(operator_client, stations):
    body = {"kind": "binder", "quantity": 5, "unit": "kg"}
    first = operator_client.post("/api/items/", body, format="json", **{KEY: "reg-1"})
    again = operator_client.post("/api/items/", body, format="json", **{KEY: "reg-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["code"] == first.json()["code"]
    assert Item.objects.filter(kind="binder").count() == 1
