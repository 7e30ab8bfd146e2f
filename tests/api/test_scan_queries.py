"""A scan is what a station does many times a second: its queries are counted, and the shortcuts
taken for them (the role read with the token, the steps with the station, held metres only when
there are some) answer what the longer way did. See docs/api.md, "Scanning"."""

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import register
from traceability.holds import hold_place
from traceability.models import Station

pytestmark = pytest.mark.django_db

SCAN = "/api/scan/"


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _scan(client: APIClient, body: dict[str, Any]) -> Any:
    return client.post(SCAN, body, format="json")


def test_a_scan_at_a_station_is_four_queries(operator, stations, django_assert_num_queries):
    roll = register(operator, "coated_roll", 100, "m", polarity="cathode")
    client = _client(operator)
    # token, user and role; station and its steps; item and whether metres of it are held; open run
    with django_assert_num_queries(4):
        response = _scan(client, {"code": roll.code, "station": "COAT-01"})
    assert response.status_code == 200, response.content
    assert response.json()["next_steps"] == ["coating", "drying"]
    assert response.json()["warnings"] == [] and response.json()["open_operation"] is None


def test_a_scan_without_a_station_is_three_queries(operator, stations, django_assert_num_queries):
    roll = register(operator, "coated_roll", 100, "m", polarity="cathode")
    client = _client(operator)
    with django_assert_num_queries(3):
        response = _scan(client, {"code": roll.code})
    assert response.status_code == 200 and response.json()["next_steps"] == []


def test_a_station_with_no_steps_answers_none_and_an_unknown_one_is_400(operator, stations):
    Station.objects.create(code="SPARE-01", name="Spare")
    roll = register(operator, "coated_roll", 100, "m", polarity="cathode")
    client = _client(operator)
    response = _scan(client, {"code": roll.code, "station": "SPARE-01"})
    assert response.status_code == 200 and response.json()["next_steps"] == []
    response = _scan(client, {"code": roll.code, "station": "NOPE-01"})
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_station" and "station" in response.json()["errors"]


def test_held_metres_are_still_warned_of(engineer, operator, stations):
    roll = register(operator, "coated_roll", 100, "m", polarity="cathode")
    hold = hold_place(actor=engineer, item=roll, reason="coating weight low", from_m=10, to_m=20, downstream=True).hold
    warnings = _scan(_client(operator), {"code": roll.code, "station": "COAT-01"}).json()["warnings"]
    assert warnings == [f"{hold.stretch} on hold: coating weight low (hold {hold.pk})"]


@pytest.mark.parametrize(("groups", "status"), [([], 403), (["operator"], 200), (["viewer", "engineer"], 200)])
def test_the_role_read_with_the_token_decides_as_before(operator, stations, groups, status):
    roll = register(operator, "coated_roll", 100, "m", polarity="cathode")
    user = User.objects.create_user(username="scanner")
    user.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in groups])
    assert _scan(_client(user), {"code": roll.code}).status_code == status


def test_a_bad_or_inactive_token_is_still_401(operator, stations):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert _scan(client, {"code": "X"}).status_code == 401
    client = _client(operator)
    operator.is_active = False
    operator.save()
    assert _scan(client, {"code": "X"}).status_code == 401
