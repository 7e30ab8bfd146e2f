"""GET /api/epcis/events/: the line's history as GS1 EPCIS 2.0 (docs/api.md, Interoperability)."""

from typing import Any

import pytest
from jsonschema import Draft7Validator

from interop.vocabulary import event_id
from lots.identifiers import digital_link
from lots.models import Item
from tests.factories import Line
from traceability.models import HoldItem

from .conftest import URL, schema_errors

pytestmark = pytest.mark.django_db


def _uri(item: Item) -> str:
    return digital_link(code=item.code, gtin_item_reference=item.kind.gtin_item_reference, level=item.kind.level)


def everything(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get(URL, {"perPage": 1000, **params})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/ld+json")
    return response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def test_the_validator_rejects_what_the_standard_forbids(epcis_validator: Draft7Validator) -> None:
    """The schema check bites: a bad URI, a bad time and a bad uom each fail it."""
    event = {"type": "ObjectEvent", "action": "ADD", "eventTime": "2026-03-02T06:00:00+00:00"}
    event |= {"eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:0614141.107346.1"]}
    body = {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": [event]}}}
    document = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]}
    document |= {"type": "EPCISQueryDocument", "schemaVersion": "2.0", "epcisBody": body}
    assert schema_errors(epcis_validator, document) == []
    for key, bad in (("eventID", "not a uri"), ("eventTime", "yesterday"), ("action", "TAKE")):
        broken = event | {key: bad}
        body["queryResults"]["resultsBody"]["eventList"] = [broken]
        assert schema_errors(epcis_validator, document), key
    body["queryResults"]["resultsBody"]["eventList"] = [
        event | {"epcList": [], "quantityList": [{"epcClass": "urn:x:y", "quantity": 1, "uom": "kilogram"}]}
    ]
    assert schema_errors(epcis_validator, document)


def test_the_whole_history_validates_against_the_gs1_schema(
    engineer_client: Any, history: dict[str, Any], epcis_validator: Draft7Validator
) -> None:
    response = engineer_client.get(URL, {"perPage": 1000})
    document = response.json()
    assert schema_errors(epcis_validator, document) == []
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    kinds = {(e["type"], e.get("action"), e.get("bizStep"), e.get("disposition")) for e in events}
    assert ("ObjectEvent", "ADD", "commissioning", "active") in kinds
    assert ("ObjectEvent", "OBSERVE", "holding", "recalled") in kinds
    assert ("ObjectEvent", "OBSERVE", "holding", "non_sellable_other") in kinds
    assert ("ObjectEvent", "OBSERVE", "holding", "active") in kinds
    assert ("TransformationEvent", None, "assembling", "active") in kinds
    record_times = [e["recordTime"] for e in events]
    assert record_times == sorted(record_times)
    assert len({e["eventID"] for e in events if "errorDeclaration" not in e}) == len(events) - 1


@pytest.mark.parametrize("item_name", ["nmc", "slurry", "cell", "coated_roll"])
def test_each_item_s_document_validates(
    engineer_client: Any, history: dict[str, Any], line: Line, epcis_validator: Draft7Validator, item_name: str
) -> None:
    item = {"nmc": line.lots["nmc"], "slurry": line.slurry, "cell": line.cells[0], "coated_roll": line.coated_roll}
    found = item[item_name]
    assert found is not None
    response = engineer_client.get(URL, {"item": found.code})
    assert response.status_code == 200
    assert schema_errors(epcis_validator, response.json()) == []


def test_a_batch_consumption_lists_quantities_with_rec20_units(engineer_client: Any, line: Line) -> None:
    nmc = line.lots["nmc"]
    events = everything(engineer_client, item=nmc.code)
    registration, mixing = events[0], events[1]
    assert (registration["action"], registration["quantityList"]) == (
        "ADD",
        [{"epcClass": _uri(nmc), "quantity": 25, "uom": "KGM"}],
    )
    assert "/10/" in _uri(nmc)  # a batch: the lot's LGTIN
    assert mixing["type"] == "TransformationEvent"
    taken = {q["epcClass"]: q for q in mixing["inputQuantityList"]}
    assert taken[_uri(nmc)] == {"epcClass": _uri(nmc), "quantity": 9.2, "uom": "KGM"}
    assert taken[_uri(line.lots["pvdf"])]["quantity"] == 0.4  # 400 g in the lot's kg
    assert mixing["outputQuantityList"] == [{"epcClass": _uri(line.slurry), "quantity": 10, "uom": "KGM"}]
    assert mixing["bizStep"] == "commissioning"
    assert mixing["readPoint"]["id"].endswith("/stations/MIX-01")


def test_a_cell_names_its_sheets_and_its_assembly_by_epc(engineer_client: Any, line: Line) -> None:
    cell = line.cells[0]
    events = everything(engineer_client, item=cell.code)
    stacking = [e for e in events if e["type"] == "TransformationEvent"]
    assert len(stacking) == 1
    assert stacking[0]["outputEPCList"] == [_uri(cell)]
    assert "/21/" in _uri(cell)  # an instance: its SGTIN serial
    assert sorted(stacking[0]["inputEPCList"]) == sorted(_uri(sheet) for sheet in line.sheets[:4])
    # a cell is made, not registered: no ADD of its own
    assert all(e.get("action") != "ADD" for e in events)


