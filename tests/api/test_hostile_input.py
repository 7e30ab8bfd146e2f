"""Input that used to answer 500: NUL characters, deep JSON, foreign cursors, impossible times,
export filters that failed in SQL, bodies that are not objects. Each is a 400 in the API's error
shape naming the field, with its code, and stores nothing."""

import base64
import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError
from rest_framework.test import APIClient

from api.parsers import MAX_JSON_DEPTH
from audit.models import AuditEvent
from core.errors import ErrorCode, InvalidInput
from datasets.models import Export
from datasets.runs import EXPORT_FAILED
from lots.models import Item
from measurements.models import Measurement, Parameter
from tests.factories import register
from traceability.models import Hold, Operation, Station

NUL = "\x00"
LOT = {"kind": "cathode_active_material", "quantity": 25, "unit": "kg"}


def _rows() -> dict[str, int]:
    models = (Item, Operation, Hold, Measurement, Export, Station, Parameter, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


def _refused(response: Any, field: str, code: str) -> dict[str, Any]:
    """400 in API.md's shape {"detail", "code", "errors": {field: [messages]}}, naming `field`."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}, body
    assert body["code"] == code, body
    assert field in body["errors"], body
    assert all(isinstance(m, str) for m in body["errors"][field])
    return body


def _post(client: APIClient, url: str, body: Any, **headers: str) -> Any:
    return client.generic("POST", url, json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def lot(engineer, stations) -> Item:
    return register(engineer, "cathode_active_material", 25, "kg")


# --- NUL in the path, the query and the headers -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/items/AB%00C/"),
        ("get", "/api/items/AB%00C/trace/"),
        ("get", "/api/items/AB%00C/track/"),
        ("get", "/api/items/AB%00C/label.png"),
        ("get", "/api/items/AB%00C/label.pdf"),
        ("get", "/api/items/AB%00C/completeness/"),
        ("post", "/api/items/AB%00C/scrap/"),
        ("get", "/api/parameters/mass%00loading/"),
        ("get", "/items/AB%00C/"),  # a web page
    ],
)
def test_nul_in_the_path_is_400_naming_the_path(engineer_client, lot, method, url):
    before = _rows()
    response = engineer_client.generic(method.upper(), url, json.dumps({"reason": "x"}), "application/json")
    _refused(response, "path", ErrorCode.NUL_CHARACTER)
    assert _rows() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/items/", "q"),
        ("/api/items/", "kind"),
        ("/api/items/", "created_after"),
        ("/api/operations/", "item"),
        ("/api/operations/", "station"),
        ("/api/operations/", "started_after"),
        ("/api/measurements/", "parameter"),
        ("/api/measurements/", "item"),
        ("/api/measurements/", "since"),
        ("/api/holds/", "cursor"),
        ("/api/audit/", "entity"),
        ("/api/parameters/", "q"),
        ("/api/items/{lot}/trace/", "kind"),
        ("/api/exports/", "cursor"),
    ],
)
def test_nul_in_a_query_parameter_is_400_naming_it(engineer_client, lot, url, param):
    response = engineer_client.get(url.format(lot=lot.code), {param: f"a{NUL}b"})
    _refused(response, param, ErrorCode.NUL_CHARACTER)


@pytest.mark.django_db
def test_nul_in_a_query_parameter_name_is_named_escaped(engineer_client):
    _refused(engineer_client.get("/api/items/?a%00b=1"), "a\\u0000b", ErrorCode.NUL_CHARACTER)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "field"),
    [("HTTP_IDEMPOTENCY_KEY", "headers.Idempotency-Key"), ("HTTP_X_STATION", "headers.X-Station")],
)
def test_nul_in_a_header_is_400_and_the_key_stays_unused(engineer_client, stations, header, field):
    before = _rows()
    _refused(_post(engineer_client, "/api/items/", LOT, **{header: f"k{NUL}1"}), field, ErrorCode.NUL_CHARACTER)
    assert _rows() == before
    assert _post(engineer_client, "/api/items/", LOT, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201


@pytest.mark.django_db
def test_nul_in_the_token_is_400_not_a_token_lookup(stations):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token abc{NUL}def")
    _refused(client.get("/api/items/"), "headers.Authorization", ErrorCode.NUL_CHARACTER)


@pytest.mark.django_db
def test_nul_in_a_web_form_is_400_and_places_no_hold(client, engineer, lot):
    client.force_login(engineer)
    before = _rows()
    form = {"item": lot.code, "reason": f"bad{NUL}seal", "downstream": "on"}
    response = client.post("/holds/", urlencode(form), content_type="application/x-www-form-urlencoded")
    _refused(response, "reason", ErrorCode.NUL_CHARACTER)
    assert client.post("/holds/", form).status_code == 200  # multipart: the form shows its error
    assert _rows() == before


# --- NUL and depth in JSON bodies ------------------------------------------------------------


def _hostile_bodies(lot: str) -> list[tuple[str, dict[str, Any], str]]:
    """(url, body, the field named) for every JSON write; each body carries one NUL."""
    t = "2026-03-02T08:00:00+01:00"
    return [
        ("/api/items/", LOT | {"attributes": {"note": f"a{NUL}"}}, "attributes.note"),
        ("/api/items/", LOT | {"attributes": {f"no{NUL}te": 1}}, "attributes.no\\u0000te"),
        ("/api/items/", LOT | {"supplier_lot": f"L{NUL}1"}, "supplier_lot"),
        (
            "/api/operations/",
            {"step": "mixing", "station": "MIX-01", "started_at": t, "inputs": [{"item": f"{lot}{NUL}"}]},
            "inputs[0].item",
        ),
        ("/api/holds/", {"item": lot, "reason": f"seal{NUL}"}, "reason"),
        ("/api/scan/", {"code": f"{lot}{NUL}", "station": "MIX-01"}, "code"),
        ("/api/exports/", {"filters": {"codes": ["A", f"B{NUL}"]}}, "filters.codes[1]"),
        ("/api/measurements/", {"parameter": "mass_loading", "value": 1, "item": lot, "method": NUL}, "method"),
        ("/api/stations/", {"code": "X-01", "name": f"X{NUL}", "steps": ["mixing"]}, "name"),
        ("/api/parameters/", {"code": "p", "name": "p", "unit": "m", "extra": {f"{NUL}": 1}}, "extra.\\u0000"),
        ("/api/measurements/bulk/", [{"parameter": "mass_loading", "item": f"{lot}{NUL}"}], "rows[0].item"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("case", range(11))
def test_nul_in_a_json_body_is_400_naming_its_path(engineer_client, lot, case):
    url, body, field = _hostile_bodies(lot.code)[case]
    before = _rows()
    _refused(_post(engineer_client, url, body), field, ErrorCode.NUL_CHARACTER)
    assert _rows() == before


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


POST_URLS = [
    "/api/items/",
    "/api/operations/",
    "/api/holds/",
    "/api/scan/",
    "/api/exports/",
    "/api/measurements/",
    "/api/measurements/bulk/",
    "/api/stations/",
    "/api/parameters/",
    "/api/items/{lot}/scrap/",
    "/api/holds/1/release/",
    "/api/measurements/1/correct/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", POST_URLS)
@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, json.dumps({"attributes": _nested(MAX_JSON_DEPTH)})])
def test_json_nested_too_deep_is_400(engineer_client, lot, url, text):
    before = _rows()
    response = engineer_client.generic("POST", url.format(lot=lot.code), text, content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == ErrorCode.TOO_DEEP and str(MAX_JSON_DEPTH) in body["detail"]
    [field] = body["errors"]  # the path where the limit is crossed, or the whole body
    top = "rows" if "bulk" in url else "body"
    assert field == top or field.startswith(("attributes.a.a", "rows.attributes.a.a")), field
    assert _rows() == before


@pytest.mark.django_db
def test_json_at_the_depth_limit_is_taken(engineer_client, stations):
    body = LOT | {"attributes": _nested(MAX_JSON_DEPTH - 2)}  # the body and attributes are two levels
    response = _post(engineer_client, "/api/items/", body)
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("url", POST_URLS)
@pytest.mark.parametrize("body", [[], "x", 5, None, True])
def test_a_body_that_is_not_an_object_is_400(engineer_client, lot, url, body):
    before = _rows()
    response = _post(engineer_client, url.format(lot=lot.code), body)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"detail", "code", "errors"}
    assert response.json()["errors"]
    assert _rows() == before


# --- Cursors -----------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LISTS = ["/api/items/", "/api/operations/", "/api/holds/", "/api/measurements/", "/api/exports/", "/api/audit/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    "cursor",
    ["garbage", _b64("junk\x01\xff"), _b64("o=-5"), _b64("r=x"), _b64("p=abc"), _b64("p=" + "9" * 30)],
)
def test_a_cursor_not_of_ours_is_400_naming_cursor(engineer_client, lot, url, cursor):
    _refused(engineer_client.get(url, {"cursor": cursor}), "cursor", ErrorCode.BAD_CURSOR)


@pytest.mark.django_db
@pytest.mark.parametrize("url", LISTS)
def test_our_own_cursors_still_page(engineer_client, lot, url):
    register(lot.created_by, "binder", 5, "kg")
    register(lot.created_by, "binder", 6, "kg")
    response = engineer_client.get(url, {"page_size": 1})
    assert response.status_code == 200, response.content
    assert engineer_client.get(url, {"cursor": _b64("o=" + "9" * 30)}).status_code == 200  # capped offset
    if response.json()["next"]:
        following = engineer_client.get(response.json()["next"])
        assert following.status_code == 200, following.content
        assert following.json()["results"] != response.json()["results"]


# --- Times in query filters --------------------------------------------------------------------

TIME_FILTERS = [
    ("/api/items/", "created_after"),
    ("/api/operations/", "started_after"),
    ("/api/measurements/", "since"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "param"), TIME_FILTERS)
@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T09:00:00+99:00",
        "2026-03-02T09:00:00+16:00",
        "2026-03-02T09:00:00-16:30",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1969-12-31T23:59:59Z",
        "2026-03-02T09:00:00",  # API.md: a time without an offset is refused
        "2026-13-02T09:00:00Z",
        "yesterday",
        "k%Q\u009d",  # a "%" in the text quoted by the message (a 500 under gunicorn's fuzzing)
        "100%",
    ],
)
def test_a_time_filter_outside_the_record_is_400_naming_it(engineer_client, url, param, value):
    _refused(engineer_client.get(url, {param: value}), param, InvalidInput.code)


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "param"), TIME_FILTERS)
@pytest.mark.parametrize("value", ["2026-03-02T09:00:00+15:59", "1970-01-01T00:00:00Z", "2026-03-02T09:00:00-05:00"])
def test_a_time_filter_inside_the_record_is_taken(engineer_client, url, param, value):
    assert engineer_client.get(url, {param: value}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("param", "value"), [("depth", "9" * 30), ("edges", NUL)])
def test_genealogy_query_parameters(engineer_client, lot, param, value):
    response = engineer_client.get(f"/api/items/{lot.code}/trace/", {param: value})
    assert response.status_code in (200, 400), response.content


# --- Export filters ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "field", "code"),
    [
        ({"created_after": "garbage"}, "filters.created_after", ErrorCode.BAD_TIME),
        ({"created_after": "2026-03-02T09:00:00+99:00"}, "filters.created_after", ErrorCode.BAD_TIME),
        ({"created_after": "2026-03-02T09:00:00"}, "filters.created_after", ErrorCode.BAD_TIME),
        ({"created_before": "0001-01-01T00:00:00+01:00"}, "filters.created_before", ErrorCode.OUT_OF_RANGE),
        ({"created_after": 1700000000}, "filters.created_after", ErrorCode.BAD_TIME),
        ({"codes": "CELL-1"}, "filters.codes", InvalidInput.code),
        ({"codes": [1, 2]}, "filters.codes", InvalidInput.code),
        ({"codes": [f"C{NUL}"]}, "filters.codes[0]", ErrorCode.NUL_CHARACTER),
        ({"colour": "red"}, "filters.colour", InvalidInput.code),
        ({"kind": "unobtainium"}, "filters.kind", ErrorCode.UNKNOWN_KIND),
        ({"kind": ["cell"]}, "filters.kind", InvalidInput.code),
        ({"status": "melted"}, "filters.status", InvalidInput.code),
        ("cell", "filters", InvalidInput.code),
    ],
)
def test_export_filters_are_checked_when_requested(engineer_client, filters, field, code):
    before = _rows()
    _refused(_post(engineer_client, "/api/exports/", {"filters": filters}), field, code)
    assert _rows() == before


@pytest.mark.django_db
@pytest.mark.parametrize("parameters", ["mass_loading", [1], ["no_such_parameter"], {"a": 1}])
def test_export_parameters_are_known_codes(engineer_client, parameters):
    _refused(_post(engineer_client, "/api/exports/", {"parameters": parameters}), "parameters", InvalidInput.code)
    assert not Export.objects.exists()


@pytest.mark.django_db
def test_a_failed_export_shows_a_code_and_logs_the_detail(
    engineer_client, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    secret = 'syntax error at or near "FROM" LINE 1: SELECT i.code FROM lots_item /srv/celltrace/datasets/table.py'

    def broken(**kwargs: Any) -> Any:
        raise DatabaseError(secret)

    monkeypatch.setattr("datasets.runs.dataset_rows", broken)
    with caplog.at_level(logging.ERROR, logger="datasets.runs"), django_capture_on_commit_callbacks(execute=True):
        export_id = _post(engineer_client, "/api/exports/", {"format": "csv"}).json()["id"]
    status = engineer_client.get(f"/api/exports/{export_id}/").json()
    assert status["status"] == "failed"
    assert EXPORT_FAILED in status["error"]
    assert "SELECT" not in status["error"] and "/srv/" not in status["error"]
    assert secret in caplog.text  # the detail is in the server log
