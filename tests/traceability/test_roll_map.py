"""roll_map against the formulas of the stretch mapping (traceability.intervals):

    scale    = (parent_to - parent_from) / (child_to - child_from)
    x_parent = parent_from + (x_child - child_from) * scale          (forward)
    x_parent = parent_to   - (x_child - child_from) * scale          (reversed)

The factory line: coated roll 100 m -> calendered 104 m unwound reversed (scale 100/104) ->
lanes of 104 m (scale 1) -> sheets i of 0.5 m from lane metres 10 + 0.5 i .. 10.5 + 0.5 i.
"""

import pytest

from tests.factories import build_line, register
from tests.support import line_fixtures_for_the_module
from traceability.selectors import roll_map
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

pytestmark = pytest.mark.django_db

# The factory line of tests/traceability/conftest.py, built once for the module's tests.
module_line, engineer, stations, line = line_fixtures_for_the_module(build_line)

CAL_SCALE = 100 / 104


def _by_code(stretches):
    by_code = {}
    for s in stretches:
        assert s.code not in by_code, f"{s.code} reached twice"
        by_code[s.code] = s
    return by_code


def _coated_from_calendered(x: float) -> float:
    return 100 - x * CAL_SCALE  # reversed, parent 0..100, child 0..104


def test_a_whole_sheet_maps_to_its_stretch_of_every_roll(line):
    sheet = line.sheets[0]  # lane 1, metres 10.0-10.5
    got = _by_code(roll_map(item=sheet))
    lane, cal, coated = line.lanes[0].code, line.calendered_roll.code, line.coated_roll.code
    assert (got[lane].from_m, got[lane].to_m) == pytest.approx((10.0, 10.5))
    assert (got[cal].from_m, got[cal].to_m) == pytest.approx((10.0, 10.5))
    # Reversed: the child's higher metre is the parent's lower one, so the ends swap.
    assert (got[coated].from_m, got[coated].to_m) == pytest.approx(
        (_coated_from_calendered(10.5), _coated_from_calendered(10.0))
    )
    # The foil was coated forward, 0..100 onto 0..100.
    foil = got[line.lots["foil"].code]
    assert (foil.from_m, foil.to_m) == pytest.approx((got[coated].from_m, got[coated].to_m))
    assert [got[c].depth for c in (lane, cal, coated)] == [1, 2, 3]
    assert got[coated].kind == "coated_roll"


def test_slurry_and_lots_are_whole_items_without_positions(line):
    got = _by_code(roll_map(item=line.sheets[5]))
    for code in (line.slurry.code, line.lots["nmc"].code, line.lots["carbon"].code, line.lots["pvdf"].code):
        assert (got[code].from_m, got[code].to_m) == (None, None)
    assert got[line.slurry.code].depth == 4
    assert got[line.lots["nmc"].code].depth == 5


@pytest.mark.parametrize(("sheet_index", "x"), [(0, 0.0), (3, 0.2), (3, 0.5), (7, 0.25)])
def test_a_point_on_a_sheet_maps_to_the_right_metre_upstream(line, sheet_index, x):
    sheet = line.sheets[sheet_index]
    got = _by_code(roll_map(item=sheet, from_m=x, to_m=x))
    lane_m = 10 + 0.5 * sheet_index + x
    for code, expected in (
        (line.lanes[0].code, lane_m),
        (line.calendered_roll.code, lane_m),  # slitting: scale 1
        (line.coated_roll.code, _coated_from_calendered(lane_m)),
        (line.lots["foil"].code, _coated_from_calendered(lane_m)),
    ):
        assert got[code].from_m == pytest.approx(expected), code
        assert got[code].to_m == pytest.approx(expected), code


def test_one_end_given_is_a_point(line):
    assert roll_map(item=line.sheets[3], from_m=0.2) == roll_map(item=line.sheets[3], from_m=0.2, to_m=0.2)
    assert roll_map(item=line.sheets[3], to_m=0.2) == roll_map(item=line.sheets[3], from_m=0.2, to_m=0.2)


