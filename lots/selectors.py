"""Reads on items."""

from django.conf import settings
from django.db.models import Case, CharField, Q, QuerySet, Value, When

from core.errors import ErrorCode, InvalidInput, NotFound

from .identifiers import digital_link_parts, epc_gtin_parts, epc_normalize, foreign_label, kind_gtin
from .models import Item, ItemStatusChange


def item_queryset() -> QuerySet[Item]:
    return Item.objects.select_related("kind", "created_by", "station")


_NOTHING = Q(pk__in=[])


def _gs1_q(gtin: str, key: str, value: str) -> Q:
    """A supplier's item by its GTIN and lot (AI 10) or serial (AI 21): both must match."""
    return Q(gtin=gtin, supplier_lot=value) if key == "10" else Q(gtin=gtin, gs1_serial=value)


def _own_label_q(gtin: str, code: str) -> Q:
    """One of this line's labels: the code, and the GTIN its kind gives (not any GTIN)."""
    prefix = settings.CELLTRACE_GS1_COMPANY_PREFIX
    reference = gtin[1 + len(prefix) : 13]
    if not reference.isdigit() or kind_gtin(int(reference)) != gtin:
        return _NOTHING
    return Q(code=code, gtin="", kind__gtin_item_reference=int(reference))


def item_lookup_q(identifier: str) -> Q:
    """Match an item by code, Digital Link URI or EPC (URN, tag URI or hex). A Digital Link
    matches on its GTIN and lot or serial together: this line's own label by the kind's GTIN
    and the code, a supplier's by the GTIN and lot or serial captured with it. Text PostgreSQL
    cannot hold (NUL) matches nothing."""
    text = identifier.strip()
    if "\x00" in text:
        return _NOTHING
    link = digital_link_parts(text)
    if link is not None:
        query = _gs1_q(link.gtin, link.key, link.code)
        return query if foreign_label(text) is not None else query | _own_label_q(link.gtin, link.code)
    query = Q(code=text)
    gs1 = epc_gtin_parts(text)
    if gs1 is not None:
        query |= _gs1_q(*gs1)
    if text.lower().startswith("urn:epc:") or (len(text) >= 24 and all(c in "0123456789abcdefABCDEF" for c in text)):
        try:
            query |= Q(rfid_epc=epc_normalize(text))
        except InvalidInput:  # not an EPC after all: only the code can match
            pass
    return query


def item_get(identifier: str, *, lean: bool = False) -> Item:
    """The item a code, Digital Link or EPC names; `lean` loads only id and code (genealogy
    walks need nothing else)."""
    queryset = Item.objects.only("id", "code") if lean else item_queryset()
    item = queryset.filter(item_lookup_q(identifier)).first()
    if item is None:
        foreign = foreign_label(identifier)  # not a captured supplier item either
        if foreign is not None:
            raise NotFound(foreign, code=ErrorCode.FOREIGN_LABEL)
        raise NotFound(f"No item {identifier!r}.", code=ErrorCode.UNKNOWN_ITEM)
    return item


# Why a status changed, as item_status_changes names it.
STATUS_CAUSES = ("operation", "hold", "direct")


def item_status_changes(item: Item) -> QuerySet[ItemStatusChange]:
    """The item's recorded status changes, each with its `cause`: the operation that consumed
    it, the hold that caught or released it, or "direct" (a change asked for itself: scrapping)."""
    cause = Case(
        When(operation__isnull=False, then=Value("operation")),
        When(hold__isnull=False, then=Value("hold")),
        default=Value("direct"),
        output_field=CharField(),
    )
    return ItemStatusChange.objects.filter(item=item).select_related("actor").annotate(cause=cause)
