"""The CBV 2.0 event hash against the reference implementation's published hashes, and the
sameness capture relies on: creationDate, key order and whitespace never change it."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from interop.epcis_hash import canonical_digital_link, canonical_time, context_namespaces, event_hash

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "epcis_hash"


def _events(document: dict) -> list[dict]:
    body = document["epcisBody"]
    if "eventList" in body:
        return body["eventList"]
    if "queryResults" in body:
        return body["queryResults"]["resultsBody"]["eventList"]
    return [body["event"]]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.jsonld")), ids=lambda p: p.stem)
def test_hashes_match_the_reference_implementation(path):
    document = json.loads(path.read_text(encoding="utf-8"))
    expected = [line.strip() for line in path.with_suffix(".hashes").read_text().splitlines() if line.strip()]
    namespaces = context_namespaces(document.get("@context"))
    assert [event_hash(e, namespaces) for e in _events(document)] == expected


EVENT: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2026-07-22T06:45:00.000+02:00",
    "eventTimeZoneOffset": "+02:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.9876", "urn:epc:id:sgtin:4012345.011111.5432"],
    "action": "ADD",
    "bizStep": "commissioning",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
}


def test_key_order_list_order_and_eventid_do_not_change_the_hash():
    reordered = dict(reversed(list(copy.deepcopy(EVENT).items())))
    reordered["epcList"].reverse()
    reordered["eventID"] = "ni:///sha-256;0000?ver=CBV2.0"
    reordered["recordTime"] = "2030-01-01T00:00:00Z"
    assert event_hash(reordered) == event_hash(EVENT)


def test_the_same_instant_in_another_offset_or_precision_is_the_same_event():
    assert event_hash(EVENT | {"eventTime": "2026-07-22T04:45:00Z"}) == event_hash(EVENT)
    assert event_hash(EVENT | {"eventTime": "2026-07-22T04:45:00.0001Z"}) == event_hash(EVENT)


@pytest.mark.parametrize(
    "change",
    [
        {"eventTime": "2026-07-22T06:45:01.000+02:00"},
        {"action": "OBSERVE"},
        {"bizStep": "receiving"},
        {"epcList": ["urn:epc:id:sgtin:4012345.011111.9876"]},
    ],
)
def test_what_the_event_says_changes_the_hash(change):
    assert event_hash(EVENT | change) != event_hash(EVENT)


def test_bare_cbv_terms_old_urns_and_web_uris_hash_alike():
    urn = EVENT | {"bizStep": "urn:epcglobal:cbv:bizstep:commissioning"}
    web = EVENT | {"bizStep": "https://ref.gs1.org/cbv/BizStep-commissioning"}
    assert event_hash(urn) == event_hash(web) == event_hash(EVENT)


def test_an_epc_urn_and_its_digital_link_hash_alike():
    link = EVENT | {
        "epcList": ["https://example.com/01/04012345111118/21/9876", "urn:epc:id:sgtin:4012345.011111.5432"]
    }
    assert event_hash(link) == event_hash(EVENT)


def test_canonical_forms():
    assert (
        canonical_digital_link("urn:epc:class:lgtin:4012345.012345.L1") == "https://id.gs1.org/01/04012345123456/10/L1"
    )
    assert canonical_digital_link("https://x.example/gtin/4012345123456/lot/L1/ser/7?a=1") == (
        "https://id.gs1.org/01/04012345123456/21/7"
    )
    assert canonical_digital_link("not a link") is None
    assert canonical_time("2026-01-01T00:59:59.9996+01:00") == "2026-01-01T00:00:00.000Z"
