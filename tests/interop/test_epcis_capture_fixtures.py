"""Every reference document through POST /api/epcis/capture/ (docs/api.md, Interoperability):
the GS1 schema with its formats is the judge. Those it passes are captured (201); the three
openepcis "valid" documents it fails are refused with its reason; every Invalid one is a 400
naming the failing field by JSON Pointer, with nothing stored."""

import json

import pytest

from audit.models import AuditEvent
from interop.models import CapturedEvent, GtinKind
from lots.models import Item, ItemKind

from .conftest import fixture_files, gtins_of, need_fixtures, post_document

pytestmark = [need_fixtures, pytest.mark.django_db]

# The openepcis "valid" documents the GS1 schema (formats on) refuses, and why.
SCHEMA_REFUSES = {
    "AggregationEvent_with_persistentDisposition.json": (
        "/epcisBody/eventList/1/persistentDisposition",
        "not a field",  # the schema has no persistentDisposition on an AggregationEvent
    ),
    "TransactionEvent_with_userExtensions.json": (
        "/epcisBody/eventList/0/sensorElementList/0/sensorReport/0/type",
        "is not a 'uri'",  # 'EffectiveDoseRate' is no GS1 sensor type and no URI
    ),
    "SensorData_with_combined_events.json": (
        "/epcisBody/eventList/7/sensorElementList/0/sensorReport/1/type",
        "is not a 'uri'",  # 'Molar_concentration'
    ),
}
VALID = [p for p in fixture_files("gs1/JSON", "openepcis/Documents") if p.name not in SCHEMA_REFUSES]


def _table_for(document: dict) -> None:
    """The GTIN-to-kind rows an engineer would add for this document's suppliers."""
    for gtin, level in gtins_of(document).items():
        kind = "cell" if level == "serial" else "cathode_active_material"
        GtinKind.objects.create(gtin=gtin, kind=ItemKind.objects.get(code=kind))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_a_document_the_schema_passes_is_captured(engineer_client, path):
    document = json.loads(path.read_text(encoding="utf-8"))
    _table_for(document)

    response = post_document(engineer_client, document)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["events"] == body["stored"] + body["duplicates"] > 0
    assert CapturedEvent.objects.count() == body["stored"]


@pytest.mark.parametrize("name", sorted(SCHEMA_REFUSES))
def test_the_three_valid_looking_documents_the_schema_refuses_are_refused_with_its_reason(engineer_client, name):
    path = next(p for p in fixture_files("openepcis/Documents") if p.name == name)
    document = json.loads(path.read_text(encoding="utf-8"))
    _table_for(document)

    response = post_document(engineer_client, document, "application/json")

    assert response.status_code == 400
    pointer, reason = SCHEMA_REFUSES[name]
    assert reason in " ".join(response.json()["errors"][pointer])
    assert CapturedEvent.objects.count() == 0


INVALID = {
    "Combination_of_events_with_missing_mandatory_fields.json": "/epcisBody/eventList/0/action",
    "Combination_of_multiple_invalid_fields.json": "/epcisBody/eventList/0/bizStep",
    "Combination_of_non_standard_bizStep_and_disposition.json": "/epcisBody/eventList/1/disposition",
    "EPCISDocument_without_context.json": "/@context",
    "ObjectEvent_with_ilmd_field_without_namespace.json": "/epcisBody/eventList/0/ilmd/materialType",
    "ObjectEvent_with_invalid_action.json": "/epcisBody/eventList/0/action",
    "ObjectEvent_with_invalid_certificationInfo.json": "/epcisBody/eventList/0/certificationInfo",
    "ObjectEvent_with_invalid_eventTime_format.json": "/epcisBody/eventList/0/eventTime",
    "ObjectEvent_with_non_standard_bizStep.json": "/epcisBody/eventList/0/bizStep",
    "ObjectEvent_with_non_standard_bizStep_in_second_event.json": "/epcisBody/eventList/1/bizStep",
    "ObjectEvent_with_non_standard_disposition.json": "/epcisBody/eventList/0/disposition",
    "ObjectEvent_with_quantity_as_text.json": "/epcisBody/eventList/0/quantityList/0/quantity",
    "ObjectEvent_with_unknown_field_in_quantityList.json": "/epcisBody/eventList/0/quantityList/0/weight",
    "ObjectEvent_without_action_and_eventTime.json": "/epcisBody/eventList/0/eventTime",
    "ObjectEvent_without_identifier_list.json": "/epcisBody/eventList/0/epcList",
}


def test_every_invalid_document_is_listed_here():
    assert sorted(p.name for p in fixture_files("openepcis/Invalid")) == sorted(INVALID)


@pytest.mark.parametrize("path", fixture_files("openepcis/Invalid"), ids=lambda p: p.name)
def test_an_invalid_document_is_a_400_naming_the_field_and_stores_nothing(engineer_client, path):
    document = json.loads(path.read_text(encoding="utf-8"))
    _table_for(document)
    audited, items = AuditEvent.objects.count(), Item.objects.count()

    response = post_document(engineer_client, document)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert INVALID[path.name] in errors, errors
    assert all(key.startswith("/") for key in errors)
    assert (CapturedEvent.objects.count(), Item.objects.count(), AuditEvent.objects.count()) == (0, items, audited)
