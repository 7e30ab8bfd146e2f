"""POST /api/epcis/capture/ (docs/api.md, Interoperability): what a captured event does on the
line, duplicates, the GTIN-to-kind table, roles, and a Digital Link matching GTIN and lot."""

import json
from copy import deepcopy
from typing import Any
from urllib.parse import quote

import pytest

from audit.models import AuditEvent
from interop.models import CapturedEvent, GtinKind
from lots.models import Item, ItemKind, ItemStatus
from lots.services import item_register

from .conftest import CAPTURE, CELL, NMC, NMC_B, PRECURSOR, post_document

pytestmark = pytest.mark.django_db


def _gtin(body13: str) -> str:
    from lots.identifiers import gtin_check_digit

    return body13 + gtin_check_digit(body13)


CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def document(*events: dict[str, Any], created: str = "2026-12-01T10:00:00Z") -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": list(events)},
    }


def add_lot(gtin: str, lot: str, quantity: float = 25.0, uom: str = "KGM") -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-12-01T08:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [],
        "quantityList": [{"epcClass": f"https://id.gs1.org/01/{gtin}/10/{lot}", "quantity": quantity, "uom": uom}],
        "action": "ADD",
        "bizStep": "commissioning",
    }


def test_gtins_used_here_are_valid():
    assert [_gtin(g[:13]) for g in (NMC, NMC_B, PRECURSOR, CELL)] == [NMC, NMC_B, PRECURSOR, CELL]


def test_an_object_event_add_registers_the_lot_found_under_its_digital_link(engineer_client, table):
    response = post_document(engineer_client, document(add_lot(NMC, "L1", 25.0, "KGM")))

    assert response.status_code == 201, response.json()
    assert response.json() == {"events": 1, "stored": 1, "duplicates": 0}
    link = f"https://id.gs1.org/01/{NMC}/10/L1"
    item = engineer_client.get(f"/api/items/{quote(link, safe='')}/")
    assert item.status_code == 200, item.json()
    assert (item.json()["kind"], float(item.json()["quantity"]), item.json()["unit"]) == (
        "cathode_active_material",
        25.0,
        "kg",
    )
    assert AuditEvent.objects.filter(action="item.register", entity_id=item.json()["code"]).exists()


@pytest.mark.parametrize(("uom", "unit", "kind"), [("KGM", "kg", "cathode_active_material"), ("LTR", "L", "solvent"),
                                                   ("MTR", "m", "separator")])  # fmt: skip
def test_uom_maps_to_the_unit(engineer_client, uom, unit, kind):
    GtinKind.objects.create(gtin=NMC, kind=ItemKind.objects.get(code=kind))
    assert post_document(engineer_client, document(add_lot(NMC, "U1", 3, uom))).status_code == 201
    assert Item.objects.get(gtin=NMC, supplier_lot="U1").unit == unit


def test_an_epc_urn_registers_an_instance_found_under_the_urn(engineer_client, table):
    event = add_lot(CELL, "x") | {"epcList": ["urn:epc:id:sgtin:4012345.000003.S-1"], "quantityList": []}
    assert post_document(engineer_client, document(event)).status_code == 201
    found = engineer_client.get("/api/items/" + quote("urn:epc:id:sgtin:4012345.000003.S-1", safe="") + "/")
    assert found.status_code == 200, found.json()
    assert found.json()["kind"] == "cell"
    also = engineer_client.get("/api/items/" + quote(f"https://id.gs1.org/01/{CELL}/21/S-1", safe="") + "/")
    assert also.json()["code"] == found.json()["code"]


def test_an_unknown_gtin_is_a_400_naming_the_epc_class_and_nothing_is_stored(engineer_client, table):
    unknown = _gtin("0999999000001")
    response = post_document(engineer_client, document(add_lot(NMC, "L1"), add_lot(unknown, "L9")))

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["/epcisBody/eventList/1/quantityList/0/epcClass"]
    assert unknown in errors["/epcisBody/eventList/1/quantityList/0/epcClass"][0]
    assert (CapturedEvent.objects.count(), Item.objects.count()) == (0, 0)


