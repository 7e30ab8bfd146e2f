"""Which items of the line an EPCIS document names: the GTIN identity of each EPC or EPC class,
found for the whole document in one query (one more for this line's own labels), and the lock
a capture holds on the lots and serials it names."""

import re
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, Value

from core.errors import InvalidInput
from lots.identifiers import digital_link_parts, epc_gtin_parts, epc_normalize, gtin14, gtin_of
from lots.models import Item
from lots.selectors import item_lookup_q

_IDPAT_SGTIN = re.compile(r"^urn:epc:idpat:sgtin:(\d{6,12})\.(\d{1,7})\.\*$")


@dataclass(frozen=True)
class Identity:
    """What an EPC or EPC class names: a GTIN with a lot, a serial, or neither (a pattern)."""

    gtin: str
    lot: str = ""
    serial: str = ""
    urn: str = ""  # the SGTIN URN, kept as the item's EPC


def identity_of(text: str) -> Identity | None:
    """The GTIN identity of an SGTIN/LGTIN URN, an SGTIN pattern or a Digital Link; None otherwise."""
    parts = epc_gtin_parts(text)
    if parts is not None:
        gtin, key, value = parts
        return Identity(gtin, serial=value, urn=text.strip()) if key == "21" else Identity(gtin, lot=value)
    link = digital_link_parts(text)
    if link is not None:
        return Identity(link.gtin, serial=link.code) if link.key == "21" else Identity(link.gtin, lot=link.code)
    match = _IDPAT_SGTIN.match(text)
    if match is not None and len(match.group(1)) + len(match.group(2)) == 13:
        return Identity(gtin_of(match.group(1), match.group(2)))
    bare = re.match(r"^https?://[^/]+/01/(\d{8,14})/?$", text)
    return Identity(gtin14(bare.group(1))) if bare else None


_IDENTIFIER_LISTS = ("epcList", "inputEPCList", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "inputQuantityList", "outputQuantityList")


def event_identities(events: list[dict[str, Any]]) -> dict[str, Identity]:
    """The GTIN identity of every EPC and EPC class the events name, by its text."""
    texts = [str(e) for event in events for key in _IDENTIFIER_LISTS for e in event.get(key, [])]
    texts += [
        str(q.get("epcClass", "")) for event in events for key in _QUANTITY_LISTS for q in event.get(key, [])
        if isinstance(q, dict)
    ]  # fmt: skip
    return {text: identity for text in texts if (identity := identity_of(text)) is not None}


_LOCK_CLASS = 74012  # the namespace (first key) of the captured items' advisory locks


def identities_lock(named: dict[str, Identity]) -> None:
    """Wait for any capture naming one of these lots or serials to end, so that the lookups then
    see what it registered: a lot has no unique key a parallel INSERT would trip on. One
    statement, the keys in one order for every capture (no deadlock); SQLite has one writer."""
    keys = sorted(
        {
            int.from_bytes(blake2b(f"{i.gtin}|{i.lot}|{i.serial}".encode(), digest_size=4).digest(), signed=True)
            for i in named.values()
            if i.lot or i.serial
        }
    )
    if keys and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::integer[]) AS k", [_LOCK_CLASS, keys])


class Existing:
    """Which items of the line the identifiers `named` name (event_identities of the document):
    one query for the whole document (suppliers' GTINs and EPCs), one more only for labels of
    this line's own."""

    def __init__(self, named: dict[str, Identity]) -> None:
        urns = {i.urn: _normalized(i.urn) for i in named.values() if i.urn}
        self.by_gs1: dict[tuple[str, str, str], str] = {}
        by_epc: dict[str, str] = {}
        rows = Item.objects.filter(
            Q(gtin__in={i.gtin for i in named.values()}) | Q(rfid_epc__in=set(urns.values()) - {""})
        ).values_list("code", "gtin", "supplier_lot", "gs1_serial", "rfid_epc")
        for code, gtin, lot, serial, epc in rows:
            self.by_gs1.setdefault((gtin, "", serial) if serial else (gtin, lot, ""), code)
            if epc:
                by_epc[epc] = code
        self.by_urn = {urn: by_epc[epc] for urn, epc in urns.items() if epc in by_epc}
        own = [t for t, i in named.items() if self._supplier_code(i) is None and _own_prefix(i)]
        self.by_label = _own_labels(own)

    def _supplier_code(self, identity: Identity) -> str | None:
        found = self.by_gs1.get(
            (identity.gtin, "", identity.serial) if identity.serial else (identity.gtin, identity.lot, "")
        )
        return self.by_urn.get(identity.urn) if found is None and identity.urn else found

    def code(self, identity: Identity, text: str) -> str | None:
        found = self._supplier_code(identity)
        return self.by_label.get(text) if found is None and _own_prefix(identity) else found


def _own_prefix(identity: Identity) -> bool:
    return identity.gtin[1:].startswith(settings.CELLTRACE_GS1_COMPANY_PREFIX)


_COMPOUND_LIMIT = 400  # SELECTs in one UNION ALL (SQLite allows 500)


def _own_labels(texts: list[str]) -> dict[str, str]:
    """The item each text names by item_lookup_q (the first by pk, as .first() picks), in one
    UNION ALL per _COMPOUND_LIMIT texts."""
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(texts), _COMPOUND_LIMIT):
        chunk = texts[start : start + _COMPOUND_LIMIT]
        selects = [
            Item.objects.filter(item_lookup_q(text)).annotate(asked=Value(n)).values_list("asked", "pk", "code")
            for n, text in enumerate(chunk)
        ]
        for asked, pk, code in selects[0].union(*selects[1:], all=True):
            if chunk[asked] not in found or pk < found[chunk[asked]][0]:
                found[chunk[asked]] = (pk, code)
    return {text: code for text, (_pk, code) in found.items()}


def _normalized(urn: str) -> str:
    try:
        return epc_normalize(urn)
    except InvalidInput:
        return ""
