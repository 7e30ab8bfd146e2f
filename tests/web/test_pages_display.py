"""Values, units and machine parameters as people read them, and the track page's list of what a
recall reaches (with its CSV), through Django's test client."""

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client

from lots.models import Item, ItemStatus
from measurements.models import Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import T0, Line, build_line
from traceability.selectors import track_ends
from traceability.services import InputSpec, OutputSpec, operation_record
from web.templatetags.units import significant
from web.views_genealogy import LARGE_GRAPH


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rows(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (11.200000001, "11.2"),
        (21.400000000000002, "21.4"),
        (104.0, "104"),
        (1234567.89, "1234568"),  # the integer part is never cut
        (0.000123456, "0.0001235"),
        (-3.14159, "-3.142"),
        (9.99996, "10"),
        (0.5, "0.5"),
        (0, "0"),
        (-0.0, "0"),
        (1e-9, "1e-9"),
        (3.2e20, "3.2e20"),
        ("100.0", "100"),  # a machine parameter read back from JSON text
        ("A", "A"),  # a parameter that is not a number
        (None, ""),
        ("", ""),
        (float("nan"), "nan"),
        (True, "True"),
    ],
)
def test_numbers_are_shown_to_four_significant_digits(value: Any, shown: str) -> None:
    assert significant(value) == shown


def test_the_template_filters() -> None:
    template = Template("{% load units %}{{ v|num }} {{ u|unit }}|{{ v|num:2 }}|{{ v|num:'x' }}")
    assert template.render(Context({"v": 21.449999, "u": "mg/cm**2"})) == "21.45 mg/cm²|21|21.45"


@pytest.fixture
def line(engineer: User, stations: Any) -> Line:
    """4 cells of 4 sheets, and 2 sheets left over (nothing made from them yet)."""
    return build_line(engineer, sheets_per_lane=9)


@pytest.fixture
def catalog(db: Any) -> dict[str, Parameter]:
    return {
        "mixing_speed": Parameter.objects.create(
            code="mixing_speed", name="Mixing speed", step_id="mixing", category="MP", unit="rpm"
        ),
        "mass_loading": Parameter.objects.create(
            code="mass_loading",
            name="Mass loading",
            step_id="coating",
            category="SP",
            unit="mg/cm**2",
            typical_min=18.0000000001,
            typical_max=22.5,
        ),
        "drying_temperature": Parameter.objects.create(
            code="drying_temperature", name="Drying temperature", step_id="drying", category="MP", unit="degC"
        ),
    }


def test_the_item_page_shows_units_and_digits_as_people_write_them(engineer: User, line: Line, catalog: Any) -> None:
    roll = line.coated_roll
    assert roll is not None
    for value, unit, position in ((214, "g/m**2", None), (21.3, "mg/cm**2", 10.0), (21.5, "mg/cm**2", 20.0)):
        measurement_record(
            actor=engineer,
            data=MeasurementInput(
                parameter="mass_loading", item=roll.code, value=value, unit=unit, position_m=position
            ),
        )
    page = _browser(engineer).get(f"/items/{roll.code}/")
    html = page.content.decode()
    assert "21.4 mg/cm²" in html
    assert "cm**2" not in html and "21.400000" not in html
    assert "100 m" in html  # the roll's length, not 100.000000
    (plot,) = page.context["plots"]
    assert plot["y_title"] == "Mass loading (mg/cm²)"


