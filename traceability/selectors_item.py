"""What an item's page reads of the lineage and the holds: its parents, its daughters (with
the stretch of it each took) and the holds that concern it."""

from dataclasses import dataclass

from django.db.models import QuerySet

from core.routing import replica_safe
from lots.models import Item

from .models import Hold, LineageEdge
from .selectors import track_ends


@dataclass(frozen=True)
class ItemLineage:
    parents: list[LineageEdge]
    children: list[LineageEdge]


@replica_safe
def item_lineage(item: Item) -> ItemLineage:
    """Parents by code; daughters along the item (by the metre they start at), then by code."""
    parents = (
        LineageEdge.objects.filter(child=item)
        .select_related("parent__kind", "operation__step")
        .order_by("parent__code")
    )
    children = (
        LineageEdge.objects.filter(parent=item)
        .select_related("child__kind", "operation__step")
        .order_by("parent_from_m", "child__code")
    )
    return ItemLineage(parents=list(parents), children=list(children))


def holds_catching(item: Item) -> QuerySet[Hold]:
    """The holds that caught this item, newest first; a stretch hold of its parent caught it only
    if it lists it."""
    return Hold.objects.filter(hold_items__item=item).select_related("item").order_by("-created_at")


def stretch_holds_on(item: Item) -> QuerySet[Hold]:
    """The stretch holds on metres of the item, newest first: they catch what holds those metres,
    not the item."""
    return Hold.objects.filter(item=item, from_m__isnull=False).order_by("-created_at")


@dataclass(frozen=True)
class TrackEnds:
    """The first `limit` items a recall of an item reaches, and how many it reaches in all."""

    ends: list[Item]
    total: int


@replica_safe
def track_ends_listed(item: Item, limit: int) -> TrackEnds:
    """Counted only when more than `limit` are found: the list is what the page shows."""
    ends = list(track_ends(item=item)[: limit + 1])
    total = len(ends) if len(ends) <= limit else track_ends(item=item).count()
    return TrackEnds(ends=ends[:limit], total=total)
