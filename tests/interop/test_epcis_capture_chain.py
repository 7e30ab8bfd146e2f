"""Items a document registers are usable by its later events: all in one transaction."""

from typing import Any

import pytest

from interop.models import CapturedEvent
from lots.models import Item, ItemStatus
from traceability.models import OperationInput

from .conftest import CELL, NMC, NMC_B, PRECURSOR, post_document
from .test_epcis_capture import add_lot, document, transformation

pytestmark = pytest.mark.django_db


def _lot(gtin: str, lot: str, quantity: float) -> dict[str, Any]:
    return {"epcClass": f"https://id.gs1.org/01/{gtin}/10/{lot}", "quantity": quantity, "uom": "KGM"}


def test_a_lot_added_then_transformed_in_one_document(engineer_client, table):
    doc = document(add_lot(PRECURSOR, "P7", 100.0), transformation([_lot(PRECURSOR, "P7", 40)], [_lot(NMC, "N5", 38)]))
    response = post_document(engineer_client, doc)

    assert response.status_code == 201, response.json()
    precursor = Item.objects.get(gtin=PRECURSOR, supplier_lot="P7")
    output = Item.objects.get(gtin=NMC, supplier_lot="N5")
    assert float(precursor.quantity) == pytest.approx(60.0)
    assert output.produced_by_id == CapturedEvent.objects.get(event_type="TransformationEvent").operation_id
    assert OperationInput.objects.get(operation_id=output.produced_by_id).item_id == precursor.pk
    assert Item.objects.filter(gtin=PRECURSOR).count() == 1  # found, not registered twice


def test_an_output_consumed_by_a_second_transformation_of_the_same_document(engineer_client, table):
    first = transformation([_lot(PRECURSOR, "P7", 40)], [_lot(NMC, "N5", 38)])
    second = transformation([_lot(NMC, "N5", 30)], [_lot(NMC_B, "B1", 29)]) | {
        "eventTime": "2026-12-01T10:00:00.000+01:00"
    }
    response = post_document(engineer_client, document(add_lot(PRECURSOR, "P7", 100.0), first, second))

    assert response.status_code == 201, response.json()
    middle = Item.objects.get(gtin=NMC, supplier_lot="N5")
    last = Item.objects.get(gtin=NMC_B, supplier_lot="B1")
    assert float(middle.quantity) == pytest.approx(8.0)
    assert OperationInput.objects.get(operation_id=last.produced_by_id).item_id == middle.pk
    assert CapturedEvent.objects.count() == 3


def test_instances_added_by_epc_then_consumed_by_epc_in_one_document(engineer_client, table):
    cells = ["urn:epc:id:sgtin:4012345.000003.S1", "urn:epc:id:sgtin:4012345.000003.S2"]
    add = add_lot(CELL, "unused") | {"epcList": cells, "quantityList": []}
    consume = transformation([], [_lot(NMC, "R1", 1.5)]) | {"inputEPCList": cells}
    response = post_document(engineer_client, document(add, consume))

    assert response.status_code == 201, response.json()
    registered = Item.objects.filter(gtin=CELL)
    assert registered.count() == 2
    assert set(registered.values_list("status", flat=True)) == {ItemStatus.CONSUMED}
    recovered = Item.objects.get(gtin=NMC, supplier_lot="R1")
    taken = OperationInput.objects.filter(operation_id=recovered.produced_by_id)
    assert set(taken.values_list("item_id", flat=True)) == set(registered.values_list("pk", flat=True))


def test_a_later_event_refused_rolls_back_the_earlier_registrations(engineer_client, table):
    doc = document(add_lot(PRECURSOR, "P7", 10.0), transformation([_lot(PRECURSOR, "P7", 40)], [_lot(NMC, "N5", 38)]))
    response = post_document(engineer_client, doc)

    assert response.status_code == 400
    assert "/epcisBody/eventList/1/inputQuantityList/0" in response.json()["errors"]
    assert not Item.objects.filter(gtin__in=[PRECURSOR, NMC]).exists()
    assert CapturedEvent.objects.count() == 0
