"""The CBV 2.0 event hash against the reference implementation's published hashes, and the
sameness capture relies on: creationDate, key order and whitespace never change it."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from interop.epcis_hash import canonical_time, context_namespaces, event_hash
from interop.gs1_keys import canonical_digital_link

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


# Each GS1 key as an EPC URN and as a Digital Link on another resolver, with its short name.
KEY_FORMS = [
    ("urn:epc:id:cpi:4012345.ABC.123", "https://example.com/cpid/4012345ABC/8011/123"),
    ("urn:epc:idpat:cpi:4012345.ABC.*", "https://example.com/8010/4012345ABC?x=1"),
    ("urn:epc:id:ginc:4012345.333", "https://example.com/ginc/4012345333"),
    ("urn:epc:id:gsin:4012345.999987654", "https://example.com/gsin/40123459999876541"),
    ("urn:epc:id:gsrn:4012345.9876540000", "https://example.com/gsrn/401234598765400000"),
    ("urn:epc:id:gsrnp:4012345.0000098765", "https://example.com/gsrnp/401234500000987658"),
    ("urn:epc:id:itip:4012345.012345.01.02.999", "https://example.com/itip/040123451234560102/lot/L1/ser/999"),
    ("urn:epc:idpat:itip:4012345.012345.01.02.*", "https://example.com/8006/040123451234560102/cpv/A"),
    ("urn:epc:id:upui:4012345.012345.AB12", "https://example.com/gtin/04012345123456/235/AB12"),
    ("urn:epc:id:sgcn:4012345.99999.44", "https://example.com/gcn/401234599999044"),
    ("urn:epc:idpat:sgcn:4012345.99999.*", "https://example.com/255/4012345999990"),
    ("urn:epc:id:gdti:4012345.55555.98", "https://example.com/gdti/401234555555498"),
    ("urn:epc:idpat:gdti:4012345.55555.*", "https://example.com/253/4012345555554"),
    ("urn:epc:id:giai:4012345.AAbb", "https://example.com/giai/4012345AAbb"),
    ("urn:epc:id:grai:4012345.66666.87", "https://example.com/grai/0401234566666387"),
    ("urn:epc:idpat:grai:4012345.66666.*", "https://example.com/8003/04012345666663"),
    ("urn:epc:id:pgln:4012345.00001", "https://example.com/party/4012345000016"),
    ("urn:epc:id:sscc:4012345.0000000333", "https://example.com/sscc/040123450000003338"),
]


@pytest.mark.parametrize(("urn", "link"), KEY_FORMS, ids=[u.split(":")[3] for u, _ in KEY_FORMS])
def test_each_gs1_key_as_urn_and_as_digital_link_hashes_alike(urn, link):
    assert canonical_digital_link(urn) is not None
    assert canonical_digital_link(urn) == canonical_digital_link(link)
    assert event_hash(EVENT | {"epcList": [urn]}) == event_hash(EVENT | {"epcList": [link]})
    assert event_hash(EVENT | {"epcList": [urn]}) != event_hash(EVENT)


@pytest.mark.parametrize(
    "urn",
    [
        "urn:epc:id:sgtin:4012345.01111.9876",  # company prefix and item reference are 12 digits, not 13
        "urn:epc:id:gsin:4012345.99998765",
        "urn:epc:id:sgcn:4012345.99999.4A",  # a coupon serial is digits
        "urn:epc:id:cpi:4012345.abc.123",  # a component/part reference is upper case
        "urn:epc:id:xyz:4012345.1.2",
        "urn:epc:id:sscc:40123.000000003333",  # a company prefix has 6 to 12 digits
    ],
)
def test_a_malformed_epc_urn_is_left_as_it_is(urn):
    assert canonical_digital_link(urn) is None
