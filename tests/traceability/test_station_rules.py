"""The station's rules as domain functions: what a step consumes, lanes, scrap, the cut lane,
the machine settings and their range, the item page's lineage reads."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from core.errors import InvalidInput
from lots.models import ItemKind
from measurements.models import Parameter
from measurements.selectors_station import machine_settings, settings_outside_range
from tests.factories import build_line, register
from traceability.selectors_item import item_lineage, track_ends_listed
from traceability.station_rules import (
    TakenInput,
    cut_lane,
    kinds_made,
    lane_made_from,
    scrap_charged,
    step_consumes,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "step", "consumed"),
    [
        ("coated_roll", "calendering", True),  # a roll is used up whole by a step that makes
        ("calendered_roll", "cutting", False),  # a lane at cutting gives a stretch per cut
        ("cell", "formation", False),  # a step that makes nothing lets its items pass
        ("cathode_active_material", "mixing", False),  # a batch is taken in part
    ],
)
def test_what_a_step_consumes(kind: str, step: str, consumed: bool) -> None:
    assert step_consumes(ItemKind.objects.get(code=kind), step) is consumed


def test_lanes_span_the_whole_roll_and_need_one(operator: User) -> None:
    roll = register(operator, "coated_roll", 120, "m")
    assert [(s.item, s.from_m, s.to_m) for s in lane_made_from([roll.code])] == [(roll.code, 0, roll.length_m)]
    batch = register(operator, "binder", 5, "kg")
    with pytest.raises(InvalidInput) as refused:
        lane_made_from([batch.code])
    assert list(refused.value.errors) == ["output-lanes"]


def test_scrap_is_charged_to_the_first_input_in_its_unit() -> None:
    inputs = [TakenInput(item="A", unit="m"), TakenInput(item="B", unit="kg")]
    (scrap,) = scrap_charged(inputs, quantity=2.5, unit="", reason="")
    assert (scrap.item, scrap.quantity, scrap.unit, scrap.reason) == ("A", 2.5, "m", "scrap")
    assert scrap_charged(inputs, quantity=None, unit="", reason="") == []
    with pytest.raises(InvalidInput) as refused:
        scrap_charged([], quantity=1, unit="kg", reason="torn")
    assert list(refused.value.errors) == ["scrap-quantity"]


def test_the_cut_lane_is_one_input_with_a_length_cut_into_counted_pieces(operator: User) -> None:
    lane = register(operator, "slit_roll", 50, "m")
    assert cut_lane("cutting", [lane.code], "electrode_sheet") == lane
    assert cut_lane("cutting", [lane.code], "slit_roll") is None  # not counted
    assert cut_lane("slitting", [lane.code], "electrode_sheet") is None
    assert cut_lane("cutting", [lane.code, lane.code], "electrode_sheet") is None
    assert cut_lane("cutting", ["NO-SUCH"], "electrode_sheet") is None


def test_kinds_made_are_the_stations_and_the_chosen(stations: Any) -> None:
    codes = set(kinds_made(stations["SLT-01"], "cell").values_list("code", flat=True))
    assert codes == {"slit_roll", "cell"}


def test_machine_settings_read_numbers_and_words_and_flag_the_range(db: Any) -> None:
    Parameter.objects.create(
        code="slitting_speed",
        name="Slitting speed",
        step_id="slitting",
        category="MP",
        unit="m/min",
        typical_min=80,
        typical_max=150,
    )
    settings = machine_settings("slitting", {"slitting_speed": "400,5", "unknown": "1", "knife": ""})
    assert settings == {"slitting_speed": {"value": 400.5, "unit": "m/min"}}
    outside = settings_outside_range(settings)
    assert outside == {"slitting_speed": "Slitting speed 400.5 m/min is outside the typical range 80 to 150 m/min"}
    assert settings_outside_range(machine_settings("slitting", {"slitting_speed": "100"})) == {}


def test_item_lineage_and_the_ends_a_recall_reaches(operator: User, stations: Any) -> None:
    line = build_line(operator, lanes=2, sheets_per_lane=2, sheets_per_cell=2)
    assert line.calendered_roll is not None
    lineage = item_lineage(line.calendered_roll)
    assert [edge.child.code for edge in lineage.children] == [lane.code for lane in line.lanes]
    assert [edge.parent_id for edge in lineage.parents] == [line.coated_roll.pk]  # type: ignore[union-attr]
    listed = track_ends_listed(line.lots["nmc"], 1)
    assert len(listed.ends) == 1 and listed.total == len(line.cells)
