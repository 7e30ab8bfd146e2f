"""The trace/track body built by PostgreSQL (traceability.selectors_graph) against the
dataclass path it replaces, field by field, on the factory line: the contract's shape
(the contract, docs/api.md). On SQLite the dataclass path itself answers."""

from typing import Any

import orjson
import pytest
from django.db import connection

from lots.models import Item
from tests.factories import build_line, register
from tests.support import line_fixtures_for_the_module
from traceability.selectors import MAX_DEPTH, lineage_walk, walk_sql
from traceability.selectors_graph import lineage_json
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db

# The factory line of tests/traceability/conftest.py, built once for the module's tests.
module_line, engineer, stations, line = line_fixtures_for_the_module(build_line)

NODE_KEYS = ["code", "kind", "status", "depth"]
EDGE_KEYS = ["parent", "child", "operation", "step", "from_m", "to_m", "child_from_m", "child_to_m", "lane", "reversed"]


def _edge_key(edge: dict[str, Any]) -> tuple[Any, ...]:
    return (edge["parent"], edge["child"], edge["operation"], edge["from_m"] or -1.0)


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert list(got) == ["root", "direction", "nodes", "edges"] == list(want)
    assert (got["root"], got["direction"]) == (want["root"], want["direction"])
    assert [list(n) for n in got["nodes"]] == [NODE_KEYS] * len(got["nodes"])
    assert got["nodes"] == want["nodes"]  # in order: by depth, then as the items were made
    assert [list(e) for e in got["edges"]] == [EDGE_KEYS] * len(got["edges"])
    # Edge order is not in the contract: compared as a multiset.
    assert sorted(got["edges"], key=_edge_key) == sorted(want["edges"], key=_edge_key)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"depth": 2},
        {"kinds": {"cell"}},
        {"kinds": {"cell", "slurry"}},
        {"edges": False},
        {"edges": False, "kinds": {"cell"}},
    ],
)
@pytest.mark.parametrize(("start", "direction"), [("nmc", "downstream"), ("cell", "upstream"), ("lane", "downstream")])
def test_the_json_body_equals_the_dataclass_path(line, start, direction, options):
    item = {"nmc": line.lots["nmc"], "cell": line.cells[0], "lane": line.lanes[0]}[start]
    got = orjson.loads(lineage_json(item=item, direction=direction, **options))
    want = orjson.loads(orjson.dumps(lineage_walk(item=item, direction=direction, **options)))
    _same(got, want)
    assert got["nodes"], "the graph holds at least its start"
    if options.get("edges", True) and not options.get("depth"):
        assert len(got["edges"]) >= len(got["nodes"]) - 1  # not vacuous: a connected graph


def test_an_item_with_nothing_downstream_is_its_node_alone(line):
    cell = line.cells[0]
    body = orjson.loads(lineage_json(item=cell, direction="downstream"))
    assert body == {
        "root": cell.code,
        "direction": "downstream",
        "nodes": [{"code": cell.code, "kind": "cell", "status": "active", "depth": 0}],
        "edges": [],
    }


@pytest.mark.parametrize("path", ["track", "trace"])
def test_the_http_body_is_the_dataclass_body(operator_client, line, path, django_assert_num_queries):
    item = line.lots["nmc"] if path == "track" else line.cells[0]
    # The token and its user with the user's groups, the item, the walk with its JSON.
    with django_assert_num_queries(3):
        response = operator_client.get(f"/api/items/{item.code}/{path}/", {"kind": "cell,slurry"})
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    direction = "downstream" if path == "track" else "upstream"
    want = orjson.loads(orjson.dumps(lineage_walk(item=item, direction=direction, kinds={"cell", "slurry"})))
    _same(response.json(), want)
    assert {n["kind"] for n in want["nodes"]} == {"cell", "slurry"}  # not vacuous


def test_an_edge_the_walk_reaches_at_two_depths_is_listed_once(operator, stations):
    """A lot split into two slurries, one of which meets the other again and both go into a
    last one: the walk reaches M -> X at depths 2 and 3 downstream, LOT -> L at 2 and 3
    upstream. Each edge once, as the dataclass path lists it."""
    lot = register(operator, "binder", 5, "kg", code="BND-T")

    def mix(code: str, *inputs: InputSpec) -> None:
        output = OutputSpec(kind="slurry", quantity=1, unit="kg", code=code)
        operation_record(actor=operator, step="mixing", station="MIX-01", inputs=list(inputs), outputs=[output])

    mix("SLR-TL", InputSpec(lot.code, 1, "kg"))
    mix("SLR-TM", InputSpec("SLR-TL", 0.5, "kg"), InputSpec(lot.code, 1, "kg"))
    mix("SLR-TX", InputSpec("SLR-TM", 1, "kg"), InputSpec("SLR-TL", 0.5, "kg"))
    last = Item.objects.get(code="SLR-TX")
    for item, direction in ((lot, "downstream"), (last, "upstream")):
        got = orjson.loads(lineage_json(item=item, direction=direction))
        _same(got, orjson.loads(orjson.dumps(lineage_walk(item=item, direction=direction))))
        pairs = sorted((e["parent"], e["child"]) for e in got["edges"])
        assert pairs == [
            ("BND-T", "SLR-TL"),
            ("BND-T", "SLR-TM"),
            ("SLR-TL", "SLR-TM"),
            ("SLR-TL", "SLR-TX"),
            ("SLR-TM", "SLR-TX"),
        ]
    # Not vacuous: the walk itself crosses an edge twice in each direction.
    for item, direction in ((lot, "downstream"), (last, "upstream")):
        with connection.cursor() as cursor:
            cursor.execute(walk_sql(direction, edges=True), {"item": item.pk, "max_depth": MAX_DEPTH})
            edge_rows = [row for row in cursor.fetchall() if row[0] == 1]
        assert len(edge_rows) == 6
