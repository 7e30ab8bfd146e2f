"""A captured document writes what its events did (items registered, the operation a
transformation became) in one UPDATE for the document, not one per event."""

from typing import Any

import pytest
from django.db import connection

from interop.epcis_capture import capture
from interop.models import CapturedEvent
from lots.models import Item

from .conftest import NMC, PRECURSOR
from .test_epcis_capture import add_lot, document, transformation

pytestmark = pytest.mark.django_db

# Four lots registered and a transformation, on PostgreSQL and SQLite alike. One UPDATE a row
# for what each event did made it 68, one item_register a lot 64; the rest is the one bulk
# registration, the operation and the supplier station. PostgreSQL adds the capture's lock.
QUERIES = 38 if connection.vendor == "postgresql" else 37


def _updates_of_events(queries: list[dict[str, Any]]) -> list[str]:
    table = CapturedEvent._meta.db_table
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and table in q["sql"].split("SET")[0]]


def _several(lots: int) -> dict[str, Any]:
    events = [add_lot(PRECURSOR, f"P{i}", 100.0) for i in range(lots)]
    events.append(
        transformation(
            [{"epcClass": f"https://id.gs1.org/01/{PRECURSOR}/10/P0", "quantity": 40, "uom": "KGM"}],
            [{"epcClass": "urn:epc:class:lgtin:4012345.000001.N5", "quantity": 38, "uom": "KGM"}],
        )
    )
    return document(*events)


def test_a_document_of_several_events_is_one_update_of_its_events(engineer, table, django_assert_num_queries):
    capture(_several(1), actor=engineer)  # the supplier station made, and the caches warm
    before = CapturedEvent.objects.count()
    body = _several(4)
    for i, event in enumerate(body["epcisBody"]["eventList"]):
        event["eventTime"] = f"2026-12-02T1{i}:00:00.000+01:00"
        for q in event.get("quantityList", []) + event.get("inputQuantityList", []):
            q["epcClass"] = q["epcClass"].replace("/10/P", "/10/Q")
        for q in event.get("outputQuantityList", []):
            q["epcClass"] = q["epcClass"].replace("N5", "N6")
    with django_assert_num_queries(QUERIES) as captured:
        result = capture(body, actor=engineer)
    assert (result.events, result.stored, result.duplicates) == (5, 5, 0)
    assert len(_updates_of_events(captured.captured_queries)) == 1
    rows = list(CapturedEvent.objects.order_by("event_time", "pk")[before:])
    lots = [Item.objects.get(gtin=PRECURSOR, supplier_lot=f"Q{i}").code for i in range(4)]
    assert [row.items for row in rows[:4]] == [[code] for code in lots]
    made = Item.objects.get(gtin=NMC, supplier_lot="N6")
    assert rows[4].operation_id == made.produced_by_id and rows[4].items == [made.code]
