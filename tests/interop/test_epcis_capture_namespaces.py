"""Captured events whose documents map prefixes otherwise than the export does (the standard
context's, CellTrace's, another captured document's): GET /api/epcis/events/ still validates,
each extension comes back under the namespace it was captured under, and the export captured
again stores nothing."""

import json
from typing import Any

import pytest

from interop.epcis_hash import STANDARD_NAMESPACES, context_namespaces, event_hash
from interop.models import CapturedEvent

from .conftest import post_document, schema_errors

pytestmark = pytest.mark.django_db

STANDARD = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def observe(minute: int, **extensions: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": f"2026-12-01T08:{minute:02d}:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sscc:4012345.0000000333"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        **extensions,
    }


def captured(client: Any, context: dict[str, str] | None, *events: dict[str, Any]) -> None:
    document = {
        "@context": [STANDARD, context] if context else [STANDARD],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }
    response = post_document(client, document)
    assert response.status_code == 201, response.json()


def exported(client: Any) -> dict[str, Any]:
    response = client.get("/api/epcis/events/", {"perPage": 1000}, HTTP_ACCEPT="application/ld+json")
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def expanded(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each exported event's extension fields as {IRI: value}, each under its own scope."""
    outer = STANDARD_NAMESPACES | context_namespaces(document["@context"])
    found = []
    for event in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]:
        names = context_namespaces(event.get("@context"), outer)
        fields = {}
        for key, value in event.items():
            prefix, sep, local = key.partition(":")
            if sep and prefix in names:
                fields[names[prefix] + local] = value
            elif sep:
                fields[key] = value
        found.append(fields)
    return found


CLASHING = {
    "cbvmda": "https://supplier.example/mda/",
    "gs1": "https://supplier.example/voc/",
    "celltrace": "https://supplier.example/celltrace/",
    "example": "https://a.example/",
}


@pytest.fixture
def clashes(engineer_client: Any) -> None:
    captured(
        engineer_client,
        CLASHING,
        observe(0, **{"cbvmda:grade": "A", "gs1:note": "n", "celltrace:batch": "b1", "example:x": {"example:y": "1"}}),
    )
    captured(engineer_client, {"example": "https://b.example/"}, observe(1, **{"example:x": "2"}))
    captured(engineer_client, None, observe(2, **{"example:x": "3"}))  # an undeclared prefix: a plain name


def test_the_export_validates_and_keeps_each_extension_under_its_namespace(
    engineer_client: Any, epcis_validator: Any, clashes: None
) -> None:
    document = exported(engineer_client)
    assert schema_errors(epcis_validator, document) == []
    assert expanded(document) == [
        {
            "https://supplier.example/mda/grade": "A",
            "https://supplier.example/voc/note": "n",
            "https://supplier.example/celltrace/batch": "b1",
            "https://a.example/x": {"example:y": "1"},
        },
        {"https://b.example/x": "2"},
        {"example:x": "3"},
    ]


def test_the_export_hashes_as_captured_and_captured_again_stores_nothing(engineer_client: Any, clashes: None) -> None:
    document = exported(engineer_client)
    namespaces = context_namespaces(document["@context"])
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [event_hash(e, namespaces) for e in events] == list(
        CapturedEvent.objects.order_by("captured_at", "pk").values_list("event_hash", flat=True)
    )
    response = post_document(engineer_client, document)
    assert response.status_code == 201, response.json()
    assert response.json() == {"events": 3, "stored": 0, "duplicates": 3}


def test_the_export_s_own_prefixes_are_not_redefined_for_the_whole_document(
    engineer_client: Any, clashes: None
) -> None:
    context = exported(engineer_client)["@context"]
    declared = context_namespaces(context)
    assert declared["celltrace"] != CLASHING["celltrace"]
    assert "cbvmda" not in declared and "gs1" not in declared  # the standard context's, untouched
    assert declared["example"] == "https://a.example/"  # the first captured event's, scoped in the others


def test_a_captured_event_s_own_context_still_wins(engineer_client: Any) -> None:
    event = observe(3, **{"@context": {"example": "https://inner.example/"}, "example:x": "4"})
    captured(engineer_client, {"example": "https://outer.example/"}, event)
    document = exported(engineer_client)
    assert expanded(document) == [{"https://inner.example/x": "4"}]
    namespaces = context_namespaces(document["@context"])
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event_hash(events[0], namespaces) == CapturedEvent.objects.get().event_hash
