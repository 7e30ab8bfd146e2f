"""lineage_walk / lineage_trace / lineage_track on the factory line."""

import pytest

from tests.factories import build_line, register
from tests.support import line_fixtures_for_the_module
from traceability.selectors import lineage_trace, lineage_track, lineage_walk
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db

# The factory line of tests/traceability/conftest.py, built once for the module's tests.
module_line, engineer, stations, line = line_fixtures_for_the_module(build_line)


def _depths(genealogy):
    return {n.code: n.depth for n in genealogy.nodes}


def test_trace_of_a_cell_holds_exactly_what_is_inside_it(line):
    cell = line.cells[0]
    own_sheets = line.sheets[:4]
    genealogy = lineage_trace(item=cell)
    assert genealogy.root == cell.code
    assert genealogy.direction == "upstream"
    expected = {cell.code: 0}
    expected |= {s.code: 1 for s in own_sheets}
    expected |= {line.lanes[0].code: 2, line.calendered_roll.code: 3, line.coated_roll.code: 4}
    expected |= {line.slurry.code: 5, line.lots["foil"].code: 5}
    expected |= {line.lots[k].code: 6 for k in ("nmc", "carbon", "pvdf")}
    assert _depths(genealogy) == expected
    # The other lane, its sheets and the other cells are not inside this cell.
    assert line.lanes[1].code not in expected
    # One edge per lineage row on the way: 4 sheets, 4 cuts, slitting, calendering, 2 coating, 3 mixing.
    pairs = {(e.parent, e.child) for e in genealogy.edges}
    assert len(genealogy.edges) == len(pairs) == 15
    assert {(s.code, cell.code) for s in own_sheets} <= pairs
    assert (line.lots["nmc"].code, line.slurry.code) in pairs
    assert (line.coated_roll.code, line.calendered_roll.code) in pairs


def test_nodes_carry_kind_and_status(line):
    nodes = {n.code: n for n in lineage_trace(item=line.cells[0]).nodes}
    assert (nodes[line.cells[0].code].kind, nodes[line.cells[0].code].status) == ("cell", "active")
    assert (nodes[line.sheets[0].code].kind, nodes[line.sheets[0].code].status) == ("electrode_sheet", "consumed")
    assert nodes[line.lots["nmc"].code].kind == "cathode_active_material"
    assert nodes[line.lots["nmc"].code].status == "active"


def test_edges_carry_step_operation_and_positions(line):
    edges = {(e.parent, e.child): e for e in lineage_trace(item=line.cells[0]).edges}
    sheet = edges[(line.lanes[0].code, line.sheets[1].code)]
    assert sheet.step == "cutting"
    assert (sheet.from_m, sheet.to_m, sheet.child_from_m, sheet.child_to_m) == (10.5, 11.0, 0.0, 0.5)
    slit = edges[(line.calendered_roll.code, line.lanes[0].code)]
    assert (slit.step, slit.lane, slit.reversed) == ("slitting", 1, False)
    cal = edges[(line.coated_roll.code, line.calendered_roll.code)]
    assert (cal.step, cal.from_m, cal.to_m, cal.reversed) == ("calendering", 0.0, 100.0, True)
    assert (cal.child_from_m, cal.child_to_m) == (0.0, pytest.approx(104.0))
    assert cal.operation == line.calendered_roll.produced_by_id
    mix = edges[(line.lots["nmc"].code, line.slurry.code)]
    assert (mix.step, mix.from_m, mix.to_m, mix.lane) == ("mixing", None, None, None)


def test_track_of_the_nmc_lot_reaches_every_cell(line):
    genealogy = lineage_track(item=line.lots["nmc"])
    depths = _depths(genealogy)
    assert genealogy.direction == "downstream"
    assert {c.code for c in line.cells} <= set(depths)
    assert {s.code for s in line.sheets} <= set(depths)
    assert {c.code: depths[c.code] for c in line.cells} == {c.code: 6 for c in line.cells}
    # Nothing upstream or beside it: not the foil, not the other lots.
    assert line.lots["foil"].code not in depths
    assert line.lots["carbon"].code not in depths
    # Every edge points from parent to child, downstream.
    assert all(depths[e.parent] < depths[e.child] for e in genealogy.edges)


def test_depth_limits_the_walk(line):
    genealogy = lineage_trace(item=line.cells[0], depth=1)
    assert _depths(genealogy) == {line.cells[0].code: 0} | {s.code: 1 for s in line.sheets[:4]}
    assert len(genealogy.edges) == 4
    assert _depths(lineage_trace(item=line.cells[0], depth=0)) == {line.cells[0].code: 0}
    assert lineage_trace(item=line.cells[0], depth=0).edges == []
    assert max(_depths(lineage_track(item=line.slurry, depth=3)).values()) == 3


def test_kind_filter_keeps_the_edges(line):
    full = lineage_track(item=line.lots["nmc"])
    cells_only = lineage_track(item=line.lots["nmc"], kinds={"cell"})
    assert {n.code for n in cells_only.nodes} == {c.code for c in line.cells}
    assert cells_only.edges == full.edges
    two = lineage_trace(item=line.cells[0], kinds={"slurry", "coated_roll"})
    assert {n.kind for n in two.nodes} == {"slurry", "coated_roll"}


def test_an_item_with_no_lineage_is_its_own_graph(operator, stations):
    lot = register(operator, "electrolyte", 20, "L")
    for walk in (lineage_trace(item=lot), lineage_track(item=lot)):
        assert [(n.code, n.depth) for n in walk.nodes] == [(lot.code, 0)]
        assert walk.edges == []


def test_a_diamond_gives_each_node_once_at_its_shortest_depth_and_each_edge_once(operator, stations):
    """A lot split into two slurries that meet again, plus a short cut from the lot itself."""
    lot = register(operator, "binder", 5, "kg", code="BND-D")
    left = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(lot.code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg", code="SLR-L")],
    ).outputs[0]
    right = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(lot.code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg", code="SLR-R")],
    ).outputs[0]
    operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(left.code), InputSpec(right.code), InputSpec(lot.code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=3, unit="kg", code="SLR-M")],
    )
    down = lineage_track(item=lot)
    assert _depths(down) == {"BND-D": 0, "SLR-L": 1, "SLR-R": 1, "SLR-M": 1}
    assert sorted((e.parent, e.child) for e in down.edges) == [
        ("BND-D", "SLR-L"),
        ("BND-D", "SLR-M"),
        ("BND-D", "SLR-R"),
        ("SLR-L", "SLR-M"),
        ("SLR-R", "SLR-M"),
    ]
    up = lineage_walk(item=left.__class__.objects.get(code="SLR-M"), direction="upstream")
    assert _depths(up) == {"SLR-M": 0, "SLR-L": 1, "SLR-R": 1, "BND-D": 1}
    assert len(up.edges) == 5