def test_sheets_of_the_second_lane_map_through_lane_two(line):
    sheet = line.sheets[8]  # first sheet of lane 2
    got = _by_code(roll_map(item=sheet, from_m=0.1, to_m=0.1))
    assert line.lanes[0].code not in got
    assert got[line.lanes[1].code].from_m == pytest.approx(10.1)
    assert got[line.calendered_roll.code].from_m == pytest.approx(10.1)


def test_calendering_scales_100_over_104_reversed(line):
    got = _by_code(roll_map(item=line.calendered_roll, from_m=52, to_m=104))
    coated = got[line.coated_roll.code]
    assert (coated.from_m, coated.to_m) == pytest.approx((0.0, 50.0))
    start = _by_code(roll_map(item=line.calendered_roll, from_m=0, to_m=0))[line.coated_roll.code]
    # The calendered roll's metre 0 is the coated roll's last metre.
    assert (start.from_m, start.to_m) == pytest.approx((100.0, 100.0))
    whole = _by_code(roll_map(item=line.calendered_roll))[line.coated_roll.code]
    assert (whole.from_m, whole.to_m) == (0.0, 100.0)


def test_slitting_keeps_scale_one(line):
    got = _by_code(roll_map(item=line.lanes[1], from_m=20, to_m=30))
    assert (got[line.calendered_roll.code].from_m, got[line.calendered_roll.code].to_m) == pytest.approx((20, 30))
    coated = got[line.coated_roll.code]
    assert (coated.from_m, coated.to_m) == pytest.approx((100 - 30 * CAL_SCALE, 100 - 20 * CAL_SCALE))


def _spliced(operator):
    """CAL-SP (104 m) from CR-A metres 10-60 forward, then CR-B metres 0-30 reversed.

    Child ranges: CR-A 0-65 (scale 50/65), CR-B 65-104 (scale 30/39)."""
    register(operator, "coated_roll", 60, "m", code="CR-A", polarity="cathode")
    register(operator, "coated_roll", 40, "m", code="CR-B", polarity="cathode")
    return operation_record(
        actor=operator,
        step="calendering",
        station="CAL-01",
        inputs=[InputSpec("CR-A"), InputSpec("CR-B")],
        outputs=[
            OutputSpec(
                kind="calendered_roll",
                quantity=104,
                unit="m",
                code="CAL-SP",
                made_from=[StretchSpec("CR-A", 10, 60), StretchSpec("CR-B", 0, 30, reversed=True)],
            )
        ],
    ).outputs[0]


def test_a_spliced_roll_maps_each_stretch_through_its_own_edge(operator, stations):
    roll = _spliced(operator)
    first = _by_code(roll_map(item=roll, from_m=13, to_m=26))
    # Only CR-A lies under metres 13-26; forward: 10 + x * 50/65.
    assert set(first) == {"CR-A"}
    assert (first["CR-A"].from_m, first["CR-A"].to_m) == pytest.approx((20.0, 30.0))
    second = _by_code(roll_map(item=roll, from_m=78, to_m=78))
    # Only CR-B; reversed: 30 - (78 - 65) * 30/39 = 20.
    assert set(second) == {"CR-B"}
    assert (second["CR-B"].from_m, second["CR-B"].to_m) == pytest.approx((20.0, 20.0))
    across = _by_code(roll_map(item=roll, from_m=52, to_m=91))
    # Clipped to each edge's child range: CR-A 52..65 -> 50..60, CR-B 65..91 -> 10..30.
    assert (across["CR-A"].from_m, across["CR-A"].to_m) == pytest.approx((50.0, 60.0))
    assert (across["CR-B"].from_m, across["CR-B"].to_m) == pytest.approx((10.0, 30.0))
    whole = _by_code(roll_map(item=roll))
    assert (whole["CR-A"].from_m, whole["CR-A"].to_m) == (10.0, 60.0)
    assert (whole["CR-B"].from_m, whole["CR-B"].to_m) == (0.0, 30.0)


def test_a_stretch_outside_the_item_maps_to_nothing(line):
    assert roll_map(item=line.sheets[0], from_m=0.6, to_m=0.9) == []


def test_an_item_without_parents_has_no_upstream(operator, stations):
    lot = register(operator, "cathode_active_material", 5, "kg")
    assert roll_map(item=lot) == []
