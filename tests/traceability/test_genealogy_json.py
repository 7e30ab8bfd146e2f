"""The trace/track body built by PostgreSQL (traceability.selectors_graph) against the
dataclass path it replaces, field by field, on the factory line: the contract's shape
(the contract, docs/api.md). On SQLite the dataclass path itself answers."""

from typing import Any

import orjson
import pytest

from traceability.selectors import lineage_walk
from traceability.selectors_graph import lineage_json

pytestmark = pytest.mark.django_db

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
