"""A lone UTF-16 surrogate ("\\ud800", legal as a JSON escape, no character) anywhere in a JSON
body is a 400 `lone_surrogate` naming its path, and nothing is stored: PostgreSQL refuses it in
jsonb (and Python cannot encode it for a text column), which answered 500 before."""

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from connectors.models import Connector
from core.errors import ErrorCode
from labfiles.models import ImportMapping
from lots.models import Item
from measurements.models import Measurement, Parameter
from tests.factories import register
from traceability.models import Hold, Operation

LONE = "\ud800"
T = "2026-03-02T08:00:00+01:00"
LOT = {"kind": "cathode_active_material", "quantity": 25, "unit": "kg"}


def _rows() -> dict[str, int]:
    models = (Item, Operation, Hold, Measurement, Parameter, ImportMapping, Connector, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


def _send(client: Any, url: str, body: Any, method: str = "POST") -> Any:
    # json.dumps writes the surrogate as the escape \ud800, as a client's JSON library does.
    return client.generic(method, url, json.dumps(body), content_type="application/json")


@pytest.fixture
def lot(engineer, stations) -> Item:
    return register(engineer, "cathode_active_material", 25, "kg")


def _bodies(lot: str) -> list[tuple[str, Any, str]]:
    """(url, body, the field named); each body holds one lone surrogate."""
    operation = {"step": "mixing", "station": "MIX-01", "started_at": T, "inputs": [{"item": lot}]}
    return [
        ("/api/items/", LOT | {"attributes": {"note": f"dry{LONE}"}}, "attributes.note"),
        ("/api/items/", LOT | {"attributes": {f"no{LONE}te": 1}}, "attributes.no\\ud800te"),
        ("/api/items/", LOT | {"supplier_lot": f"L{LONE}1"}, "supplier_lot"),
        ("/api/operations/", operation | {"parameters": {"rpm": [1, {"set": LONE}]}}, "parameters.rpm[1].set"),
        (
            "/api/measurements/",
            {"parameter": "mass_loading", "item": lot, "series": {"x": [0, 1], "y": [1, 2], "x_unit": LONE}},
            "series.x_unit",
        ),
        ("/api/measurements/", {"parameter": "mass_loading", "value": 1, "item": lot, "method": LONE}, "method"),
        ("/api/holds/", {"item": lot, "reason": f"seal {LONE}"}, "reason"),
        ("/api/parameters/", {"code": "p", "name": "p", "unit": "m", "extra": {"why": LONE}}, "extra.why"),
        ("/api/import-mappings/", {"code": "bal", "values": [{"column": LONE}]}, "values[0].column"),
        ("/api/connectors/", {"code": "c", "kind": "mqtt", "options": {"password": LONE}}, "options.password"),
        ("/api/scan/", {"code": f"{lot}{LONE}", "station": "MIX-01"}, "code"),
        ("/api/measurements/bulk/", [{"parameter": "mass_loading", "item": lot, "method": LONE}], "rows[0].method"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_a_lone_surrogate_in_a_json_body_is_400_naming_its_path(engineer_client, lot, case):
    url, body, field = _bodies(lot.code)[case]
    before = _rows()
    response = _send(engineer_client, url, body)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == ErrorCode.LONE_SURROGATE and field in answer["errors"], answer
    assert _rows() == before


@pytest.mark.parametrize("lone", ["\udfff", "\udbff", "x\udc00y"])
def test_every_surrogate_of_the_range_is_refused(engineer_client, lot, lone):
    response = _send(engineer_client, "/api/items/", LOT | {"attributes": {"note": lone}})
    assert response.status_code == 400 and response.json()["code"] == ErrorCode.LONE_SURROGATE


def test_a_patch_is_refused_too_and_changes_nothing(engineer_client, db):
    body = {"code": "dry-mqtt", "kind": "mqtt", "endpoint": "mqtt://127.0.0.1:1883", "options": {"username": "a"}}
    assert _send(engineer_client, "/api/connectors/", body).status_code == 201
    response = _send(engineer_client, "/api/connectors/dry-mqtt/", {"options": {"username": LONE}}, method="PATCH")
    assert response.status_code == 400 and response.json()["code"] == ErrorCode.LONE_SURROGATE
    connector = Connector.objects.get(code="dry-mqtt")
    assert connector.options == {"username": "a"} and connector.revision == 1


def test_a_surrogate_pair_is_a_character_and_is_stored(engineer_client, stations):
    # "\ud83d\udd0b" is the escaped pair of one character (U+1F50B, a battery): no lone surrogate.
    body = '{"kind": "cathode_active_material", "quantity": 25, "unit": "kg", "attributes": {"n": "\\ud83d\\udd0b"}}'
    response = engineer_client.generic("POST", "/api/items/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert Item.objects.get(code=response.json()["code"]).attributes == {"n": "\U0001f50b"}


def test_an_escaped_backslash_before_u_d800_is_plain_text(engineer_client, stations):
    body = '{"kind": "cathode_active_material", "quantity": 25, "unit": "kg", "attributes": {"n": "\\\\ud800"}}'
    response = engineer_client.generic("POST", "/api/items/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert Item.objects.get(code=response.json()["code"]).attributes == {"n": "\\ud800"}


@pytest.mark.parametrize("url", ["/api/items/", "/api/measurements/bulk/"])
def test_a_surrogate_encoded_in_utf8_bytes_is_400_malformed(engineer_client, lot, url):
    # ED A0 80 is what "\ud800" would be in UTF-8, which forbids it; json.loads(bytes) let it through.
    body = b'[{"parameter": "mass_loading", "item": "' + lot.code.encode() + b'", "method": "\xed\xa0\x80"}]'
    if url == "/api/items/":
        body = b'{"kind": "cathode_active_material", "quantity": 25, "unit": "kg", "attributes": {"n": "\xed\xa0\x80"}}'
    before = _rows()
    response = engineer_client.generic("POST", url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == ErrorCode.MALFORMED
    assert _rows() == before