def test_an_unknown_uom_is_a_400_naming_it(engineer_client, table):
    response = post_document(engineer_client, document(add_lot(NMC, "L1", 1, "XYZ")))
    assert response.status_code == 400
    assert "/epcisBody/eventList/0/quantityList/0/uom" in response.json()["errors"]


def test_the_same_event_captured_twice_is_stored_once_whatever_creation_date_order_or_whitespace(
    engineer_client, table
):
    first = document(add_lot(NMC, "L1"))
    assert post_document(engineer_client, first).json() == {"events": 1, "stored": 1, "duplicates": 0}

    again = deepcopy(first)
    again["creationDate"] = "2027-01-01T00:00:00Z"
    event = again["epcisBody"]["eventList"][0]
    again["epcisBody"]["eventList"][0] = dict(reversed(list(event.items())))
    text = json.dumps(again, indent=7, sort_keys=True)

    response = post_document(engineer_client, text, "application/json")
    assert response.status_code == 201
    assert response.json() == {"events": 1, "stored": 0, "duplicates": 1}
    assert (CapturedEvent.objects.count(), Item.objects.filter(gtin=NMC).count()) == (1, 1)


def test_an_event_repeated_inside_one_document_is_one_event(engineer_client, table):
    response = post_document(engineer_client, document(add_lot(NMC, "L1"), add_lot(NMC, "L1")))
    assert response.json() == {"events": 2, "stored": 1, "duplicates": 1}


def test_the_same_lot_added_by_another_event_is_refused(engineer_client, table):
    assert post_document(engineer_client, document(add_lot(NMC, "L1"))).status_code == 201
    other = add_lot(NMC, "L1", 30.0) | {"eventTime": "2026-12-02T08:00:00.000+01:00"}
    response = post_document(engineer_client, document(other))
    assert response.status_code == 400
    assert "already registered" in response.json()["errors"]["/epcisBody/eventList/0/quantityList/0/epcClass"][0]


def test_two_suppliers_lot_l1_do_not_collide(engineer_client, table):
    assert (
        post_document(engineer_client, document(add_lot(NMC, "L1", 10.0), add_lot(NMC_B, "L1", 20.0))).json()["stored"]
        == 2
    )
    quantities = {}
    for gtin in (NMC, NMC_B):
        link = quote(f"https://supplier.example/01/{gtin}/10/L1", safe="")
        response = engineer_client.get(f"/api/items/{link}/")
        assert response.status_code == 200
        quantities[gtin] = float(response.json()["quantity"])
    assert quantities == {NMC: 10.0, NMC_B: 20.0}


def test_this_lines_own_label_matches_its_kinds_gtin_only(engineer_client, engineer, settings):
    from lots.identifiers import digital_link, kind_gtin

    item = item_register(actor=engineer, kind="cathode_active_material", quantity=5, unit="kg", code="CAM-L1")
    ours = digital_link(code=item.code, gtin_item_reference=item.kind.gtin_item_reference, level="batch")
    assert engineer_client.get(f"/api/items/{quote(ours, safe='')}/").json()["code"] == "CAM-L1"
    wrong_kind = ours.replace(kind_gtin(item.kind.gtin_item_reference), kind_gtin(102))  # the anode powder's GTIN
    assert engineer_client.get(f"/api/items/{quote(wrong_kind, safe='')}/").status_code == 404


def transformation(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": "2026-12-01T09:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "inputQuantityList": inputs,
        "outputQuantityList": outputs,
        "bizStep": "commissioning",
    }


