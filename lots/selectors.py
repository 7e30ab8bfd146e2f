"""Reads on items."""

from django.db.models import Case, CharField, Q, QuerySet, Value, When

from core.errors import ErrorCode, InvalidInput, NotFound

from .identifiers import code_from_digital_link, epc_normalize, foreign_label
from .models import Item, ItemStatusChange


def item_queryset() -> QuerySet[Item]:
    return Item.objects.select_related("kind", "created_by", "station")


def item_lookup_q(identifier: str) -> Q:
    """Match an item by code, Digital Link URI or EPC (URN, tag URI or hex). Another site's or
    company's Digital Link matches nothing, nor does text PostgreSQL cannot hold (NUL)."""
    text = identifier.strip()
    if "\x00" in text or foreign_label(text) is not None:
        return Q(pk__in=[])
    code = code_from_digital_link(text)
    if code is not None:
        return Q(code=code)
    query = Q(code=text)
    if text.lower().startswith("urn:epc:") or (len(text) >= 24 and all(c in "0123456789abcdefABCDEF" for c in text)):
        try:
            query |= Q(rfid_epc=epc_normalize(text))
        except InvalidInput:  # not an EPC after all: only the code can match
            pass
    return query


def item_get(identifier: str, *, lean: bool = False) -> Item:
    """The item a code, Digital Link or EPC names; `lean` loads only id and code (genealogy
    walks need nothing else)."""
    foreign = foreign_label(identifier)
    if foreign is not None:
        raise NotFound(foreign, code=ErrorCode.FOREIGN_LABEL)
    queryset = Item.objects.only("id", "code") if lean else item_queryset()
    item = queryset.filter(item_lookup_q(identifier)).first()
    if item is None:
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
