"""Paging, filters and bad queries of GET /api/epcis/events/ (docs/api.md, Interoperability)."""

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from interop.epcis_export import events_page
from interop.epcis_query import events_query_parse, page_key, page_token
from lots.identifiers import digital_link
from lots.models import Item
from tests.factories import T0, Line, build_line, register
from tests.support import line_fixtures_for_the_module

from .conftest import URL

pytestmark = pytest.mark.django_db

# The line of tests/interop/conftest.py, built once for the module's tests.
module_line, engineer, stations, line = line_fixtures_for_the_module(
    lambda engineer: build_line(engineer, sheets_per_lane=4, lanes=1)
)


def _events(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def _key(event: dict[str, Any]) -> tuple[str, bool]:
    return event["eventID"], "errorDeclaration" in event


def walk(client: Any, **params: Any) -> list[list[dict[str, Any]]]:
    pages = []
    response = client.get(URL, params)
    while True:
        pages.append(_events(response))
        link = response.get("Link")
        if link is None:
            return pages
        assert link.endswith('>; rel="next"')
        url = link[1 : -len('>; rel="next"')]
        query = parse_qs(urlsplit(url).query)
        assert query["nextPageToken"] and all(query[k] == [str(v)] for k, v in params.items())
        response = client.get(url)
        assert len(pages) < 100


@pytest.fixture
def many_lots(engineer: User, line: Line) -> list[Item]:
    """Forty lots more, ten of them registered at one instant (the keyset must break the tie)."""
    instant = T0 + timedelta(days=1)
    return [register(engineer, "binder", 1, "kg", created_at=instant if 10 <= n < 20 else None) for n in range(40)]


@pytest.mark.parametrize("per_page", [1, 7, 30])
def test_pages_have_no_gaps_and_no_duplicates(
    engineer_client: Any, history: dict[str, Any], many_lots: list[Item], per_page: int
) -> None:
    whole = _events(engineer_client.get(URL, {"perPage": 1000}))
    pages = walk(engineer_client, perPage=per_page)
    assert all(len(page) == per_page for page in pages[:-1]) and 1 <= len(pages[-1]) <= per_page
    walked = [_key(e) for page in pages for e in page]
    assert walked == [_key(e) for e in whole]
    assert len(set(walked)) == len(walked)


def test_the_default_page_is_thirty_and_the_last_page_has_no_link(engineer_client: Any, many_lots: Any) -> None:
    first = engineer_client.get(URL)
    assert len(_events(first)) == 30 and "Link" in first
    total = len(_events(engineer_client.get(URL, {"perPage": 1000})))
    last = engineer_client.get(URL, {"perPage": total})
    assert len(_events(last)) == total and "Link" not in last


def test_a_page_takes_the_same_queries_however_many_events(engineer: User, history: dict[str, Any]) -> None:
    def counted(per_page: int) -> tuple[int, int]:
        query = events_query_parse({"perPage": [str(per_page)]})
        with CaptureQueriesContext(connection) as queries:
            page = events_page(query, base_url="")
        return len(queries), len(page.document["epcisBody"]["queryResults"]["resultsBody"]["eventList"])

    few_queries, few = counted(3)
    many_queries, many = counted(1000)
    assert many > 5 * few  # the whole line: operations with inputs and outputs, holds with items
    # six sources, then the inputs, outputs and caught items of the page (when it has any)
    assert few_queries <= many_queries == 10  # seven sources, then inputs, outputs, caught items


def test_a_page_of_one_item_takes_a_constant_number_of_queries(
    engineer: User, history: dict[str, Any], line: Line
) -> None:
    def run(code: str) -> int:
        query = events_query_parse({"item": [code], "perPage": ["1000"]})
        with CaptureQueriesContext(connection) as queries:
            events_page(query, base_url="")
        return len(queries)

    # seven sources, then inputs, outputs and caught items (the foil lot was never held)
    assert (run(line.lots["foil"].code), run(line.cells[0].code), run(line.lots["nmc"].code)) == (9, 10, 10)


def test_event_time_bounds(engineer_client: Any, history: dict[str, Any]) -> None:
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
    params = {"GE_eventTime": start.isoformat(), "LT_eventTime": end.isoformat(), "perPage": 1000}
    events = _events(engineer_client.get(URL, params))
    assert events and all(start.isoformat() <= e["eventTime"] < end.isoformat() for e in events)
    everything = _events(engineer_client.get(URL, {"perPage": 1000}))
    inside = [e for e in everything if start.isoformat() <= e["eventTime"] < end.isoformat()]
    assert [_key(e) for e in events] == [_key(e) for e in inside]


def test_since_is_on_record_time(engineer_client: Any, history: dict[str, Any]) -> None:
    everything = _events(engineer_client.get(URL, {"perPage": 1000}))
    middle = everything[len(everything) // 2]["recordTime"]
    later = _events(engineer_client.get(URL, {"since": middle, "perPage": 1000}))
    assert [_key(e) for e in later] == [_key(e) for e in everything if e["recordTime"] >= middle]


def test_event_type_and_biz_step(engineer_client: Any, history: dict[str, Any]) -> None:
    operations = _events(engineer_client.get(URL, {"eventType": "TransformationEvent", "perPage": 1000}))
    assert operations and {e["type"] for e in operations} == {"TransformationEvent"}
    assert _events(engineer_client.get(URL, {"eventType": "AggregationEvent"})) == []
    both = _events(engineer_client.get(URL, {"eventType": "ObjectEvent,TransformationEvent", "perPage": 1000}))
    assert len(both) == len(_events(engineer_client.get(URL, {"perPage": 1000})))
    assembled = _events(engineer_client.get(URL, {"EQ_bizStep": "https://ref.gs1.org/cbv/BizStep-assembling"}))
    assert assembled and {e["celltrace:step"] for e in assembled} == {"stacking"}
    several = _events(engineer_client.get(URL, {"EQ_bizStep": ["assembling", "holding"], "perPage": 1000}))
    assert {e["bizStep"] for e in several} == {"assembling", "holding"}


def test_match_any_epc_is_item_by_digital_link(engineer_client: Any, history: dict[str, Any], line: Line) -> None:
    cell, foil = line.cells[0], line.lots["foil"]
    links = [
        digital_link(code=i.code, gtin_item_reference=i.kind.gtin_item_reference, level=i.kind.level)
        for i in (cell, foil)
    ]
    by_link = _events(engineer_client.get(URL, {"MATCH_anyEPC": links[0], "perPage": 1000}))
    by_code = _events(engineer_client.get(URL, {"item": cell.code, "perPage": 1000}))
    assert by_link == by_code and by_link
    both = _events(engineer_client.get(URL, {"MATCH_anyEPC": ",".join(links), "perPage": 1000}))
    foil_only = _events(engineer_client.get(URL, {"item": foil.code, "perPage": 1000}))
    assert {_key(e) for e in both} == {_key(e) for e in by_link} | {_key(e) for e in foil_only}
    nobody = "https://id.celltrace.example/01/00614141000000/21/NOBODY"
    assert _events(engineer_client.get(URL, {"MATCH_anyEPC": nobody})) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("perPage", "0"),
        ("perPage", "1001"),
        ("perPage", "-3"),
        ("perPage", "ten"),
        ("perPage", "9" * 400),
        ("perPage", "²"),
        ("perPage", " 5"),
        ("MATCH_anyEPC", ",".join(f"CELL-{n:06d}" for n in range(101))),
        ("nextPageToken", "garbage"),
        ("nextPageToken", "W1siMjAyNiJdXQ:abc:def"),
        ("GE_eventTime", "yesterday"),
        ("LT_eventTime", "2026-13-40T00:00:00Z"),
        ("GE_eventTime", "9999-01-01T00:00:00Z"),
        ("since", "2026-03-02T06:00:00\x00"),
        ("eventType", "FooEvent"),
        ("eventType", ","),
        ("EQ_bizStep", "holding\x00"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(engineer_client: Any, line: Line, field: str, value: str) -> None:
    response = engineer_client.get(URL, {field: value})
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]


def test_a_tampered_token_is_refused(engineer_client: Any, many_lots: Any) -> None:
    token = page_token(page_key(page_token((T0, 0, 1))))
    assert engineer_client.get(URL, {"nextPageToken": token}).status_code == 200
    payload, signature = token.rsplit(":", 1)
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B") + ":" + signature
    response = engineer_client.get(URL, {"nextPageToken": forged})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["nextPageToken"]


def test_an_unknown_item_is_a_404(engineer_client: Any, line: Line) -> None:
    assert engineer_client.get(URL, {"item": "NO-SUCH-ITEM"}).status_code == 404
