"""Capture registers a document's new items in a few statements, however many events add them:
the lookups of known items and GTIN kinds are one query each for the document, the items one
bulk registration (lots.services.items_register) with its audit events."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from interop.epcis_capture import capture
from interop.epcis_identities import Existing, event_identities, identity_of
from interop.models import CapturedEvent
from lots.identifiers import digital_link
from lots.models import Item
from lots.services import item_register

from .conftest import CELL, NMC, NMC_B, post_document
from .test_epcis_capture import add_lot, document

pytestmark = pytest.mark.django_db

CELL_URN = "urn:epc:id:sgtin:4012345.000003.{}"


def _adds(events: int, tag: str) -> dict[str, Any]:
    """`events` ObjectEvent ADDs alternating a lot of powder and two serialised cells."""
    body = []
    for i in range(events):
        event = add_lot(NMC, f"{tag}{i}", 10.0 + i) | {"eventTime": f"2026-12-01T08:{i % 60:02d}:00.000+01:00"}
        if i % 2:
            event |= {"epcList": [CELL_URN.format(f"{tag}{i}a"), CELL_URN.format(f"{tag}{i}b")], "quantityList": []}
        body.append(event)
    return document(*body)


def _queries(engineer: Any, body: dict[str, Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        result = capture(body, actor=engineer)
    assert result.stored == len(body["epcisBody"]["eventList"])
    return len(captured.captured_queries)


def test_fifty_add_events_cost_the_queries_of_five(engineer, table):
    capture(_adds(2, "W"), actor=engineer)  # the code sequences made
    five, fifty = _queries(engineer, _adds(5, "A")), _queries(engineer, _adds(50, "B"))
    print(f"capture queries: 5 ADD events {five}, 50 ADD events {fifty}")
    assert fifty - five <= 2, (five, fifty)
    assert five <= 24, five  # the lock, hashes, items by GS1 key and EPC, GTIN kinds, the rows, codes, audit


def test_every_item_of_a_bulk_capture_is_registered_and_audited_as_one_by_one(engineer, table):
    capture(_adds(6, "C"), actor=engineer)
    items = Item.objects.filter(gtin__in=[NMC, CELL]).order_by("pk")
    assert items.count() == 3 + 6
    lot = Item.objects.get(gtin=NMC, supplier_lot="C2")
    assert (lot.kind_id, float(lot.quantity), float(lot.initial_quantity), lot.unit) == (
        "cathode_active_material", 12.0, 12.0, "kg",
    )  # fmt: skip
    cell = Item.objects.get(rfid_epc=CELL_URN.format("C1a"))
    assert (cell.kind_id, cell.gs1_serial, float(cell.quantity), cell.created_by_id) == (
        "cell",
        "C1a",
        1.0,
        engineer.pk,
    )
    assert cell.created_at.isoformat() == "2026-12-01T07:01:00+00:00"
    rows = {r.event_hash: r for r in CapturedEvent.objects.all()}
    assert cell.attributes["epcis_event"] in rows and rows[cell.attributes["epcis_event"]].items == sorted(
        Item.objects.filter(gs1_serial__in=["C1a", "C1b"]).values_list("code", flat=True)
    )
    audits = {a.entity_id: a for a in AuditEvent.objects.filter(action="item.register")}
    assert set(audits) == set(items.values_list("code", flat=True))
    assert audits[cell.code].actor_id == engineer.pk
    assert audits[cell.code].after == {
        "code": cell.code, "kind": "cell", "status": "active", "quantity": 1.0, "unit": cell.unit, "gtin": CELL,
        "supplier_lot": "", "gs1_serial": "C1a",
    }  # fmt: skip


def _nothing_stored() -> bool:
    return not CapturedEvent.objects.exists() and not Item.objects.exists() and not AuditEvent.objects.exists()


def test_the_same_epc_twice_in_one_add_event_is_a_400_naming_the_list(engineer_client, table):
    event = add_lot(CELL, "x") | {"epcList": [CELL_URN.format("D1"), CELL_URN.format("D1")], "quantityList": []}
    response = post_document(engineer_client, document(event))
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["/epcisBody/eventList/0/epcList"]  # the schema's uniqueItems
    assert _nothing_stored()


def test_the_same_serial_spelled_two_ways_in_one_add_event_is_a_400_at_the_second(engineer_client, table):
    event = add_lot(CELL, "x") | {"epcList": [CELL_URN.format("D1"), f"https://id.gs1.org/01/{CELL}/21/D1"],
                                  "quantityList": []}  # fmt: skip
    response = post_document(engineer_client, document(event))
    assert response.status_code == 400, response.json()
    assert "already registered" in response.json()["errors"]["/epcisBody/eventList/0/epcList/1"][0]
    assert _nothing_stored()


def test_the_same_lot_twice_in_one_quantity_list_is_a_400_at_the_second(engineer_client, table):
    event = add_lot(NMC, "D4")
    event["quantityList"] = event["quantityList"] * 2
    response = post_document(engineer_client, document(event))
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["/epcisBody/eventList/0/quantityList/1/epcClass"]
    assert _nothing_stored()


def test_the_same_epc_in_two_add_events_is_a_400_at_the_second_event(engineer_client, table):
    first = add_lot(CELL, "x") | {"epcList": [CELL_URN.format("D2")], "quantityList": []}
    second = first | {"eventTime": "2026-12-01T09:00:00.000+01:00", "epcList": [CELL_URN.format("D3"),
                                                                                 CELL_URN.format("D2")]}  # fmt: skip
    response = post_document(engineer_client, document(first, second))
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["/epcisBody/eventList/1/epcList/1"]
    assert _nothing_stored()


def test_a_bad_quantity_in_a_later_event_names_it_and_stores_nothing(engineer_client, table):
    response = post_document(engineer_client, document(add_lot(NMC, "E1"), add_lot(NMC_B, "E2", 1e15)))
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["/epcisBody/eventList/1/quantityList/0"]
    assert _nothing_stored()


@pytest.mark.parametrize("labels", [1, 6])
def test_this_lines_own_labels_are_found_in_one_query_whatever_their_number(engineer, table, labels):
    powders = [item_register(actor=engineer, kind="cathode_active_material", quantity=5, unit="kg", code=f"CAM-O{i}")
               for i in range(labels)]  # fmt: skip
    texts = [digital_link(code=p.code, gtin_item_reference=p.kind.gtin_item_reference, level="batch") for p in powders]
    unknown = texts[0].replace("CAM-O0", "CAM-NONE")
    event = {"inputQuantityList": [{"epcClass": t, "quantity": 1} for t in [*texts, unknown]]}
    with CaptureQueriesContext(connection) as captured:
        existing = Existing(event_identities([event]))
    assert len(captured.captured_queries) == 2  # the suppliers' GTINs and EPCs, then the own labels
    found = [existing.code(identity_of(t), t) for t in [*texts, unknown]]  # type: ignore[arg-type]
    assert found == [p.code for p in powders] + [None]
