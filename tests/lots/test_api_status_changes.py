"""GET /api/items/{code}/status-changes/: an item's recorded status changes, and their admin."""

from urllib.parse import quote

import pytest

from core.errors import ErrorCode
from lots.models import ItemStatusChange
from tests.factories import register
from traceability.holds import hold_place, hold_release
from traceability.scrapping import item_scrap
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db

FIELDS = {"id", "from_status", "to_status", "cause", "reason", "at", "by", "operation", "hold"}


def _url(code: str) -> str:
    return f"/api/items/{quote(code, safe='')}/status-changes/"


def _held_and_released(engineer, times: int):
    """A lot held and released `times` times: two changes each, each with its hold."""
    lot = register(engineer, "cathode_active_material", 5, "kg")
    holds = []
    for n in range(times):
        hold = hold_place(actor=engineer, reason=f"moisture {n}", item=lot).hold
        hold_release(actor=engineer, hold_id=hold.pk, reason=f"dry {n}")
        holds.append(hold)
    return lot, holds


def test_the_changes_of_an_item_newest_first_with_their_cause(operator, engineer, operator_client, stations):
    lot, (hold,) = _held_and_released(engineer, 1)
    result = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(item=lot.code)],
        outputs=[OutputSpec(kind="slurry", quantity=10, unit="kg")],
    )
    response = operator_client.get(_url(lot.code))
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert all(set(row) == FIELDS for row in rows)
    assert [(r["from_status"], r["to_status"], r["cause"], r["by"], r["operation"], r["hold"]) for r in rows] == [
        ("active", "consumed", "operation", operator.username, result.operation.pk, None),
        ("on_hold", "active", "hold", engineer.username, None, hold.pk),
        ("active", "on_hold", "hold", engineer.username, None, hold.pk),
    ]
    assert [r["reason"] for r in rows] == ["consumed", "dry 0", "moisture 0"]
    assert rows[0]["at"] >= rows[1]["at"] >= rows[2]["at"]
    # Another item's changes are not this one's.
    slurry = result.outputs[0]
    item_scrap(actor=operator, code=slurry.code, reason="skinned over")
    (scrapped,) = operator_client.get(_url(slurry.code)).json()["results"]
    assert (scrapped["to_status"], scrapped["cause"], scrapped["reason"]) == ("scrapped", "direct", "skinned over")
    assert (scrapped["operation"], scrapped["hold"]) == (None, None)


def test_an_item_without_changes_has_an_empty_page(operator, operator_client):
    lot = register(operator, "cathode_active_material", 5, "kg")
    body = operator_client.get(_url(lot.code)).json()
    assert (body["results"], body["next"]) == ([], None)


def test_the_changes_are_paginated(engineer, operator_client):
    lot, _holds = _held_and_released(engineer, 3)
    ids = list(ItemStatusChange.objects.filter(item=lot).order_by("-id").values_list("id", flat=True))
    first = operator_client.get(_url(lot.code), {"page_size": 4}).json()
    assert [r["id"] for r in first["results"]] == ids[:4]
    second = operator_client.get(first["next"]).json()
    assert ([r["id"] for r in second["results"]], second["next"]) == (ids[4:], None)


@pytest.mark.parametrize("times", [1, 20])
def test_query_count_does_not_grow_with_the_changes(engineer, operator_client, django_assert_num_queries, times):
    lot, _holds = _held_and_released(engineer, times)
    # 1 token + user with the user's groups (role), 2 the item (id and code), 3 the page of
    # changes joined to their actor (cursor pagination: no COUNT).
    with django_assert_num_queries(3):
        response = operator_client.get(_url(lot.code))
    assert len(response.json()["results"]) == 2 * times


def test_a_digital_link_names_the_item_too(engineer, operator_client):
    lot, _holds = _held_and_released(engineer, 1)
    link = operator_client.get(f"/api/items/{lot.code}/").json()["digital_link"]
    by_code = operator_client.get(_url(lot.code)).json()["results"]
    response = operator_client.get(_url(link))
    assert response.status_code == 200, response.content
    assert len(by_code) == 2 and response.json()["results"] == by_code


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("NO-SUCH-ITEM", ErrorCode.UNKNOWN_ITEM),
        ("x" * 5000, ErrorCode.UNKNOWN_ITEM),
        ("https://other.example/01/09506000134352/10/L1", ErrorCode.FOREIGN_LABEL),
    ],
)
def test_an_unknown_item_is_404(operator_client, code, error):
    response = operator_client.get(_url(code))
    assert response.status_code == 404, response.content
    assert response.json()["code"] == error


def test_a_nul_byte_in_the_code_is_400_naming_the_path(operator_client):
    response = operator_client.get(_url("bad\x00code"))
    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["errors"])) == (ErrorCode.NUL_CHARACTER, ["path"])


def test_without_a_token_nothing_is_shown(engineer, anon_client):
    lot, _holds = _held_and_released(engineer, 1)
    response = anon_client.get(_url(lot.code))
    assert response.status_code == 401
    assert "results" not in response.json()


def test_the_list_is_read_only(engineer, engineer_client):
    lot, _holds = _held_and_released(engineer, 1)
    response = engineer_client.post(_url(lot.code), {}, format="json")
    assert response.status_code == 405
    assert ItemStatusChange.objects.filter(item=lot).count() == 2


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_web(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_admin_lists_the_changes_read_only(engineer, admin_web):
    lot, _holds = _held_and_released(engineer, 1)
    page = admin_web.get("/admin/lots/itemstatuschange/")
    assert page.status_code == 200
    assert page.content.decode().count(lot.code) == 2
    assert b"/admin/lots/itemstatuschange/add/" not in page.content
    change = ItemStatusChange.objects.filter(item=lot).first()
    detail = admin_web.get(f"/admin/lots/itemstatuschange/{change.pk}/change/")
    assert detail.status_code == 200  # a view page: no form to save
    assert b'name="_save"' not in detail.content
    assert admin_web.get("/admin/lots/itemstatuschange/add/").status_code == 403
    assert admin_web.post(f"/admin/lots/itemstatuschange/{change.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ItemStatusChange.objects.filter(item=lot).count() == 2


def test_the_item_admin_shows_its_changes_inline_read_only(engineer, admin_web):
    lot, _holds = _held_and_released(engineer, 1)
    page = admin_web.get(f"/admin/lots/item/{lot.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "moisture 0" in html and "dry 0" in html
    assert "status_changes-0-reason" not in html  # no editable field for a change
    assert 'name="status_changes-0-DELETE"' not in html
