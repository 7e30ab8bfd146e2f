"""The holds page places a stretch hold, the list shows the stretch, and an item page shows only
the holds that catch that item (issue 11, point 8), through Django's test client."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from lots.models import Item, ItemStatus
from tests.traceability.stretch_line import CutLane, cut_lane
from traceability.holds import hold_place, hold_release
from traceability.models import Hold

pytestmark = pytest.mark.django_db
REASON = "Thickness deviation at the slitter"


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _said(response: Any) -> str:
    return " | ".join(str(message) for message in response.context["messages"])


@pytest.fixture
def cut(engineer: User, stations: Any) -> CutLane:
    return cut_lane(engineer)


def _form(**changes: str) -> dict[str, str]:
    return {"reason": REASON, "item": "LANE-1", "from_m": "12.0", "to_m": "13.5", "downstream": "on"} | changes


def test_an_engineer_places_a_stretch_hold_from_the_holds_page(engineer: User, cut: CutLane) -> None:
    browser = _browser(engineer)
    form = browser.get("/holds/?item=LANE-1")
    assert b'name="from_m"' in form.content and b'name="to_m"' in form.content
    placed = browser.post("/holds/", _form())
    hold = Hold.objects.get()
    assert placed["Location"] == f"/holds/{hold.pk}/"
    assert (hold.item_id, hold.from_m, hold.to_m, hold.downstream) == (cut.lane.pk, 12.0, 13.5, True)
    assert Item.objects.get(code="LANE-1").status == ItemStatus.ACTIVE
    held = set(Item.objects.filter(status=ItemStatus.ON_HOLD).values_list("code", flat=True))
    assert held == {"SH-1", "SH-3", cut.cell_held.code}
    detail = browser.get(placed["Location"]).content.decode()
    assert "LANE-1</a>, metres 12.0-13.5 and everything made from it" in detail
    listed = browser.get("/holds/").content.decode()
    assert "LANE-1, metres 12.0-13.5 and all made from it" in listed


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"to_m": "12.0"}, "to_m must be greater than from_m"),
        ({"to_m": "900"}, "beyond the 104 m of LANE-1"),
        ({"to_m": ""}, "Give to_m with from_m"),
        (
            {"item": "", "station": "CUT-01", "window_from": "2026-03-02T05:00", "window_to": "2026-03-02T09:00"},
            "A stretch is held on an item",
        ),
    ],
)
def test_a_bad_stretch_on_the_holds_page_is_said_in_plain_words_and_holds_nothing(
    engineer: User, cut: CutLane, changes: dict[str, str], said: str
) -> None:
    response = _browser(engineer).post("/holds/", _form(**changes), follow=True)
    assert said in _said(response)
    assert not Hold.objects.exists()
    assert not Item.objects.filter(status=ItemStatus.ON_HOLD).exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "twelve"])
def test_a_stretch_that_is_not_a_metre_is_a_form_error(engineer: User, cut: CutLane, value: str) -> None:
    response = _browser(engineer).post("/holds/", _form(from_m=value))
    assert response.status_code == 200
    assert "from_m" in response.context["form"].errors
    assert not Hold.objects.exists()


def test_item_pages_show_only_the_holds_that_catch_the_item(engineer: User, cut: CutLane) -> None:
    hold = hold_place(actor=engineer, item=cut.lane, from_m=12.0, to_m=13.5, reason=REASON, downstream=True).hold
    browser = _browser(engineer)
    lane = browser.get("/items/LANE-1/").content.decode()
    assert "METRES 12.0-13.5 ON HOLD" in lane and "The rest of LANE-1 may be used." in lane
    assert "⚠ ON HOLD" not in lane
    caught = browser.get("/items/SH-1/").content.decode()
    assert f'⚠ ON HOLD: <a href="/holds/{hold.pk}/">hold {hold.pk}</a>' in caught
    assert "it holds LANE-1 metres 12.0-13.5" in caught
    # Cut from 13.5-14.0 m, next to the stretch: no hold appears on its page.
    elsewhere = browser.get("/items/SH-4/").content.decode()
    assert f"hold {hold.pk}" not in elsewhere and "ON HOLD" not in elsewhere
    hold_release(actor=engineer, hold_id=hold.pk, reason="gauge recalibrated")
    lane = browser.get("/items/LANE-1/").content.decode()
    assert "Metres 12.0-13.5 were held" in lane and "ON HOLD" not in lane
    assert "Was held" in browser.get("/items/SH-1/").content.decode()