def test_item_gives_registration_operations_holds_and_measurements(
    engineer_client: Any, history: dict[str, Any], line: Line
) -> None:
    roll = line.coated_roll
    assert roll is not None
    events = everything(engineer_client, item=roll.code)
    ids = [e["eventID"] for e in events]
    recall = history["recall"]
    # a consumed roll is not caught by the recall of its lot: only what is left of the line is
    caught = HoldItem.objects.filter(hold=recall, item=roll).exists()
    assert (event_id("hold", recall.pk) in ids, event_id("release", recall.pk) in ids) == (caught, caught)
    assert event_id("hold", history["cell_hold"].pk) not in ids
    made_and_used = [e for e in events if e["type"] == "TransformationEvent"]
    assert [e["bizStep"] for e in made_and_used] == ["commissioning", "commissioning"]  # coating, calendering
    assert event_id("measurement", history["thickness"].pk) in ids
    assert event_id("measurement", history["ocv"].pk) not in ids  # the cell's, not the roll's
    for event in events:
        named = event.get("epcList", []) + [q["epcClass"] for q in event.get("quantityList", [])]
        named += [q["epcClass"] for q in event.get("inputQuantityList", []) + event.get("outputQuantityList", [])]
        assert _uri(roll) in named, event["eventID"]


def test_a_cell_s_holds_and_releases(engineer_client: Any, history: dict[str, Any], line: Line) -> None:
    ids = [e["eventID"] for e in everything(engineer_client, item=line.cells[0].code)]
    recall, cell_hold = history["recall"], history["cell_hold"]
    for expected in (event_id("hold", recall.pk), event_id("release", recall.pk), event_id("hold", cell_hold.pk)):
        assert expected in ids
    assert event_id("measurement", history["ocv"].pk) in ids


def test_holds_and_releases(engineer_client: Any, history: dict[str, Any], line: Line) -> None:
    events = everything(engineer_client, EQ_bizStep="holding")
    recall, cell_hold = history["recall"], history["cell_hold"]
    by_id = {e["eventID"]: e for e in events}
    assert set(by_id) == {event_id("hold", recall.pk), event_id("release", recall.pk), event_id("hold", cell_hold.pk)}
    placed, released = by_id[event_id("hold", recall.pk)], by_id[event_id("release", recall.pk)]
    assert (placed["disposition"], released["disposition"]) == ("recalled", "active")
    caught = set(placed.get("epcList", [])) | {q["epcClass"] for q in placed.get("quantityList", [])}
    assert {_uri(line.lots["nmc"]), _uri(line.cells[0]), _uri(line.cells[-1])} <= caught
    assert by_id[event_id("hold", cell_hold.pk)] == by_id[event_id("hold", cell_hold.pk)] | {
        "disposition": "non_sellable_other",
        "epcList": [_uri(line.cells[0])],
        "celltrace:reason": "swollen",
    }


def test_measurements_as_sensor_reports(engineer_client: Any, history: dict[str, Any]) -> None:
    events = {e["eventID"]: e for e in everything(engineer_client, EQ_bizStep="sensor_reporting")}
    ocv = events[event_id("measurement", history["ocv"].pk)]
    report = ocv["sensorElementList"][0]["sensorReport"][0]
    assert (report["type"], report["value"], report["uom"]) == ("Voltage", 3.65, "VLT")
    assert ocv["readPoint"]["id"].endswith("/stations/FORM-01")
    picture = events[event_id("measurement", history["file"].pk)]["sensorElementList"][0]["sensorReport"][0]
    assert picture["rawData"] == f"http://testserver/api/measurements/{history['file'].pk}/file/"
    assert "uom" not in picture and picture["celltrace:unit"] == "mg/cm**2"  # no Rec 20 code for it
    series = events[event_id("measurement", history["series"].pk)]["sensorElementList"][0]["sensorReport"][0]
    assert series["rawData"].endswith(f"/api/measurements/{history['series'].pk}/")
    assert (series["uom"], "value" in series) == ("4H", False)


def test_a_correction_is_an_error_declaration_of_the_corrected_event(
    engineer_client: Any, history: dict[str, Any]
) -> None:
    events = everything(engineer_client, EQ_bizStep="sensor_reporting")
    old, new = history["thickness"], history["corrected"]
    declared = [e for e in events if "errorDeclaration" in e]
    assert len(declared) == 1
    declaration = declared[0]
    original = next(e for e in events if e["eventID"] == event_id("measurement", old.pk) and e is not declaration)
    assert declaration["eventID"] == original["eventID"]  # EPCIS: the event in error keeps its id
    assert declaration["eventTime"] == original["eventTime"]
    assert declaration["errorDeclaration"]["reason"] == "incorrect_data"
    assert declaration["errorDeclaration"]["correctiveEventIDs"] == [event_id("measurement", new.pk)]
    assert declaration["errorDeclaration"]["celltrace:reason"] == "wrong gauge"
    assert declaration["sensorElementList"][0]["sensorReport"][0]["value"] == 120
    corrective = next(e for e in events if e["eventID"] == event_id("measurement", new.pk))
    assert corrective["sensorElementList"][0]["sensorReport"][0]["value"] == 118


def test_repeated_exports_give_the_same_events(engineer_client: Any, history: dict[str, Any]) -> None:
    first, second = everything(engineer_client), everything(engineer_client)
    assert first == second


def test_any_role_reads_and_nobody_anonymous(operator_client: Any, anon_client: Any, line: Line) -> None:
    assert operator_client.get(URL).status_code == 200
    assert anon_client.get(URL).status_code in (401, 403)
