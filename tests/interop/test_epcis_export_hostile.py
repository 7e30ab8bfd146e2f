"""Hostile events that capture may let through, followed to GET /api/epcis/events/: each is
either a 400 naming its JSON Pointer at capture, or stored and exported as JSON that validates
against the GS1 schema and hashes as it was captured. Never a 500."""

import json
from typing import Any

import pytest

from api.parsers import MAX_JSON_DEPTH
from interop.epcis_hash import context_namespaces, event_hash
from interop.models import CapturedEvent

from .conftest import post_document, schema_errors
from .test_epcis_capture_namespaces import STANDARD, observe

pytestmark = pytest.mark.django_db

EVENT = "/epcisBody/eventList/0"


def _document(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [STANDARD, {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T10:00:00Z",
        "epcisBody": {"eventList": [event]},
    }


def _exported_once(client: Any, validator: Any) -> dict[str, Any]:
    """The export, checked: it validates, and its one event hashes as the one captured."""
    response = client.get("/api/epcis/events/", {"perPage": 1000}, HTTP_ACCEPT="application/ld+json")
    assert response.status_code == 200, response.content[:500]
    document = json.loads(response.content)
    assert schema_errors(validator, document) == []
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [event_hash(e, context_namespaces(document["@context"])) for e in events] == [
        CapturedEvent.objects.get().event_hash
    ]
    return events[0]


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"example:level": value}
    return value


@pytest.mark.parametrize(
    ("extensions", "pointer"),
    [
        ({"example:note": "a\u0000b"}, f"{EVENT}/example:note"),
        ({"example:a.b/c[0]": {"example:d": ["ok", "x\u0000"]}}, f"{EVENT}/example:a.b~1c[0]/example:d/1"),
        ({"example:bad\u0000key": "v"}, f"{EVENT}/example:bad\\u0000key"),
        ({"example:lone": "\ud800"}, f"{EVENT}/example:lone"),
    ],
    ids=["nul-value", "nul-under-dotted-key", "nul-in-key", "lone-surrogate"],
)
def test_text_postgresql_cannot_hold_is_a_400_at_its_exact_pointer(engineer_client, extensions, pointer):
    response = post_document(engineer_client, _document(observe(0, **extensions)))
    assert response.status_code == 400, response.content
    assert pointer in response.json()["errors"]
    assert not CapturedEvent.objects.exists()


def test_nesting_past_the_limit_is_a_400_at_the_pointer_where_it_gets_too_deep(engineer_client):
    response = post_document(engineer_client, _document(observe(0, **{"example:deep": _nested(80, "x")})))
    assert response.status_code == 400, response.content
    (where,) = response.json()["errors"]
    assert where.startswith(f"{EVENT}/example:deep/example:level/")
    assert not CapturedEvent.objects.exists()


def test_nesting_within_the_limit_is_stored_and_exported(engineer_client, epcis_validator):
    deep = _nested(MAX_JSON_DEPTH - 8, "x")
    assert post_document(engineer_client, _document(observe(0, **{"example:deep": deep}))).status_code == 201
    assert _exported_once(engineer_client, epcis_validator)["example:deep"] == deep


def test_a_very_long_string_is_stored_and_exported_whole(engineer_client, epcis_validator):
    text = "Ω" * 1_000_000  # 2 MB of UTF-8, under the body limit
    key = "example:" + "k" * 100_000
    response = post_document(engineer_client, _document(observe(0, **{"example:log": text, key: "v"})))
    assert response.status_code == 201, response.content[:300]
    event = _exported_once(engineer_client, epcis_validator)
    assert event["example:log"] == text and event[key] == "v"


def test_thousands_of_extension_fields_are_stored_and_exported(engineer_client, epcis_validator):
    fields = {f"example:f{i}": [i, str(i), {"example:g": i / 7}] for i in range(5000)}
    assert post_document(engineer_client, _document(observe(0, **fields))).status_code == 201
    event = _exported_once(engineer_client, epcis_validator)
    assert {k: event[k] for k in fields} == fields


@pytest.mark.parametrize(
    "key", ["example:größe", "example:温度", "example:\U0001f50b", "example:שלום", "example:e\u0301", "example:~0/"]
)
def test_unicode_in_an_extension_key_is_stored_and_exported_or_a_400_naming_it(engineer_client, epcis_validator, key):
    response = post_document(engineer_client, _document(observe(0, **{key: {"example:v": "1"}})))
    if response.status_code == 400:
        assert f"{EVENT}/{key.replace('~', '~0').replace('/', '~1')}" in response.json()["errors"]
        return
    assert response.status_code == 201, response.content
    assert _exported_once(engineer_client, epcis_validator)[key] == {"example:v": "1"}


@pytest.mark.parametrize("number", [1e308, -1e308, 1.7976931348623157e308, 5e-324, -0.0, 12345678901234567890123])
def test_extreme_sensor_values_are_exported_as_valid_json(engineer_client, epcis_validator, number):
    sensors = [
        {
            "sensorMetadata": {"time": "2026-12-01T07:00:00Z"},
            "sensorReport": [{"type": "Temperature", "value": number, "uom": "CEL", "example:raw": number}],
        }
    ]
    response = post_document(engineer_client, _document(observe(0, sensorElementList=sensors)))
    assert response.status_code == 201, response.content
    report = _exported_once(engineer_client, epcis_validator)["sensorElementList"][0]["sensorReport"][0]
    assert report["value"] == number and report["example:raw"] == number
