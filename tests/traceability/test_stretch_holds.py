"""A stretch hold: metres [from_m, to_m) of a lane are held, what holds them is caught, and the
rest of the lane stays usable (issue 11, point 8)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from core.errors import ErrorCode
from lots.models import Item, ItemStatus
from tests.factories import T0, register
from tests.traceability.helpers import row_counts
from tests.traceability.stretch_line import CutLane, cut_lane
from traceability.holds import hold_place, hold_release
from traceability.models import Hold, HoldItem

pytestmark = pytest.mark.django_db

HOLDS = "/api/holds/"
OPERATIONS = "/api/operations/"
REASON = "Thickness deviation (laser gauge at the slitter)"


@pytest.fixture
def cut(engineer, stations) -> CutLane:
    return cut_lane(engineer)


def _hold(client, code: str, **extra):
    body = {"item": code, "from_m": 12.0, "to_m": 13.5, "reason": REASON, "downstream": True} | extra
    return client.post(HOLDS, body, format="json")


def _status(code: str) -> str:
    return Item.objects.get(code=code).status


def _cut_body(lane: str, lo: float | None, hi: float | None, **changes) -> dict:
    source: dict[str, object] = {"item": lane} if lo is None else {"item": lane, "from_m": lo, "to_m": hi}
    body = {
        "step": "cutting",
        "station": "CUT-01",
        "started_at": "2026-03-03T08:00:00+01:00",
        "inputs": [{"item": lane, "quantity": 0.5, "unit": "m", "consume": False}],
        "outputs": [{"kind": "electrode_sheet", "from": [source]}],
    }
    return body | changes


def test_a_stretch_hold_catches_exactly_the_sheets_that_hold_its_metres_and_what_was_made_of_them(engineer_client, cut):
    response = _hold(engineer_client, cut.lane.code)
    assert response.status_code == 201, response.json()
    body = response.json()
    # Sheets 1 and 3 (still active) and the cell of sheet 2; sheet 2 itself is consumed.
    expected = sorted(["SH-1", "SH-3", cut.cell_held.code])
    assert (body["items"], body["items_on_hold"]) == (expected, 3)
    assert (body["from_m"], body["to_m"], body["item"]) == (12.0, 13.5, cut.lane.code)
    for code in expected:
        assert _status(code) == ItemStatus.ON_HOLD
    # Touching the stretch at 12.0 or at 13.5 is not holding it: sheets 0 and 4 stay free.
    assert _status("SH-4") == ItemStatus.ACTIVE
    assert _status(cut.cell_free.code) == ItemStatus.ACTIVE
    # The lane itself stays usable, and no hold item names it.
    assert _status(cut.lane.code) == ItemStatus.ACTIVE
    assert not HoldItem.objects.filter(item=cut.lane).exists()
    detail = engineer_client.get(f"{HOLDS}{body['id']}/").json()
    assert (detail["from_m"], detail["to_m"], detail["items"]) == (12.0, 13.5, expected)


def test_cutting_an_overlapping_stretch_is_refused_and_writes_nothing(engineer_client, operator_client, cut):
    assert _hold(engineer_client, cut.lane.code).status_code == 201
    before = row_counts()
    response = operator_client.post(OPERATIONS, _cut_body(cut.lane.code, 13.4, 13.9), format="json")
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == ErrorCode.STRETCH_ON_HOLD
    assert "outputs[0].from[0]" in body["errors"]
    assert "12.0-13.5" in body["detail"]
    assert row_counts() == before
    assert float(Item.objects.get(code=cut.lane.code).quantity) == pytest.approx(101.5)


@pytest.mark.parametrize(("lo", "hi"), [(13.5, 14.0), (20.0, 20.5), (11.5, 12.0)])
def test_cutting_metres_outside_the_held_stretch_works(engineer_client, operator_client, cut, lo, hi):
    assert _hold(engineer_client, cut.lane.code).status_code == 201
    response = operator_client.post(OPERATIONS, _cut_body(cut.lane.code, lo, hi), format="json")
    assert response.status_code == 201, response.json()
    sheet = response.json()["outputs"][0]
    assert sheet["status"] == ItemStatus.ACTIVE


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "outputs[0].from"),  # a from entry without metres: the whole lane
        ({"outputs": [{"kind": "electrode_sheet"}]}, "outputs[0].from"),  # an output from every input
        ({"inputs": [{"item": "LANE-1", "consume": True}], "outputs": []}, "inputs[0].item"),
    ],
)
def test_taking_the_whole_lane_is_refused(engineer_client, operator_client, cut, changes, field):
    assert _hold(engineer_client, cut.lane.code).status_code == 201
    before = row_counts()
    response = operator_client.post(OPERATIONS, _cut_body(cut.lane.code, None, None, **changes), format="json")
    assert response.status_code == 409, response.json()
    assert field in response.json()["errors"]
    assert row_counts() == before
    assert _status(cut.lane.code) == ItemStatus.ACTIVE


def test_a_whole_lane_hold_still_holds_the_lane(engineer_client, cut):
    response = engineer_client.post(
        HOLDS, {"item": cut.lane.code, "reason": "wrong foil", "downstream": True}, format="json"
    )
    assert response.status_code == 201
    assert cut.lane.code in response.json()["items"]
    assert _status(cut.lane.code) == ItemStatus.ON_HOLD
    assert _status("SH-4") == ItemStatus.ON_HOLD


def test_releasing_the_stretch_frees_what_it_caught_and_the_metres(engineer, engineer_client, operator_client, cut):
    hold_id = _hold(engineer_client, cut.lane.code).json()["id"]
    # Sheet 3 is also caught by a hold of its own: it stays held until that one is released too.
    own = hold_place(actor=engineer, item=Item.objects.get(code="SH-3"), reason="burr")
    response = engineer_client.post(f"{HOLDS}{hold_id}/release/", {"reason": "gauge recalibrated"}, format="json")
    assert response.status_code == 200, response.json()
    assert _status("SH-1") == ItemStatus.ACTIVE
    assert _status(cut.cell_held.code) == ItemStatus.ACTIVE
    assert _status("SH-3") == ItemStatus.ON_HOLD
    assert _status(cut.lane.code) == ItemStatus.ACTIVE
    hold_release(actor=engineer, hold_id=own.hold.pk, reason="burr removed")
    assert _status("SH-3") == ItemStatus.ACTIVE
    # The held metres may be cut again.
    cutting = operator_client.post(OPERATIONS, _cut_body(cut.lane.code, 12.5, 13.0), format="json")
    assert cutting.status_code == 201, cutting.json()


def test_a_stretch_hold_does_not_restore_a_sheet_another_hold_still_holds(engineer, engineer_client, cut):
    whole = hold_place(actor=engineer, item=cut.lane, reason="wrong foil", downstream=True)
    stretch = _hold(engineer_client, cut.lane.code).json()
    hold_release(actor=engineer, hold_id=stretch["id"], reason="gauge recalibrated")
    assert {_status(code) for code in ["SH-1", "SH-3", "SH-4", cut.lane.code]} == {ItemStatus.ON_HOLD}
    hold_release(actor=engineer, hold_id=whole.hold.pk, reason="foil checked")
    assert {_status(code) for code in ["SH-1", "SH-3", "SH-4", cut.lane.code]} == {ItemStatus.ACTIVE}


def test_a_scan_of_the_lane_warns_of_the_held_metres_but_the_lane_is_usable(engineer_client, operator_client, cut):
    assert _hold(engineer_client, cut.lane.code).status_code == 201
    response = operator_client.post("/api/scan/", {"code": cut.lane.code, "station": "CUT-01"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["item"]["status"] == ItemStatus.ACTIVE
    assert any(w.startswith(f"metres 12.0-13.5 on hold: {REASON}") for w in body["warnings"]), body["warnings"]
    # A sheet cut from elsewhere says nothing of it.
    other = operator_client.post("/api/scan/", {"code": "SH-4", "station": "STK-01"}, format="json").json()
    assert other["warnings"] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"from_m": 13.5, "to_m": 13.5}, "to_m"),
        ({"from_m": 13.5, "to_m": 12.0}, "to_m"),
        ({"from_m": -1, "to_m": 2}, "from_m"),
        ({"from_m": "NaN"}, "from_m"),
        ({"to_m": "Infinity"}, "to_m"),
        ({"to_m": 1e300}, "to_m"),
        ({"to_m": 104.5}, "to_m"),
        ({"from_m": None}, "from_m"),
        ({"to_m": None}, "to_m"),
        ({"from_m": True}, "from_m"),
        ({"downstream": False}, "downstream"),
    ],
)
def test_a_bad_stretch_is_a_400_naming_the_field(engineer_client, cut, changes, field):
    before = row_counts()
    response = _hold(engineer_client, cut.lane.code, **changes)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert row_counts() == before


def test_a_stretch_of_a_counted_item_is_a_400(engineer, engineer_client, cut):
    response = _hold(engineer_client, cut.cell_free.code)
    assert response.status_code == 400
    assert "from_m" in response.json()["errors"]
    lot = register(engineer, "binder", 5, "kg")
    assert "from_m" in _hold(engineer_client, lot.code).json()["errors"]


@pytest.mark.parametrize(("from_m", "to_m"), [(5.0, None), (None, 5.0), (5.0, 5.0), (6.0, 5.0), (-1.0, 5.0)])
def test_the_database_refuses_a_stretch_that_is_not_both_ordered_and_positive(engineer, cut, from_m, to_m):
    with pytest.raises(IntegrityError), transaction.atomic():
        Hold.objects.create(reason="x", item=cut.lane, from_m=from_m, to_m=to_m, downstream=True, created_by=engineer)


def test_the_database_refuses_a_stretch_on_a_window_hold(engineer, cut, stations):
    with pytest.raises(IntegrityError), transaction.atomic():
        Hold.objects.create(
            reason="x",
            station=stations["CUT-01"],
            window_from=T0,
            window_to=T0 + timedelta(hours=1),
            from_m=1.0,
            to_m=2.0,
            created_by=engineer,
        )


def test_a_stretch_on_a_station_window_is_a_400(engineer_client, cut):
    window = {"station": "CUT-01", "from": "2026-03-02T05:00:00Z", "to": "2026-03-02T09:00:00Z"}
    body = {"reason": "x", "downstream": True, "from_m": 1, "to_m": 2} | window
    response = engineer_client.post(HOLDS, body, format="json")
    assert response.status_code == 400, response.json()
    assert "from_m" in response.json()["errors"]
    assert not Hold.objects.exists()
