"""The pages through Django's test client: sign-in, roles, CSRF, plain-words errors, one write
per form however often it is posted. The browser tests (test_browser.py) drive the same pages in
Chromium."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditEvent
from lots.models import Item, ItemStatus
from lots.services import item_register
from measurements.models import Measurement, Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import build_line
from traceability.holds import hold_place
from traceability.models import Hold, LineageEdge, Operation, Scrap

PAGES = ["/", "/station/", "/items/", "/holds/", "/datasets/", "/catalog/"]


def _browser(user: User, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _said(response: Any) -> str:
    """Every message the page shows, in one string."""
    return " | ".join(_messages(response))


@pytest.fixture
def roll(engineer: User, stations: Any) -> Item:
    """A calendered cathode roll waiting at the slitter."""
    return item_register(actor=engineer, kind="calendered_roll", quantity=104, unit="m", polarity="cathode")


@pytest.fixture
def slitting_speed(db: Any) -> Parameter:
    return Parameter.objects.create(
        code="slitting_speed",
        name="Slitting speed",
        step_id="slitting",
        category="MP",
        unit="m/min",
        typical_min=80,
        typical_max=150,
    )


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_sign_in(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_user_without_a_role_is_told_why(db: Any) -> None:
    nobody = User.objects.create_user("nobody")
    response = _browser(nobody).get("/station/")
    assert response.status_code == 403
    assert b"needs the operator role" in response.content


def test_forms_refuse_a_post_without_the_csrf_token(operator: User, stations: Any) -> None:
    browser = _browser(operator, enforce_csrf_checks=True)
    assert browser.post("/station/SLT-01/scan/", {"code": "X"}).status_code == 403
    page = browser.get("/station/SLT-01/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token is not None
    answer = browser.post("/station/SLT-01/scan/", {"code": "X", "csrfmiddlewaretoken": token.group(1).decode()})
    assert answer.status_code == 302


def test_the_station_is_remembered(operator: User, stations: Any) -> None:
    browser = _browser(operator)
    assert browser.get("/station/").status_code == 200  # the picker
    picked = browser.post("/station/", {"station": "SLT-01"})
    assert picked["Location"] == "/station/SLT-01/"
    assert browser.get("/station/")["Location"] == "/station/SLT-01/"
    assert browser.get("/station/?change=1").status_code == 200


def test_an_unknown_station_is_a_404_or_back_to_the_picker(operator: User, stations: Any) -> None:
    browser = _browser(operator)
    assert browser.post("/station/NOPE-01/scan/", {"code": "X"}).status_code == 404
    page = browser.get("/station/NOPE-01/", follow=True)
    assert "There is no station NOPE-01: pick one." in _said(page)
    assert browser.post("/station/", {"station": "NOPE-01"})["Location"] == "/station/?change=1"


def test_scans_of_garbage_or_of_another_sites_label_are_explained(operator: User, stations: Any) -> None:
    browser = _browser(operator)
    garbage = browser.post("/station/SLT-01/scan/", {"code": "%%%"}, follow=True)
    assert "Nothing on this line has the code '%%%'" in _messages(garbage)[0]
    foreign = browser.post(
        "/station/SLT-01/scan/", {"code": "https://id.elsewhere.example/01/04012345000019/21/CELL-1"}, follow=True
    )
    assert _messages(foreign) == ["This label belongs to another site (id.elsewhere.example), not to this line."]


def test_the_api_scan_explains_another_sites_label(operator_client: Any) -> None:
    response = operator_client.post(
        "/api/scan/", {"code": "https://id.elsewhere.example/01/04012345000019/21/CELL-1"}, format="json"
    )
    assert response.status_code == 404
    assert "another site" in response.json()["detail"]


def _slit(browser: Client, roll: Item, token: str, lanes: int = 4, **extra: str) -> Any:
    body = {
        "submission": token,
        f"input-{roll.code}-quantity": "",
        f"input-{roll.code}-consume": "on",
        "output-kind": "slit_roll",
        "output-count": str(lanes),
        "output-quantity": "104",
        "output-unit": "m",
        "output-lanes": "on",
    } | extra
    return browser.post("/station/SLT-01/finish/", body)


def _start(browser: Client, roll: Item) -> str:
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    return str(browser.session["draft:SLT-01"]["token"])


def test_slitting_into_four_lanes_and_a_double_post_records_one_operation(operator: User, roll: Item) -> None:
    browser = _browser(operator)
    token = _start(browser, roll)
    assert [entry["item"] for entry in browser.session["draft:SLT-01"]["inputs"]] == [roll.code]
    first = _slit(browser, roll, token)
    second = _slit(browser, roll, token)  # the double tap
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    operation = Operation.objects.get(step="slitting")
    assert first["Location"] == f"/station/SLT-01/operations/{operation.pk}/"
    edges = LineageEdge.objects.filter(parent=roll).order_by("lane")
    assert [(e.lane, e.parent_from_m, e.parent_to_m) for e in edges] == [(n, 0.0, 104.0) for n in (1, 2, 3, 4)]
    done = browser.get(first["Location"])
    assert b"Print 4 labels" in done.content


def test_scrap_declared_at_the_station_is_recorded_with_its_reason(operator: User, roll: Item) -> None:
    browser = _browser(operator)
    token = _start(browser, roll)
    _slit(browser, roll, token, lanes=2, **{"scrap-quantity": "3", "scrap-unit": "m", "scrap-reason": "edge trim"})
    scrap = Scrap.objects.get(item=roll)
    assert (float(scrap.quantity), scrap.unit, scrap.reason) == (3.0, "m", "edge trim")


def test_a_value_outside_the_typical_range_needs_a_confirmation(
    operator: User, roll: Item, slitting_speed: Parameter
) -> None:
    browser = _browser(operator)
    token = _start(browser, roll)
    refused = browser.get(_slit(browser, roll, token, **{"param-slitting_speed": "400"})["Location"])
    assert "Slitting speed 400 m/min is outside the typical range 80 to 150 m/min" in _said(refused)
    assert not Operation.objects.exists()
    assert b'value="400"' in refused.content, "the form comes back as typed"
    _slit(browser, roll, token, **{"param-slitting_speed": "400", "confirm-range": "on"})
    operation = Operation.objects.get()
    assert operation.parameters["slitting_speed"] == {"value": 400.0, "unit": "m/min"}
    assert Measurement.objects.get(operation=operation, parameter=slitting_speed).out_of_range


def test_the_last_run_fills_in_the_machine_parameters(operator: User, roll: Item, slitting_speed: Parameter) -> None:
    browser = _browser(operator)
    _slit(browser, roll, _start(browser, roll), **{"param-slitting_speed": "120"})
    other = item_register(actor=operator, kind="calendered_roll", quantity=50, unit="m", polarity="cathode")
    _start(browser, other)
    assert b'name="param-slitting_speed" value="120.0"' in browser.get("/station/SLT-01/").content


def test_a_held_item_is_not_taken_and_a_consumed_one_is_refused_in_plain_words(
    operator: User, engineer: User, roll: Item
) -> None:
    hold_place(actor=engineer, reason="wrinkles at 40 m", item=roll)
    browser = _browser(operator)
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    scanned = browser.post("/station/SLT-01/scan/", {"code": roll.code}, follow=True)
    assert f"{roll.code} cannot be used in this operation: on hold: wrinkles at 40 m" in _said(scanned)
    assert browser.session["draft:SLT-01"]["inputs"] == []
    assert b"ON HOLD: WRINKLES AT 40 M" in scanned.content


def test_a_wrong_item_for_the_step_is_explained_and_not_taken(operator: User, engineer: User, roll: Item) -> None:
    lane = item_register(actor=engineer, kind="slit_roll", quantity=104, unit="m", polarity="cathode")
    browser = _browser(operator)
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    scanned = browser.post("/station/SLT-01/scan/", {"code": lane.code}, follow=True)
    assert f"{lane.code} is a slit roll (lane); slitting takes calendered roll, coated roll." in _said(scanned)
    assert browser.session["draft:SLT-01"]["inputs"] == []
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    assert [entry["item"] for entry in browser.session["draft:SLT-01"]["inputs"]] == [roll.code]


def test_a_mistake_in_the_form_is_explained_and_nothing_is_written(operator: User, roll: Item) -> None:
    browser = _browser(operator)
    token = _start(browser, roll)
    wrong = browser.get(_slit(browser, roll, token, **{"output-quantity": "lots"})["Location"])
    assert "output quantity is not a number: 'lots'." in _said(wrong)
    cutting = browser.post("/station/SLT-01/start/", {"step": "cutting"}, follow=True)
    assert "does not run cutting" in _messages(cutting)[-1]
    assert not Operation.objects.exists() and Item.objects.get(pk=roll.pk).status == ItemStatus.ACTIVE


def test_an_offline_measurement_of_the_item_in_hand(operator: User, roll: Item) -> None:
    Parameter.objects.create(code="edge_quality", name="Edge quality", step_id="slitting", category="SP", unit="um")
    browser = _browser(operator)
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    recorded = browser.post("/station/SLT-01/measure/", {"parameter": "edge_quality", "value": "0,012", "unit": "mm"})
    measurement = Measurement.objects.get(item=roll)
    assert measurement.value == pytest.approx(12.0)  # in the catalog's µm
    assert "Recorded Edge quality = 12 um" in _messages(browser.get(recorded["Location"]))[0]
    bad = browser.post(
        "/station/SLT-01/measure/", {"parameter": "edge_quality", "value": "12", "unit": "kg"}, follow=True
    )
    assert "kg" in _messages(bad)[0] and Measurement.objects.count() == 1


def test_operators_cannot_place_or_release_holds_or_edit_the_catalog(
    operator: User, engineer: User, roll: Item, slitting_speed: Parameter
) -> None:
    held = hold_place(actor=engineer, reason="wrinkles", item=roll).hold
    browser = _browser(operator)
    assert browser.post(f"/holds/{held.pk}/release/", {"reason": "fine"}).status_code == 403
    assert browser.get("/catalog/slitting_speed/edit/").status_code == 403
    refused = browser.post("/holds/", {"reason": "x", "item": roll.code, "downstream": "on"}, follow=True)
    assert _messages(refused) == ["Only engineers place holds. Ask an engineer."]
    assert Hold.objects.count() == 1
    assert b"Only engineers release holds" in browser.get(f"/holds/{held.pk}/").content

    released = _browser(engineer).post(f"/holds/{held.pk}/release/", {"reason": "inspected: fine"}, follow=True)
    assert "released: 1 items are free again" in _messages(released)[0]
    assert Item.objects.get(pk=roll.pk).status == ItemStatus.ACTIVE


def test_a_release_from_the_page_needs_a_reason(engineer: User, roll: Item) -> None:
    held = hold_place(actor=engineer, reason="wrinkles", item=roll).hold
    refused = _browser(engineer).post(f"/holds/{held.pk}/release/", {"reason": "   "}, follow=True)
    assert _messages(refused) == ["A reason is required."]
    held.refresh_from_db()
    assert held.released_at is None
    assert Item.objects.get(pk=roll.pk).status == ItemStatus.ON_HOLD


def test_an_engineer_places_a_recall_and_sees_what_it_caught(engineer: User, stations: Any) -> None:
    line = build_line(engineer)
    browser = _browser(engineer)
    assert line.slurry is not None
    placed = browser.post("/holds/", {"reason": "binder lot", "item": line.slurry.code, "downstream": "on"})
    hold = Hold.objects.get()
    assert placed["Location"] == f"/holds/{hold.pk}/"
    page = browser.get(placed["Location"])
    assert all(cell.code.encode() in page.content for cell in line.cells)
    assert Item.objects.filter(kind="cell", status=ItemStatus.ON_HOLD).count() == len(line.cells)


def test_an_engineer_contains_a_station_over_a_time_window(engineer: User, stations: Any) -> None:
    line = build_line(engineer)
    assert line.calendered_roll is not None and line.calendered_roll.produced_by is not None
    calendering = line.calendered_roll.produced_by
    window = {
        "reason": "calender roll gap drifted",
        "station": "CAL-01",
        "window_from": (calendering.started_at - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "window_to": (calendering.started_at + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "downstream": "on",
    }
    placed = _browser(engineer).post("/holds/", window)
    hold = Hold.objects.get()
    assert placed["Location"] == f"/holds/{hold.pk}/"
    assert hold.station is not None and hold.station.code == "CAL-01"
    assert Item.objects.filter(kind="cell", status=ItemStatus.ON_HOLD).count() == len(line.cells)


def test_an_engineer_edits_a_parameter_and_the_change_is_audited(engineer: User, slitting_speed: Parameter) -> None:
    browser = _browser(engineer)
    body = {"typical_min": "90", "typical_max": "140", "criticality_ml": "high"}
    assert browser.post("/catalog/slitting_speed/edit/", body).status_code == 302
    slitting_speed.refresh_from_db()
    assert (slitting_speed.typical_min, slitting_speed.typical_max, slitting_speed.criticality_ml) == (90, 140, "high")
    assert AuditEvent.objects.filter(action="parameter.update", entity_id="slitting_speed").exists()
    listed = browser.get("/catalog/?q=slitting")
    assert b"Slitting speed" in listed.content and b"90 to 140" in listed.content


def test_item_and_genealogy_pages_take_a_bounded_number_of_queries(
    engineer: User, stations: Any, django_assert_max_num_queries: Any
) -> None:
    line = build_line(engineer, sheets_per_lane=16)
    browser = _browser(engineer)
    cell = line.cells[0]
    with django_assert_max_num_queries(15):
        page = browser.get(f"/items/{cell.code}/genealogy/")
    assert page.status_code == 200 and b"CR-" in page.content
    assert line.calendered_roll is not None
    with django_assert_max_num_queries(25):
        roll = browser.get(f"/items/{line.calendered_roll.code}/")
    assert roll.status_code == 200


def test_an_engineer_starts_an_export_and_watches_it(
    engineer: User, stations: Any, settings: Any, tmp_path: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    build_line(engineer)
    browser = _browser(engineer)
    with django_capture_on_commit_callbacks() as queued:
        started = browser.post("/datasets/", {"granularity": "cell", "format": "csv", "layout": "wide"})
    assert started.status_code == 302
    waiting = browser.get(started["Location"], headers={"HX-Request": "true"})
    assert b'hx-trigger="every 1s"' in waiting.content and b"queued" in waiting.content  # htmx polls
    for task in queued:  # the Celery task, eager
        task()
    done = browser.get(started["Location"], headers={"HX-Request": "true"})
    assert b"hx-trigger" not in done.content, "polling stops when the export is done"
    assert b"Download the table" in done.content and b"4 rows" in done.content
    assert _browser(engineer).get("/datasets/").status_code == 200


def test_a_measurement_file_is_shown_on_the_item_page_and_downloaded_signed_in_only(
    operator: User, roll: Item, settings: Any, tmp_path: Any, client: Client
) -> None:
    settings.MEDIA_ROOT = tmp_path
    parameter = Parameter.objects.create(code="roll_photo", name="Photo", step_id="slitting", category="SP", unit="1")
    measurement_record(
        actor=operator,
        data=MeasurementInput(parameter="roll_photo", item=roll.code),
        file=SimpleUploadedFile("edge.csv", b"x,y\n1,2\n", content_type="text/csv"),
    )
    measurement = Measurement.objects.get(parameter=parameter)
    url = f"/measurements/{measurement.pk}/file/"
    browser = _browser(operator)
    assert url.encode() in browser.get(f"/items/{roll.code}/").content
    download = browser.get(url)
    assert b"".join(download.streaming_content) == b"x,y\n1,2\n"
    assert download["X-Content-SHA256"] == measurement.file_sha256
    assert download["Content-Disposition"].startswith("attachment; filename=")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert client.get(url).status_code == 302  # not signed in: to the login page