def test_a_transformation_registers_its_outputs_with_lineage_visible_in_the_trace(engineer_client, table):
    assert post_document(engineer_client, document(add_lot(PRECURSOR, "P7", 100.0))).status_code == 201
    event = transformation(
        [{"epcClass": f"https://id.gs1.org/01/{PRECURSOR}/10/P7", "quantity": 40, "uom": "KGM"}],
        [{"epcClass": "urn:epc:class:lgtin:4012345.000001.N5", "quantity": 38, "uom": "KGM"}],
    )
    response = post_document(engineer_client, document(event))
    assert response.status_code == 201, response.json()

    output = Item.objects.get(gtin=NMC, supplier_lot="N5")
    precursor = Item.objects.get(gtin=PRECURSOR, supplier_lot="P7")
    assert float(precursor.quantity) == pytest.approx(60.0)  # lowered as an operation lowers it
    assert precursor.status == ItemStatus.ACTIVE
    link = quote(f"https://id.gs1.org/01/{NMC}/10/N5", safe="")
    trace = engineer_client.get(f"/api/items/{link}/trace/").json()
    assert {node["code"] for node in trace["nodes"]} == {output.code, precursor.code}
    assert trace["edges"][0]["parent"] == precursor.code
    assert trace["edges"][0]["step"] == "supplier_transformation"
    assert CapturedEvent.objects.get(event_type="TransformationEvent").operation_id == trace["edges"][0]["operation"]


def test_a_transformation_asking_more_than_is_left_is_a_400_and_nothing_is_stored(engineer_client, table):
    assert post_document(engineer_client, document(add_lot(PRECURSOR, "P7", 10.0))).status_code == 201
    event = transformation(
        [{"epcClass": f"https://id.gs1.org/01/{PRECURSOR}/10/P7", "quantity": 40, "uom": "KGM"}],
        [{"epcClass": f"https://id.gs1.org/01/{NMC}/10/N5", "quantity": 38, "uom": "KGM"}],
    )
    response = post_document(engineer_client, document(event))
    assert response.status_code == 400
    assert "/epcisBody/eventList/0/inputQuantityList/0" in response.json()["errors"]
    assert not Item.objects.filter(gtin=NMC).exists()
    assert CapturedEvent.objects.count() == 1
    assert float(Item.objects.get(gtin=PRECURSOR).quantity) == 10.0


@pytest.mark.parametrize("client_name", ["operator_client", "anon_client"])
def test_operators_and_strangers_may_not_capture(request, client_name, table):
    client = request.getfixturevalue(client_name)
    response = post_document(client, document(add_lot(NMC, "L1")))
    assert response.status_code in (401, 403)
    assert CapturedEvent.objects.count() == 0


def test_admins_may_capture(admin_client_api, table):
    assert post_document(admin_client_api, document(add_lot(NMC, "L1"))).status_code == 201


def test_capture_url_is_the_contracts():
    assert CAPTURE == "/api/epcis/capture/"


def test_inputs_already_on_the_line_are_found_by_epc_or_own_label(engineer_client, engineer, table):
    from lots.identifiers import digital_link

    cell = item_register(actor=engineer, kind="cell", rfid_epc="urn:epc:id:sgtin:4012345.000003.C9")
    powder = item_register(actor=engineer, kind="cathode_active_material", quantity=5, unit="kg", code="CAM-OWN")
    own = digital_link(code=powder.code, gtin_item_reference=powder.kind.gtin_item_reference, level="batch")
    output = [{"epcClass": f"https://id.gs1.org/01/{NMC}/10/N9", "quantity": 2, "uom": "KGM"}]
    event = transformation([{"epcClass": own, "quantity": 2, "uom": "KGM"}], output) | {
        "inputEPCList": ["urn:epc:id:sgtin:4012345.000003.C9"]
    }
    response = post_document(engineer_client, document(event))

    assert response.status_code == 201, response.json()
    cell.refresh_from_db()
    powder.refresh_from_db()
    assert (cell.status, float(powder.quantity)) == (ItemStatus.CONSUMED, 3.0)
    assert Item.objects.filter(gtin=CELL).count() == 0  # found, not registered again


def test_a_station_scanning_a_suppliers_label_finds_the_captured_lot(engineer_client, operator_client, table):
    assert post_document(engineer_client, document(add_lot(NMC, "L1"))).status_code == 201
    scanned = operator_client.post("/api/scan/", {"code": f"https://supplier.example/01/{NMC}/10/L1"}, format="json")
    assert scanned.status_code == 200, scanned.json()
    assert scanned.json()["item"]["code"] == Item.objects.get(gtin=NMC).code
    unknown = operator_client.post("/api/scan/", {"code": f"https://supplier.example/01/{NMC}/10/L2"}, format="json")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "foreign_label")
