"""Holds, recalls and containment windows: through the API and through the services."""

from datetime import timedelta, timezone

import pytest

from core.errors import ErrorCode, InvalidInput
from lots.models import Item, ItemStatus
from tests.factories import T0, build_line, register
from tests.support import line_fixtures_for_the_module
from tests.traceability.helpers import row_counts
from traceability.holds import hold_place, hold_release
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

pytestmark = pytest.mark.django_db

URL = "/api/holds/"

# The factory line of tests/traceability/conftest.py, built once for the module's tests.
module_line, engineer, stations, line = line_fixtures_for_the_module(build_line)


def _status(*codes: str) -> dict[str, str]:
    return dict(Item.objects.filter(code__in=codes).values_list("code", "status"))


def _codes(items) -> list[str]:
    return sorted(i.code for i in items)


def _active_codes() -> set[str]:
    return set(Item.objects.filter(status=ItemStatus.ACTIVE).values_list("code", flat=True))


def test_hold_one_item(engineer_client, line):
    cell = line.cells[1]
    response = engineer_client.post(URL, {"item": cell.code, "reason": "tab weld crack"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["items_on_hold"], body["items"]) == (1, [cell.code])
    assert isinstance(body["id"], int)
    assert _status(*(c.code for c in line.cells)) == {
        c.code: ("on_hold" if c == cell else "active") for c in line.cells
    }
    detail = engineer_client.get(f"{URL}{body['id']}/").json()
    assert (detail["item"], detail["items"], detail["released_at"]) == (cell.code, [cell.code], None)


def test_recall_with_downstream_catches_everything_made_from_the_lot(engineer_client, line):
    nmc = line.lots["nmc"]
    active_before = _active_codes()
    response = engineer_client.post(
        URL, {"item": nmc.code, "reason": "supplier recall NMC-A1", "downstream": True}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    # What still exists physically: the lot, the rest of the slurry, every cell. Consumed
    # intermediates (rolls, lanes, sheets) are walked through but not held.
    expected = sorted([nmc.code, line.slurry.code] + [c.code for c in line.cells])
    assert body["items"] == expected
    assert body["items_on_hold"] == len(expected)
    assert set(_status(*expected).values()) == {"on_hold"}
    assert _status(line.sheets[0].code, line.coated_roll.code) == {
        line.sheets[0].code: "consumed",
        line.coated_roll.code: "consumed",
    }
    # Nothing beside the recall is touched: the foil and the other lots stay active.
    assert _active_codes() == active_before - set(expected)
    assert line.lots["foil"].code in _active_codes()


def test_hold_without_downstream_catches_only_the_item(engineer, line):
    result = hold_place(actor=engineer, reason="moisture", item=line.lots["nmc"])
    assert result.items == [line.lots["nmc"].code]
    assert set(_status(*(c.code for c in line.cells)).values()) == {"active"}


def _late_calendering(operator):
    """A second calendering at CAL-01, 20 h after the line's (which ran T0+4h to T0+5h).

    CR-X is taken half, so it stays active, and CAL-X is made."""
    register(operator, "coated_roll", 100, "m", code="CR-X", polarity="cathode")
    operation_record(
        actor=operator,
        step="calendering",
        station="CAL-01",
        started_at=T0 + timedelta(hours=20),
        ended_at=T0 + timedelta(hours=21),
        inputs=[InputSpec("CR-X", 50, "m")],
        outputs=[
            OutputSpec(
                kind="calendered_roll", quantity=52, unit="m", code="CAL-X", made_from=[StretchSpec("CR-X", 0, 50)]
            )
        ],
    )


def _window(hours_from: float, hours_to: float) -> dict[str, str]:
    return {
        "from": (T0 + timedelta(hours=hours_from)).isoformat(),
        "to": (T0 + timedelta(hours=hours_to)).isoformat(),
    }


def test_containment_by_station_and_window_catches_what_was_produced_or_consumed_then(engineer_client, operator, line):
    _late_calendering(operator)
    body = {"station": "CAL-01", "reason": "roll gap drift", "downstream": False} | _window(19.5, 22)
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    # Consumed (partly, still active) and produced in the window; the line's rolls are not.
    assert response.json()["items"] == ["CAL-X", "CR-X"]
    assert response.json()["station"] == "CAL-01"


def test_containment_with_downstream_catches_the_cells_made_from_that_window(engineer_client, operator, line):
    _late_calendering(operator)
    body = {"station": "CAL-01", "reason": "roll gap drift", "downstream": True} | _window(3.5, 4.5)
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    # The coated and calendered rolls of the line are consumed; what came of them is caught.
    assert response.json()["items"] == _codes(line.cells)
    assert _status("CAL-X", "CR-X") == {"CAL-X": "active", "CR-X": "active"}


def test_containment_at_mixing_catches_the_lots_the_slurry_and_the_cells(engineer, line):
    result = hold_place(
        actor=engineer,
        reason="scale out of calibration",
        station="MIX-01",
        window_from=T0,
        window_to=T0 + timedelta(hours=1),
        downstream=True,
    )
    lots = [line.lots[k].code for k in ("nmc", "carbon", "pvdf")]
    assert result.items == sorted(lots + [line.slurry.code] + [c.code for c in line.cells])
    assert line.lots["foil"].code not in result.items


@pytest.mark.parametrize(
    ("hours_from", "hours_to", "caught"),
    [
        (5.5, 19.5, False),  # between the two calenderings
        (0, 4, False),  # ends when the calendering starts: the window is half-open
        (5, 6, True),  # starts when it ends: still caught
        (4.25, 4.75, True),  # inside it
        (3, 7, True),  # around it
    ],
)
def test_containment_window_edges(engineer, line, hours_from, hours_to, caught):
    result = hold_place(
        actor=engineer,
        reason="window",
        station="CAL-01",
        window_from=T0 + timedelta(hours=hours_from),
        window_to=T0 + timedelta(hours=hours_to),
        downstream=True,
    )
    assert result.items == (_codes(line.cells) if caught else [])


def test_a_window_in_another_time_zone_is_the_same_instant(engineer_client, line):
    """+01:00 on the wire: 05:15+01:00 is 04:15 UTC, inside the calendering (04:00-05:00 UTC)."""
    body = {
        "station": "CAL-01",
        "reason": "tz",
        "downstream": True,
        "from": "2026-03-02T11:15:00+01:00",
        "to": "2026-03-02T11:30:00+01:00",
    }
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json()["items"] == _codes(line.cells)
    early = body | {"from": "2026-03-02T09:00:00+01:00", "to": "2026-03-02T09:30:00+01:00"}
    assert engineer_client.post(URL, early, format="json").json()["items"] == []


def test_a_window_given_to_the_service_in_local_time_is_the_same_instant(engineer, line):
    cet = timezone(timedelta(hours=1))
    start = (T0 + timedelta(hours=4, minutes=15)).astimezone(cet)
    result = hold_place(
        actor=engineer,
        reason="tz",
        station="CAL-01",
        window_from=start,
        window_to=start + timedelta(minutes=15),
        downstream=True,
    )
    assert result.items == _codes(line.cells)


def test_release_restores_statuses(engineer_client, line):
    nmc = line.lots["nmc"]
    hold = engineer_client.post(URL, {"item": nmc.code, "reason": "recall", "downstream": True}, format="json").json()
    response = engineer_client.post(f"{URL}{hold['id']}/release/", {"reason": "lab cleared it"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["released_at"] is not None
    assert body["released_by"] == "emil-engineer"
    assert body["release_reason"] == "lab cleared it"
    assert set(_status(*hold["items"]).values()) == {"active"}
    again = engineer_client.post(f"{URL}{hold['id']}/release/", {"reason": "twice"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == ErrorCode.HOLD_RELEASED


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "  \t"}, {"reason": None}, {"reason": 0}, {"reason": True}, {"reason": ["x"]}],
)
def test_a_release_without_a_reason_is_refused_and_changes_nothing(engineer_client, line, body):
    nmc = line.lots["nmc"]
    hold = engineer_client.post(URL, {"item": nmc.code, "reason": "recall", "downstream": True}, format="json").json()
    before = row_counts()

    response = engineer_client.post(f"{URL}{hold['id']}/release/", body, format="json")

    assert response.status_code == 400, response.json()
    assert "reason" in response.json()["errors"]
    assert row_counts() == before
    assert set(_status(*hold["items"]).values()) == {"on_hold"}
    assert engineer_client.get(f"{URL}{hold['id']}/").json()["released_at"] is None


def test_the_release_service_wants_a_reason_too(engineer, line):
    hold = hold_place(actor=engineer, reason="bulge", item=line.cells[0])
    with pytest.raises(InvalidInput) as refused:
        hold_release(actor=engineer, hold_id=hold.hold.pk, reason=" ")
    assert "reason" in refused.value.errors
    assert _status(line.cells[0].code) == {line.cells[0].code: "on_hold"}


def test_release_of_an_unknown_hold_is_a_404(engineer_client, stations):
    assert engineer_client.post(f"{URL}999999/release/", {}, format="json").status_code == 404


def test_an_item_in_two_holds_stays_held_until_both_are_released(engineer, line):
    cell = line.cells[0]
    single = hold_place(actor=engineer, reason="bulge", item=cell)
    recall = hold_place(actor=engineer, reason="recall", item=line.lots["nmc"], downstream=True)
    assert cell.code in recall.items
    hold_release(actor=engineer, hold_id=recall.hold.pk, reason="cleared")
    assert _status(cell.code) == {cell.code: "on_hold"}
    assert set(_status(*(c.code for c in line.cells[1:])).values()) == {"active"}
    hold_release(actor=engineer, hold_id=single.hold.pk, reason="cleared")
    assert _status(cell.code) == {cell.code: "active"}


def test_releasing_the_first_of_two_holds_in_either_order(engineer, line):
    cell = line.cells[0]
    single = hold_place(actor=engineer, reason="bulge", item=cell)
    recall = hold_place(actor=engineer, reason="recall", item=line.lots["nmc"], downstream=True)
    hold_release(actor=engineer, hold_id=single.hold.pk, reason="cleared")
    assert _status(cell.code) == {cell.code: "on_hold"}
    hold_release(actor=engineer, hold_id=recall.hold.pk, reason="cleared")
    assert _status(cell.code) == {cell.code: "active"}


def test_a_shipped_cell_goes_back_to_shipped(engineer, line):
    cell = line.cells[2]
    Item.objects.filter(pk=cell.pk).update(status=ItemStatus.SHIPPED)
    hold = hold_place(actor=engineer, reason="field failure", item=line.lots["nmc"], downstream=True)
    assert _status(cell.code) == {cell.code: "on_hold"}
    hold_release(actor=engineer, hold_id=hold.hold.pk, reason="cleared")
    assert _status(cell.code) == {cell.code: "shipped"}
    assert _status(line.cells[0].code) == {line.cells[0].code: "active"}


def test_a_held_item_cannot_be_consumed(engineer, operator_client, line):
    hold_place(actor=engineer, reason="recall", item=line.lots["nmc"], downstream=True)
    before = row_counts()
    body = {"step": "formation", "station": "FORM-01", "inputs": [{"item": line.cells[0].code}], "outputs": []}
    response = operator_client.post("/api/operations/", body, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == ErrorCode.ITEM_ON_HOLD
    assert "inputs[0].item" in response.json()["errors"]
    assert row_counts() == before
    # Neither can the lot be mixed.
    mix = {
        "step": "mixing",
        "station": "MIX-01",
        "inputs": [{"item": line.lots["nmc"].code, "quantity": 1, "unit": "kg"}],
        "outputs": [{"kind": "slurry", "quantity": 1, "unit": "kg"}],
    }
    response = operator_client.post("/api/operations/", mix, format="json")
    assert (response.status_code, response.json()["code"]) == (409, ErrorCode.ITEM_ON_HOLD)


def test_a_scan_of_a_held_item_warns(engineer, operator_client, line):
    cell = line.cells[0]
    ok = operator_client.post("/api/scan/", {"code": cell.code, "station": "FORM-01"}, format="json")
    assert ok.status_code == 200
    assert ok.json()["warnings"] == []
    hold_place(actor=engineer, reason="bulging pouch", item=cell)
    response = operator_client.post("/api/scan/", {"code": cell.code, "station": "FORM-01"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["item"]["status"] == "on_hold"
    assert len(body["warnings"]) == 1
    assert body["warnings"][0].startswith("on hold")
    assert "bulging pouch" in body["warnings"][0]


def test_only_engineers_place_and_release_holds(operator_client, engineer_client, anon_client, line):
    body = {"item": line.cells[0].code, "reason": "check"}
    before = row_counts()
    assert operator_client.post(URL, body, format="json").status_code == 403
    assert anon_client.post(URL, body, format="json").status_code == 401
    assert row_counts() == before
    created = engineer_client.post(URL, body, format="json")
    assert created.status_code == 201
    release = f"{URL}{created.json()['id']}/release/"
    assert operator_client.post(release, {}, format="json").status_code == 403
    assert anon_client.post(release, {}, format="json").status_code == 401
    assert _status(line.cells[0].code) == {line.cells[0].code: "on_hold"}
    # Everyone with a role may read.
    assert operator_client.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"item": "CELL-999999", "reason": "x"}, ErrorCode.UNKNOWN_ITEM, "item"),
        ({"item": "{cell}", "reason": ""}, InvalidInput.code, "reason"),
        ({"item": "{cell}", "station": "CAL-01", "reason": "both"}, InvalidInput.code, "item"),
        ({"reason": "neither"}, InvalidInput.code, "item"),
        (
            {"station": "NOPE-01", "reason": "x", "from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"},
            ErrorCode.UNKNOWN_STATION,
            "station",
        ),
        ({"station": "CAL-01", "reason": "x", "from": "2026-03-02T00:00:00Z"}, InvalidInput.code, "to"),
        (
            {"station": "CAL-01", "reason": "x", "from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
            InvalidInput.code,
            "to",
        ),
        (
            {"station": "CAL-01", "reason": "x", "from": "yesterday", "to": "2026-03-02T00:00:00Z"},
            InvalidInput.code,
            "from",
        ),
    ],
)
def test_bad_holds_are_refused_and_write_nothing(engineer_client, line, body, code, field):
    body = {k: (line.cells[0].code if v == "{cell}" else v) for k, v in body.items()}
    before = row_counts()
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert field in response.json()["errors"]
    assert row_counts() == before
