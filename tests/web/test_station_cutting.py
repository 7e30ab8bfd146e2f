"""Cutting a lane into sheets at the station page: each sheet records the stretch of the lane it
was cut from, so a hold on metres of the lane reaches only the sheets cut there (issue 11, 7)."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lots.models import Item, ItemStatus
from lots.services import item_register
from measurements.models import Parameter
from measurements.selectors_station import sheet_pitch
from traceability.models import LineageEdge, Operation
from traceability.selectors import next_unused_metre

URL = "/station/CUT-01/"


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _said(response: Any) -> str:
    return " | ".join(str(message) for message in response.context["messages"])


@pytest.fixture
def lane(engineer: User, stations: Any) -> Item:
    """A cathode lane of 104 m waiting at the cutter."""
    return item_register(actor=engineer, kind="slit_roll", quantity=104, unit="m", polarity="cathode")


@pytest.fixture
def sheet_length(db: Any) -> Parameter:
    return Parameter.objects.create(
        code="electrode_sheet_length", name="Electrode sheet length", step_id="cutting", category="MP", unit="mm"
    )


def _start(browser: Client, lane: Item) -> str:
    browser.post(URL + "scan/", {"code": lane.code})
    browser.post(URL + "start/", {"step": "cutting"})
    return str(browser.session["draft:CUT-01"]["token"])


def _cut(browser: Client, lane: Item, token: str, **fields: str) -> Any:
    body = {
        "submission": token,
        f"input-{lane.code}-quantity": "1.6",
        "output-kind": "electrode_sheet",
        "output-count": "10",
        "output-quantity": "",
        "output-unit": "",
        "cut-from": "",
        "cut-pitch": "0.16",
    } | fields
    return browser.post(URL + "finish/", body)


def _stretches(lane: Item) -> list[tuple[float | None, float | None]]:
    edges = LineageEdge.objects.filter(parent=lane).order_by("parent_from_m")
    return [(e.parent_from_m, e.parent_to_m) for e in edges]


def _pitched(start: float, pitch: float, count: int) -> list[tuple[float, float]]:
    return [(round(start + i * pitch, 6), round(start + (i + 1) * pitch, 6)) for i in range(count)]


def test_the_page_offers_the_next_unused_metre_and_the_pitch_of_the_sheet_length(
    operator: User, lane: Item, sheet_length: Parameter
) -> None:
    browser = _browser(operator)
    _start(browser, lane)
    page = browser.get(URL).content.decode()
    assert 'name="cut-from" value="0"' in page
    assert 'name="cut-pitch" value=""' in page, "no sheet length and no earlier run: the operator types it"
    _cut(browser, lane, str(browser.session["draft:CUT-01"]["token"]), **{"param-electrode_sheet_length": "160"})
    _start(browser, lane)
    page = browser.get(URL).content.decode()
    assert 'name="cut-from" value="1.6"' in page, "the next cut starts where the last one ended"
    assert 'name="cut-pitch" value="0.16"' in page, "160 mm from the last run's sheet length"


def test_ten_sheets_record_their_stretches_and_the_lane_stays_usable(
    operator_client: Any, operator: User, lane: Item
) -> None:
    browser = _browser(operator)
    answer = _cut(browser, lane, _start(browser, lane))
    operation = Operation.objects.get(step="cutting")
    assert answer["Location"] == f"/station/CUT-01/operations/{operation.pk}/"
    assert _stretches(lane) == _pitched(0, 0.16, 10)
    lane.refresh_from_db()
    assert (lane.status, float(lane.quantity)) == (ItemStatus.ACTIVE, 102.4), "1.6 m taken, the lane goes on"
    track = operator_client.get(f"/api/items/{lane.code}/track/").json()
    got = sorted((e["from_m"], e["to_m"]) for e in track["edges"] if e["parent"] == lane.code)
    assert got == _pitched(0, 0.16, 10)
    sheets = Item.objects.filter(produced_by=operation)
    assert sheets.count() == 10 and all(s.length_m == pytest.approx(0.16) for s in sheets)


def test_the_next_cut_starts_at_the_next_unused_metre_when_from_is_left_empty(operator: User, lane: Item) -> None:
    browser = _browser(operator)
    _cut(browser, lane, _start(browser, lane))
    _cut(browser, lane, _start(browser, lane), **{"output-count": "5", f"input-{lane.code}-quantity": ""})
    assert _stretches(lane) == _pitched(0, 0.16, 10) + _pitched(1.6, 0.16, 5)
    lane.refresh_from_db()
    assert float(lane.quantity) == pytest.approx(104 - 1.6 - 0.8), "an empty take is what the sheets span"


def test_a_stretch_that_overlaps_an_earlier_cut_is_refused_naming_it(operator: User, lane: Item) -> None:
    browser = _browser(operator)
    _cut(browser, lane, _start(browser, lane))
    first = list(
        LineageEdge.objects.filter(parent=lane).values_list("child__code", flat=True).order_by("parent_from_m")
    )
    refused = browser.get(_cut(browser, lane, _start(browser, lane), **{"cut-from": "1.0"})["Location"])
    said = _said(refused)
    assert f"Metres 0.96 to 1.12 of {lane.code} were already cut (into {first[6]})" in said
    assert "overlaps" in said
    assert Operation.objects.filter(step="cutting").count() == 1
    assert b'name="cut-from" value="1.0"' in refused.content, "the form comes back as typed"
    _cut(browser, lane, str(browser.session["draft:CUT-01"]["token"]), **{"cut-from": "1.6"})  # touching is fine
    assert Operation.objects.filter(step="cutting").count() == 2


def test_a_cut_beyond_the_end_of_the_lane_or_longer_than_the_take_is_refused(
    operator: User, engineer: User, stations: Any
) -> None:
    short = item_register(actor=engineer, kind="slit_roll", quantity=1, unit="m", polarity="anode")
    browser = _browser(operator)
    token = _start(browser, short)
    beyond = browser.get(_cut(browser, short, token, **{f"input-{short.code}-quantity": ""})["Location"])
    assert f"10 sheets of 0.16 m from metre 0 end at 1.6 m, beyond the 1 m of {short.code}" in _said(beyond)
    less = browser.get(
        _cut(browser, short, token, **{f"input-{short.code}-quantity": "0.5", "output-count": "5"})["Location"]
    )
    assert f"5 sheets of 0.16 m need 0.8 m of {short.code}; the take says 0.5 m" in _said(less)
    bad = browser.get(_cut(browser, short, token, **{"cut-pitch": "0", "output-count": "5"})["Location"])
    assert "The pitch (metres of lane per sheet) must be positive." in _said(bad)
    words = browser.get(_cut(browser, short, token, **{"cut-from": "start"})["Location"])
    assert "from (first metre) is not a number: 'start'." in _said(words)
    odd = browser.get(_cut(browser, short, token, **{"output-quantity": "3", "output-count": "5"})["Location"])
    assert "A sheet is counted, one per label: leave its quantity and unit empty" in _said(odd)
    unknown = browser.get(
        _cut(browser, short, token, **{"output-quantity": "0.15 zz", "output-count": "5"})["Location"]
    )
    assert "A sheet is counted" in _said(unknown)
    for field, text, said in [
        ("cut-from", "nan", "from (first metre) is not a number: 'nan'."),
        ("cut-from", "1e400", "from (first metre) is not a number: '1e400'."),
        ("cut-pitch", "inf", "pitch is not a number: 'inf'."),
        ("cut-pitch", "-0.1", "The pitch (metres of lane per sheet) must be positive."),
    ]:
        typed = {field: text, "output-count": "2", f"input-{short.code}-quantity": ""}
        assert said in _said(browser.get(_cut(browser, short, token, **typed)["Location"]))
    assert not Operation.objects.filter(step="cutting").exists()
    short.refresh_from_db()
    assert float(short.quantity) == 1.0


@pytest.mark.parametrize(
    "typed",
    [
        {"output-quantity": "0.15 m"},
        {"output-quantity": "0.15", "output-unit": "m"},
        {"output-quantity": "150", "output-unit": "mm"},
    ],
)
def test_a_length_typed_as_the_sheet_quantity_becomes_the_pitch_after_a_confirmation(
    operator: User, lane: Item, typed: dict[str, str]
) -> None:
    """ "'m' cannot be converted to 'count'": a sheet is counted (its kind's unit is count), so the
    page passed "0.15 m" to the sheet's quantity. A length there is one sheet's length: the page
    puts it in the pitch, counts the sheets in the length taken, and asks to finish again."""
    browser = _browser(operator)
    token = _start(browser, lane)
    back = browser.get(_cut(browser, lane, token, **{"cut-pitch": "", "output-count": "1"} | typed)["Location"])
    assert "is the length of one sheet, not its quantity" in _said(back)
    assert "so 1.6 m make 10 sheets" in _said(back)
    assert not Operation.objects.exists(), "nothing is recorded before the operator sees it"
    page = back.content.decode()
    assert 'name="cut-pitch" value="0.15"' in page and 'name="output-count" value="10"' in page
    _cut(browser, lane, token, **{"cut-pitch": "0.15"})
    assert _stretches(lane) == _pitched(0, 0.15, 10)


def test_a_length_for_counted_outputs_elsewhere_says_which_box_to_leave_empty(
    operator: User, engineer: User, stations: Any
) -> None:
    sheet = item_register(actor=engineer, kind="electrode_sheet", polarity="cathode")
    browser = _browser(operator)
    browser.post("/station/STK-01/scan/", {"code": sheet.code})
    browser.post("/station/STK-01/start/", {"step": "stacking"})
    token = str(browser.session["draft:STK-01"]["token"])
    body = {
        "submission": token,
        "output-kind": "stack",
        "output-count": "1",
        "output-quantity": "0.15",
        "output-unit": "m",
    }
    refused = browser.get(browser.post("/station/STK-01/finish/", body)["Location"])
    assert "A stack is counted, one per label, not measured in m: leave its quantity and unit empty" in _said(refused)
    assert not Operation.objects.exists()


def test_a_stretch_hold_on_the_lane_catches_only_the_sheets_cut_from_it(
    operator: User, engineer_client: Any, lane: Item
) -> None:
    browser = _browser(operator)
    _cut(browser, lane, _start(browser, lane))
    sheets = dict(LineageEdge.objects.filter(parent=lane).values_list("parent_from_m", "child__code"))
    body = {"item": lane.code, "from_m": 0.30, "to_m": 0.45, "reason": "scratch", "downstream": True}
    response = engineer_client.post("/api/holds/", body, format="json")
    assert response.status_code == 201, response.content
    caught = {code for code in response.json()["items"] if code.startswith("ES")}
    assert caught == {sheets[0.16], sheets[0.32]}


def test_next_unused_metre_and_sheet_pitch_are_one_query_each(operator: User, lane: Item, stations: Any) -> None:
    assert next_unused_metre(lane) == 0.0
    browser = _browser(operator)
    _cut(
        browser,
        lane,
        _start(browser, lane),
        **{"cut-from": "2", "output-count": "4", f"input-{lane.code}-quantity": ""},
    )
    with CaptureQueriesContext(connection) as queries:
        assert next_unused_metre(lane) == pytest.approx(2.64)
    assert len(queries) == 1
    # No sheet-length parameter in the catalog: the pitch of the last run, from its edges.
    assert sheet_pitch(station=stations["CUT-01"], step="cutting") == pytest.approx(0.16)
    assert sheet_pitch(station=stations["SLT-01"], step="cutting") is None