def test_machine_parameters_are_shown_by_name_with_their_code(engineer: User, line: Line, catalog: Any) -> None:
    assert line.slurry is not None
    html = _browser(engineer).get(f"/items/{line.slurry.code}/").content.decode()
    assert "Mixing speed <code>mixing_speed</code>" in html
    assert "2000 rpm" in html
    # A code the catalog does not know is shown as recorded, once.
    mixed = operation_record(
        actor=engineer,
        step="mixing",
        station="MIX-01",
        started_at=T0 + timedelta(days=1),
        inputs=[InputSpec(line.lots["nmc"].code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg")],
        parameters={"vacuum_level": {"value": 0.0500000001, "unit": "mbar"}, "blade": {"value": "B2"}},
    )
    html = _browser(engineer).get(f"/items/{mixed.outputs[0].code}/").content.decode()
    assert "<td>vacuum_level</td><td>0.05 mbar</td>" in html
    assert "<td>blade</td><td>B2 </td>" in html


def test_the_catalog_and_parameter_page_show_units_as_written(engineer: User, catalog: Any) -> None:
    browser = _browser(engineer)
    html = browser.get("/catalog/").content.decode()
    assert "<td>mg/cm²</td>" in html and "<td>°C</td>" in html and "<td>rpm</td>" in html
    assert "18 to 22.5" in html
    edit = browser.get("/catalog/mass_loading/edit/").content.decode()
    assert "mg/cm²" in edit and "mg/cm**2" not in edit


def test_track_ends_are_the_cells_and_the_leaves_in_one_query(line: Line, django_assert_num_queries: Any) -> None:
    assert line.slurry is not None
    with django_assert_num_queries(1):
        ends = list(track_ends(item=line.slurry))
    leftover = {sheet.code for sheet in line.sheets[16:]}
    assert {end.code for end in ends} == {cell.code for cell in line.cells} | leftover
    assert len(leftover) == 2
    assert not list(track_ends(item=line.cells[0])), "nothing is made from a cell: the cell itself is left out"
    assert {end.code for end in track_ends(item=line.sheets[0])} == {line.cells[0].code}


def test_the_track_page_lists_what_a_recall_reaches(engineer: User, line: Line) -> None:
    assert line.slurry is not None
    browser = _browser(engineer)
    track = browser.get(f"/items/{line.slurry.code}/genealogy/?direction=downstream")
    assert [end.code for end in track.context["ends"]] == sorted(
        [cell.code for cell in line.cells] + [sheet.code for sheet in line.sheets[16:]]
    )
    html = track.content.decode()
    assert f'href="/items/{line.slurry.code}/track.csv"' in html
    assert html.index('id="graph"') < html.index('id="affected"'), "a small graph comes first"
    trace = browser.get(f"/items/{line.cells[0].code}/genealogy/").content.decode()
    assert 'id="affected"' not in trace and "track.csv" not in trace


def test_a_large_track_lists_first_and_draws_its_levels_in_rows(engineer: User, stations: Any) -> None:
    big = build_line(engineer, sheets_per_lane=80)
    assert big.slurry is not None
    track = _browser(engineer).get(f"/items/{big.slurry.code}/genealogy/?direction=downstream")
    assert len(track.context["elements"]["nodes"]) > LARGE_GRAPH
    html = track.content.decode()
    assert html.index('id="affected"') < html.index('id="graph"')
    assert track.context["ends_total"] == len(big.cells) == 40


def test_the_track_csv_has_every_end_and_neutralises_formulas(engineer: User, line: Line) -> None:
    assert line.slurry is not None
    left = line.sheets[16:]
    evil = operation_record(
        actor=engineer,
        step="stacking",
        station="STK-01",
        started_at=T0 + timedelta(hours=12),
        inputs=[InputSpec(sheet.code) for sheet in left],
        outputs=[OutputSpec(kind="cell", code='=HYPERLINK("http://x.example")')],
    ).outputs[0]
    response = _browser(engineer).get(f"/items/{line.slurry.code}/track.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="track-{line.slurry.code}.csv"'
    rows = _rows(response)
    assert list(rows[0]) == ["code", "kind", "status", "quantity", "unit", "created_at"]
    assert sorted(row["code"] for row in rows) == sorted([cell.code for cell in line.cells] + ["'" + evil.code]), (
        "the formula code is prefixed, the leftover sheets are now in a cell"
    )
    first = next(row for row in rows if row["code"] == line.cells[0].code)
    assert first["kind"] == "cell" and first["status"] == ItemStatus.ACTIVE
    assert first["quantity"] == "1" and first["created_at"].startswith("2026-03-02T")


def test_the_track_csv_of_an_item_nothing_is_made_from_is_the_header(engineer: User, line: Line) -> None:
    response = _browser(engineer).get(f"/items/{line.cells[0].code}/track.csv")
    assert response.content.decode() == "code,kind,status,quantity,unit,created_at\r\n"


def test_the_track_csv_needs_a_sign_in_and_a_role(client: Client, line: Line) -> None:
    assert line.slurry is not None
    url = f"/items/{line.slurry.code}/track.csv"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    nobody = User.objects.create_user("nobody")
    assert _browser(nobody).get(url).status_code == 403


def test_the_track_csv_of_an_unknown_item_goes_back_to_the_search(engineer: User, db: Any) -> None:
    response = _browser(engineer).get("/items/NO-SUCH-1/track.csv", follow=True)
    assert response.redirect_chain[-1][0] == "/items/"
    assert any("NO-SUCH-1" in str(message) for message in response.context["messages"])
    assert not Item.objects.filter(code="NO-SUCH-1").exists()
