"""Scrapping a whole item: its Scrap row (traceability's record of lost material) and status."""

from typing import Any

from django.db import transaction

from audit.services import Actor, audit_record
from core.errors import ErrorCode, InvalidInput
from lots.models import Item, ItemStatus
from lots.services import item_snapshot, item_status_set, status_check

from .models import Scrap


@transaction.atomic
def item_scrap(*, actor: Actor, code: str, reason: str, station: Any = None) -> Item:
    """Scrap a whole item (a cell failing its end-of-line test, a damaged roll)."""
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.", field="reason")
    try:
        # Locked so a concurrent operation cannot consume what we are scrapping.
        item = Item.objects.select_for_update().get(code=code)
    except Item.DoesNotExist:
        raise InvalidInput(f"Unknown item {code!r}.", field="item", code=ErrorCode.UNKNOWN_ITEM) from None
    before = item_snapshot(item)
    status_check(item, ItemStatus.SCRAPPED)
    if item.quantity > 0:
        Scrap.objects.create(item=item, quantity=item.quantity, unit=item.unit, reason=reason)
    item_status_set([item.pk], ItemStatus.SCRAPPED, actor=actor, reason=reason)
    item.status = ItemStatus.SCRAPPED
    audit_record(
        actor=actor,
        action="item.scrap",
        entity="item",
        entity_id=item.code,
        station=station.code if station else "",
        before=before,
        after=item_snapshot(item) | {"reason": reason},
    )
    return item
