"""GET /api/items/{code}/trace/ and /track/: shape, filters, errors and query counts."""

from urllib.parse import quote

import pytest

from core.errors import ErrorCode, InvalidInput
from tests.factories import build_line
from tests.support import line_fixtures_for_the_module

pytestmark = pytest.mark.django_db

# The factory line of tests/traceability/conftest.py, built once for the module's tests.
module_line, engineer, stations, line = line_fixtures_for_the_module(build_line)

NODE_KEYS = {"code", "kind", "status", "depth"}
EDGE_KEYS = {"parent", "child", "operation", "step", "from_m", "to_m"}


def test_trace_has_the_contract_shape(operator_client, line):
    cell = line.cells[0]
    response = operator_client.get(f"/api/items/{cell.code}/trace/")
    assert response.status_code == 200
    body = response.json()
    assert (body["root"], body["direction"]) == (cell.code, "upstream")
    assert all(set(node) == NODE_KEYS for node in body["nodes"])
    assert all(EDGE_KEYS <= set(edge) for edge in body["edges"])
    nodes = {n["code"]: n for n in body["nodes"]}
    assert nodes[cell.code] == {"code": cell.code, "kind": "cell", "status": "active", "depth": 0}
    # The supplier lots are inside the cell.
    assert {lot.code for lot in line.lots.values()} <= set(nodes)
    assert nodes[line.lots["nmc"].code]["depth"] == 6
    cut = next(e for e in body["edges"] if e["child"] == line.sheets[0].code)
    assert cut["parent"] == line.lanes[0].code
    assert (cut["step"], cut["from_m"], cut["to_m"]) == ("cutting", 10.0, 10.5)
    assert isinstance(cut["operation"], int)


def test_track_of_the_nmc_lot_contains_every_cell(operator_client, line):
    response = operator_client.get(f"/api/items/{line.lots['nmc'].code}/track/")
    assert response.status_code == 200
    body = response.json()
    assert body["direction"] == "downstream"
    codes = {n["code"] for n in body["nodes"]}
    assert {c.code for c in line.cells} <= codes
    assert line.lots["foil"].code not in codes


def test_depth_limits_the_graph(operator_client, line):
    body = operator_client.get(f"/api/items/{line.cells[0].code}/trace/", {"depth": 1}).json()
    assert sorted((n["depth"], n["code"]) for n in body["nodes"]) == [(0, line.cells[0].code)] + [
        (1, s.code) for s in line.sheets[:4]
    ]
    assert {e["child"] for e in body["edges"]} == {line.cells[0].code}


def test_kind_filter_keeps_the_edges(operator_client, line):
    url = f"/api/items/{line.lots['nmc'].code}/track/"
    everything = operator_client.get(url).json()
    cells = operator_client.get(url, {"kind": "cell"}).json()
    assert {n["kind"] for n in cells["nodes"]} == {"cell"}
    assert {n["code"] for n in cells["nodes"]} == {c.code for c in line.cells}
    assert cells["edges"] == everything["edges"]
    several = operator_client.get(url, {"kind": "cell,slurry"}).json()
    assert {n["kind"] for n in several["nodes"]} == {"cell", "slurry"}


def test_the_item_can_be_named_by_its_digital_link(operator_client, line):
    cell = line.cells[0]
    link = operator_client.get(f"/api/items/{cell.code}/").json()["digital_link"]
    response = operator_client.get(f"/api/items/{quote(link, safe='')}/trace/")
    assert response.status_code == 200, response.json()
    assert response.json()["root"] == cell.code


@pytest.mark.parametrize("depth", ["-1", "two", "1.5"])
def test_a_bad_depth_is_a_400(operator_client, line, depth):
    response = operator_client.get(f"/api/items/{line.cells[0].code}/trace/", {"depth": depth})
    assert response.status_code == 400
    assert response.json()["code"] == InvalidInput.code
    assert "depth" in response.json()["errors"]


def test_an_unknown_item_is_a_404(operator_client, stations):
    response = operator_client.get("/api/items/CELL-404404/track/")
    assert response.status_code == 404
    assert response.json()["code"] == ErrorCode.UNKNOWN_ITEM


def test_genealogy_needs_a_token(anon_client, line):
    assert anon_client.get(f"/api/items/{line.cells[0].code}/trace/").status_code == 401


def test_trace_and_track_take_the_same_number_of_queries_on_a_small_and_a_big_line(
    operator_client, engineer, stations, django_assert_num_queries
):
    # One cell made of all sheets: 8 sheets in the small line, 80 in the big one.
    small = build_line(engineer, sheets_per_lane=4, sheets_per_cell=8)
    big = build_line(engineer, sheets_per_lane=40, sheets_per_cell=80)
    sizes = []
    for built in (small, big):
        [cell] = built.cells
        # 1. the token and its user with the user's role groups (one query),
        # 2. the item by code / Digital Link / EPC, 3. the recursive walk with its nodes and edges.
        with django_assert_num_queries(3):
            trace = operator_client.get(f"/api/items/{cell.code}/trace/")
        # The same three for the walk downstream.
        with django_assert_num_queries(3):
            track = operator_client.get(f"/api/items/{built.lots['nmc'].code}/track/")
        assert trace.status_code == track.status_code == 200
        sizes.append((len(trace.json()["nodes"]), len(track.json()["nodes"])))
    # The cell, its sheets, 2 lanes, the calendered and coated rolls, slurry, foil and 3 lots.
    assert sizes[0][0] == 1 + 8 + 2 + 7
    assert sizes[1][0] == 1 + 80 + 2 + 7
    assert sizes[1][1] > sizes[0][1]


def test_track_without_edges_lists_only_the_cells_that_hold_a_lot(operator_client, line, django_assert_num_queries):
    lot = line.lots["nmc"].code
    full = operator_client.get(f"/api/items/{lot}/track/?kind=cell").json()
    # Token with user and role groups, the lot, the walk: the same three queries as with edges.
    with django_assert_num_queries(3):
        response = operator_client.get(f"/api/items/{lot}/track/?kind=cell&edges=false")
    body = response.json()
    assert response.status_code == 200
    assert body["edges"] == []
    assert {n["code"] for n in body["nodes"]} == {c.code for c in line.cells} == {n["code"] for n in full["nodes"]}
    assert {n["kind"] for n in body["nodes"]} == {"cell"}


def test_edges_must_be_true_or_false(operator_client, line):
    response = operator_client.get(f"/api/items/{line.cells[0].code}/trace/?edges=maybe")
    assert response.status_code == 400
    assert "edges" in response.json()["errors"]
