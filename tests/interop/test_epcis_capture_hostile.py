"""Hostile bodies at POST /api/epcis/capture/: each a 400 (413 above the body limit, as every
endpoint) naming where it is, never a 500, nothing stored."""

import json

import pytest
from django.conf import settings

from interop.models import CapturedEvent
from lots.models import Item

from .conftest import CAPTURE, NMC, post_document
from .test_epcis_capture import add_lot, document

pytestmark = pytest.mark.django_db


def _nothing_stored() -> bool:
    return CapturedEvent.objects.count() == 0 and Item.objects.count() == 0


def test_a_nul_in_a_string_is_a_400_at_its_pointer(engineer_client, table):
    event = add_lot(NMC, "L1") | {"bizStep": "commissioning\u0000"}
    response = post_document(engineer_client, document(event))
    assert response.status_code == 400
    assert "/epcisBody/eventList/0/bizStep" in response.json()["errors"]
    assert _nothing_stored()


def test_a_nul_in_a_lot_is_refused_before_anything_is_written(engineer_client, table):
    response = post_document(engineer_client, document(add_lot(NMC, "L\u00001")))
    assert response.status_code == 400
    assert _nothing_stored()


def test_deep_nesting_is_a_400(engineer_client, table):
    # Built as text: json.dumps itself would recurse 5,000 levels.
    text = json.dumps(document(add_lot(NMC, "L1") | {"ext:deep": "@@"})).replace('"@@"', "[" * 5000 + "]" * 5000)
    response = post_document(engineer_client, text)
    assert response.status_code == 400
    assert _nothing_stored()


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_numbers_no_float_holds_are_a_400(engineer_client, table, number):
    text = json.dumps(document(add_lot(NMC, "L1", 25.0))).replace("25.0", number)
    response = post_document(engineer_client, text)
    assert response.status_code == 400, response.json()
    assert _nothing_stored()


def test_a_huge_but_finite_quantity_is_a_400_naming_it(engineer_client, table):
    response = post_document(engineer_client, document(add_lot(NMC, "L1", 1e300)))
    assert response.status_code == 400
    assert any(key.startswith("/epcisBody/eventList/0/quantityList/0") for key in response.json()["errors"])
    assert _nothing_stored()


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"type": "EPCISDocument", "epcisBody": {"eventList": [', b"\xff\xfe\x00garbage", b"[1, 2]", b'"x"'],
    ids=["empty", "brace", "cut-short", "not-utf8", "array", "string"],
)
def test_truncated_or_non_json_bodies_are_a_400(engineer_client, table, body):
    response = engineer_client.post(CAPTURE, data=body, content_type="application/ld+json")
    assert response.status_code == 400
    assert _nothing_stored()


def test_a_body_over_the_limit_is_refused(engineer_client, table):
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    body = json.dumps(document(add_lot(NMC, "L1") | {"ext:pad": "x" * size}))
    response = post_document(engineer_client, body)
    assert response.status_code == 413
    assert _nothing_stored()


def test_another_content_type_is_a_415(engineer_client, table):
    response = engineer_client.post(CAPTURE, data=json.dumps(document(add_lot(NMC, "L1"))), content_type="text/plain")
    assert response.status_code == 415
    assert _nothing_stored()


def test_a_document_of_many_bad_events_lists_a_bounded_number_of_errors(engineer_client, table):
    bad = [add_lot(NMC, f"L{i}") | {"action": "CREATE"} for i in range(300)]
    response = post_document(engineer_client, document(*bad))
    assert response.status_code == 400
    assert len(response.json()["errors"]) <= 51
    assert _nothing_stored()


@pytest.mark.parametrize("moment", ["1969-12-31T23:59:59Z", "2026-12-31T23:59:60Z", "2300-01-01T00:00:00+01:00"])
def test_an_event_time_the_schema_allows_but_the_line_cannot_hold_is_a_400_naming_it(engineer_client, table, moment):
    response = post_document(engineer_client, document(add_lot(NMC, "L1") | {"eventTime": moment}))
    assert response.status_code == 400, response.json()
    assert "/epcisBody/eventList/0/eventTime" in response.json()["errors"]
    assert _nothing_stored()
