"""The station page shows what belongs to the station (issue 11, point 10): no stale card after a
failed scan, the output kinds its steps make, the step's own machine parameters, stations in line
order, fields sized to their content, the out-of-range confirmation beside the field."""

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from lots.models import Item
from lots.services import item_register
from measurements.models import Parameter
from traceability.holds import hold_place
from traceability.models import Operation


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _said(response: Any) -> str:
    return " | ".join(str(message) for message in response.context["messages"])


def _options(page: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


@pytest.fixture
def roll(engineer: User, stations: Any) -> Item:
    return item_register(actor=engineer, kind="calendered_roll", quantity=104, unit="m", polarity="cathode")


@pytest.mark.parametrize("code", ["%%%", "https://id.elsewhere.example/01/04012345000019/21/CELL-1"])
def test_a_failed_scan_clears_the_card_of_the_item_scanned_before(
    operator: User, engineer: User, roll: Item, code: str
) -> None:
    hold_place(actor=engineer, reason="wrinkles at 40 m", item=roll)
    browser = _browser(operator)
    held = browser.post("/station/SLT-01/scan/", {"code": roll.code}, follow=True)
    assert b'id="in-hand"' in held.content and b"ON HOLD: WRINKLES AT 40 M" in held.content
    failed = browser.post("/station/SLT-01/scan/", {"code": code}, follow=True)
    assert _said(failed), "the failed scan is explained"
    assert b'id="in-hand"' not in failed.content and b"ON HOLD" not in failed.content
    assert b'id="in-hand"' not in browser.get("/station/SLT-01/").content, "and stays gone"


def test_the_output_kinds_offered_are_those_the_stations_steps_make(operator: User, roll: Item) -> None:
    browser = _browser(operator)
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    assert _options(browser.get("/station/SLT-01/").content.decode(), "output-kind") == ["", "slit_roll"]
    browser.post("/station/STK-01/start/", {"step": "stacking"})
    assert _options(browser.get("/station/STK-01/").content.decode(), "output-kind") == ["", "stack", "cell"]
    browser.post("/station/FORM-01/start/", {"step": "formation"})
    assert _options(browser.get("/station/FORM-01/").content.decode(), "output-kind") == [""], "cells pass through"


def test_the_machine_parameters_are_the_steps_own_not_the_materials_d_values(operator: User, stations: Any) -> None:
    call_command("load_catalog", stdout=io.StringIO())
    expected = set(
        Parameter.objects.filter(step_id="mixing", category="MP", scope="step").values_list("code", flat=True)
    )
    assert "mixing_speed" in expected and "am_particle_size_d50" not in expected
    browser = _browser(operator)
    browser.post("/station/MIX-01/start/", {"step": "mixing"})
    page = browser.get("/station/MIX-01/").content.decode()
    shown = set(re.findall(r'name="param-([a-z0-9_]+)"', page))
    assert shown == expected
    assert "D50" not in page and "D10" not in page and "D90" not in page


def test_stations_are_listed_in_line_order(operator: User, stations: Any) -> None:
    page = _browser(operator).get("/station/?change=1").content.decode()
    listed = re.findall(r'name="station" value="([^"]+)"', page)
    assert listed == ["MIX-01", "COAT-01", "CAL-01", "SLT-01", "CUT-01", "STK-01", "FORM-01"]


def test_the_holds_form_offers_stations_in_line_order(engineer: User, stations: Any) -> None:
    page = _browser(engineer).get("/holds/").content.decode()
    assert _options(page, "station") == ["", "MIX-01", "COAT-01", "CAL-01", "SLT-01", "CUT-01", "STK-01", "FORM-01"]


def test_no_field_is_given_a_fixed_width_that_cuts_its_value(operator: User, roll: Item) -> None:
    browser = _browser(operator)
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    page = browser.get("/station/SLT-01/").content.decode()
    assert re.findall(r"<input[^>]*\bsize=", page) == []
    css = finders.find("web/celltrace.css")
    assert isinstance(css, str)
    assert "field-sizing: content" in Path(css).read_text()


@pytest.fixture
def two_parameters(db: Any) -> None:
    for code, name, unit, low, high in [
        ("slitting_speed", "Slitting speed", "m/min", 80, 150),
        ("web_tension", "Web tension", "N", 10, 50),
    ]:
        Parameter.objects.create(
            code=code, name=name, step_id="slitting", category="MP", unit=unit, typical_min=low, typical_max=high
        )


def _finish(browser: Client, roll: Item, **extra: str) -> Any:
    token = browser.session["draft:SLT-01"]["token"]
    body = {
        "submission": token,
        f"input-{roll.code}-consume": "on",
        "output-kind": "slit_roll",
        "output-count": "2",
        "output-quantity": "104",
        "output-unit": "m",
        "output-lanes": "on",
        "param-slitting_speed": "400",
        "param-web_tension": "80",
    } | extra
    return browser.post("/station/SLT-01/finish/", body)


def test_the_out_of_range_confirmation_sits_beside_each_offending_field(
    operator: User, roll: Item, two_parameters: None
) -> None:
    browser = _browser(operator)
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    page = browser.get(_finish(browser, roll)["Location"]).content.decode()
    for code, why in [
        ("slitting_speed", "Slitting speed 400 m/min is outside the typical range 80 to 150 m/min"),
        ("web_tension", "Web tension 80 N is outside the typical range 10 to 50 N"),
    ]:
        row = re.search(rf'<tr class="outside">((?:(?!</tr>).)*name="param-{code}"(?:(?!</tr>).)*)</tr>', page, re.S)
        assert row is not None, f"{code}'s row is marked"
        assert f'name="confirm-range" value="{code}"' in row.group(1) and why in row.group(1)
    assert page.count('name="confirm-range"') == 2
    # One tick is not both: the other value is still unconfirmed.
    page = browser.get(_finish(browser, roll, **{"confirm-range": "web_tension"})["Location"]).content.decode()
    assert not Operation.objects.exists()
    browser.post(
        "/station/SLT-01/finish/",
        {
            "submission": browser.session["draft:SLT-01"]["token"],
            f"input-{roll.code}-consume": "on",
            "output-kind": "slit_roll",
            "output-count": "2",
            "output-quantity": "104",
            "output-unit": "m",
            "output-lanes": "on",
            "param-slitting_speed": "400",
            "param-web_tension": "80",
            "confirm-range": ["slitting_speed", "web_tension"],
        },
    )
    assert Operation.objects.get().parameters["web_tension"] == {"value": 80.0, "unit": "N"}


def test_a_value_back_in_range_needs_no_confirmation(operator: User, roll: Item, two_parameters: None) -> None:
    browser = _browser(operator)
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    _finish(browser, roll)
    page = browser.get(_finish(browser, roll, **{"param-web_tension": "20"})["Location"]).content.decode()
    assert 'name="confirm-range" value="web_tension"' not in page
    assert 'name="confirm-range" value="slitting_speed"' in page
    _finish(browser, roll, **{"param-web_tension": "20", "param-slitting_speed": "120"})
    assert Operation.objects.count() == 1
