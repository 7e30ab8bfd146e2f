import pytest

from tests.factories import build_line
from traceability.selectors import position_track, roll_map


@pytest.mark.django_db
def test_a_defect_on_the_coated_roll_is_found_in_exactly_the_sheets_and_cells_that_hold_it(engineer, stations):
    line = build_line(engineer, sheets_per_lane=8, lanes=2, sheets_per_cell=2)
    # Coated metre 89.5 is calendered metre (100 - 89.5) * 104/100 = 10.92 (reversed unwinding),
    # which is lane metre 10.92 on both lanes: sheet 1 of each lane (10.5-11.0 m).
    found = position_track(item=line.coated_roll, from_m=89.5)
    sheets = {s.code for s in found if s.kind == "electrode_sheet"}
    per_lane = len(line.sheets) // 2
    assert sheets == {line.sheets[1].code, line.sheets[per_lane + 1].code}
    cells = {s.code for s in found if s.kind == "cell"}
    # Cells are made of consecutive pairs of sheets: sheet 1 is in cell 0, sheet per_lane+1 in cell per_lane//2.
    assert cells == {line.cells[0].code, line.cells[per_lane // 2].code}
    calendered = next(s for s in found if s.code == line.calendered_roll.code)
    assert calendered.from_m == pytest.approx(10.92)
    # And back up again: the sheet's stretch maps onto coated metres that include 89.5.
    coated = next(s for s in roll_map(item=line.sheets[1]) if s.code == line.coated_roll.code)
    assert coated.from_m <= 89.5 <= coated.to_m


@pytest.mark.django_db
def test_a_stretch_outside_every_sheet_reaches_no_sheet(engineer, stations):
    line = build_line(engineer, sheets_per_lane=4, lanes=1)
    # Calendered metres 50-60 (coated 100 - 60/1.04 .. 100 - 50/1.04) were never cut into sheets.
    found = position_track(item=line.coated_roll, from_m=100 - 60 / 1.04, to_m=100 - 50 / 1.04)
    assert {s.kind for s in found} == {"calendered_roll", "slit_roll"}


@pytest.mark.django_db
def test_holding_a_stretch_of_the_coated_roll_catches_only_the_sheets_and_cells_that_hold_it(
    engineer_client, engineer, stations
):
    line = build_line(engineer, sheets_per_lane=8, lanes=2, sheets_per_cell=2)
    per_lane = len(line.sheets) // 2
    # Coated 89.45-89.55 m is calendered 10.868-10.972 m: inside sheet 1 of each lane only.
    response = engineer_client.post(
        "/api/holds/",
        {
            "item": line.coated_roll.code,
            "from_m": 89.45,
            "to_m": 89.55,
            "reason": "mass loading low",
            "downstream": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    expected_cells = {line.cells[0].code, line.cells[per_lane // 2].code}
    assert expected_cells <= set(body["items"])
    other_cells = {c.code for c in line.cells} - expected_cells
    assert not other_cells & set(body["items"])
    assert (body["from_m"], body["to_m"]) == (89.45, 89.55)
    for cell in line.cells:
        cell.refresh_from_db()
        assert (cell.status == "on_hold") == (cell.code in expected_cells)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"from_m": 10, "to_m": 5, "downstream": True}, "to_m"),
        ({"from_m": 10, "to_m": 500, "downstream": True}, "to_m"),
        ({"from_m": 10, "to_m": 20, "downstream": False}, "downstream"),
        ({"to_m": 20, "downstream": True}, "from_m"),
    ],
)
def test_a_bad_stretch_hold_is_a_400_naming_the_field(engineer_client, engineer, stations, extra, field):
    line = build_line(engineer, sheets_per_lane=2, lanes=1, sheets_per_cell=2)
    response = engineer_client.post(
        "/api/holds/", {"item": line.coated_roll.code, "reason": "x"} | extra, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
