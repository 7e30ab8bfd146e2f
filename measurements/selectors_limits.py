"""Which specification limit applies to a value: the one selector every way in uses.

An item's scope is its polarity (a column, inherited when an operation makes it) and its product:
its own `product` attribute, else the nearest upstream item's (a cell made from sheets of a
roll registered for "NMC811-G-pouch-5Ah"). Of the active limits of a parameter, those whose
product and polarity are empty or equal the item's apply; the most specific wins:
product+polarity > product > polarity > parameter only. A value about no item (a station, a
room) is checked against parameter-only limits.

Set-based: `limit_book` reads the active limits of the parameters in one query, and
`LimitBook.extend` the scopes of a batch of items in at most two (the items, then one recursive
walk upstream for the products, only when some limit names a product), whatever the batch size.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection

from lots.models import Item
from traceability.intervals import edge_table
from traceability.selectors import MAX_DEPTH

from .models import SpecificationLimit

# The product of one item, a JSON string only (a number or list in the attribute is not a product).
_PRODUCT = {
    "postgresql": "CASE WHEN jsonb_typeof({t}.attributes -> 'product') = 'string' "
    "THEN NULLIF({t}.attributes ->> 'product', '') END",
    "sqlite": "CASE WHEN json_type({t}.attributes, '$.product') = 'text' "
    "THEN NULLIF(json_extract({t}.attributes, '$.product'), '') END",
}
# Walks up from every seed until it meets an item with a product; nearest first.
_PRODUCT_UP_SQL = f"""
WITH RECURSIVE up(seed, item_id, depth, product) AS (
    SELECT i.id, i.id, 0, {{own}} FROM {Item._meta.db_table} i WHERE i.id IN ({{seeds}})
    UNION
    SELECT u.seed, e.parent_id, u.depth + 1, {{parent}}
    FROM up u
    JOIN {edge_table()} e ON e.child_id = u.item_id
    JOIN {Item._meta.db_table} p ON p.id = e.parent_id
    WHERE u.product IS NULL AND u.depth < %s
)
SELECT seed, MIN(depth), MIN(product) FROM up WHERE product IS NOT NULL
GROUP BY seed, depth
"""
SEED_BATCH = 5_000


@dataclass(frozen=True)
class ItemScope:
    polarity: str | None
    product: str | None


NO_SCOPE = ItemScope(None, None)


def _specificity(limit: SpecificationLimit) -> int:
    return 2 * (limit.product is not None) + (limit.polarity is not None)


def limit_for(limits: Sequence[SpecificationLimit], scope: ItemScope) -> SpecificationLimit | None:
    """The most specific of `limits` (of one parameter) that applies to an item of `scope`."""
    best: SpecificationLimit | None = None
    for limit in limits:
        if limit.product is not None and limit.product != scope.product:
            continue
        if limit.polarity is not None and limit.polarity != scope.polarity:
            continue
        if best is None or _specificity(limit) > _specificity(best):
            best = limit
    return best


def item_scopes(item_ids: Iterable[int], *, products: bool = True) -> dict[int, ItemScope]:
    """Polarity and (inherited) product of each item, in two queries per SEED_BATCH items."""
    from lots.models import Item  # lots is below measurements; imported here to keep this module light

    ids = sorted(set(item_ids))
    scopes: dict[int, ItemScope] = {}
    for start in range(0, len(ids), SEED_BATCH):
        batch = ids[start : start + SEED_BATCH]
        polarity = dict(Item.objects.filter(pk__in=batch).values_list("pk", "polarity"))
        product: dict[int, tuple[int, str]] = {}
        if products and polarity:
            vendor = _PRODUCT.get(connection.vendor, _PRODUCT["sqlite"])
            sql = _PRODUCT_UP_SQL.format(
                own=vendor.format(t="i"), parent=vendor.format(t="p"), seeds=", ".join(["%s"] * len(polarity))
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [*polarity, MAX_DEPTH])
                for seed, depth, name in cursor.fetchall():
                    if seed not in product or depth < product[seed][0]:
                        product[seed] = (depth, name)
        for pk, pol in polarity.items():
            scopes[pk] = ItemScope(pol, product[pk][1] if pk in product else None)
    return scopes


class LimitBook:
    """The active limits of some parameters and the scopes of the items seen so far."""

    def __init__(self, limits: Iterable[SpecificationLimit]) -> None:
        self.by_parameter: dict[int, list[SpecificationLimit]] = defaultdict(list)
        for limit in limits:
            self.by_parameter[limit.parameter_id].append(limit)
        self.products = any(limit.product is not None for group in self.by_parameter.values() for limit in group)
        self.scopes: dict[int, ItemScope] = {}

    def __bool__(self) -> bool:
        return bool(self.by_parameter)

    def extend(self, item_ids: Iterable[int | None]) -> None:
        """Look up the scopes of items not seen yet (nothing when no limit applies at all)."""
        if not self.by_parameter:
            return
        new = {pk for pk in item_ids if pk is not None and pk not in self.scopes}
        if new:
            self.scopes.update(item_scopes(new, products=self.products))

    def limit(self, parameter_id: int, item_id: int | None) -> SpecificationLimit | None:
        limits = self.by_parameter.get(parameter_id)
        if not limits:
            return None
        scope = self.scopes.get(item_id, NO_SCOPE) if item_id is not None else NO_SCOPE
        return limit_for(limits, scope)

    def check(self, parameter_id: int, item_id: int | None, values: Iterable[float]) -> bool | None:
        """out_of_limits of a value (or of a series' points): None when no limit applies."""
        limit = self.limit(parameter_id, item_id)
        if limit is None:
            return None
        return any(limit.excludes(v) for v in values)


def limit_text(limit: SpecificationLimit) -> str:
    """'limit #3 v2 of mass_loading for NMC811-G-pouch-5Ah, anode: lower 10.8 to upper 11.6 mg/cm**2 (target 11.2)'."""
    unit = limit.parameter.unit
    bounds = " to ".join(
        f"{word} {bound:g}" for word, bound in (("lower", limit.lower), ("upper", limit.upper)) if bound is not None
    )
    scope = ", ".join(x for x in (limit.product, limit.polarity) if x) or "every product"
    target = f" (target {limit.target:g})" if limit.target is not None else ""
    return f"limit #{limit.pk} v{limit.version} of {limit.parameter.code} for {scope}: {bounds} {unit}{target}"


def limit_book(parameter_ids: Iterable[int] | None, item_ids: Iterable[int | None] = ()) -> LimitBook:
    """The active limits of `parameter_ids` (None: of every parameter; a pilot line has a few
    hundred at most) in one query, with the scopes of `item_ids`."""
    limits = SpecificationLimit.objects.filter(retired_at__isnull=True).select_related("parameter")
    if parameter_ids is not None:
        limits = limits.filter(parameter_id__in=set(parameter_ids))
    book = LimitBook(limits)
    book.extend(item_ids)
    return book


def limits_active(*, parameter: str | None = None, product: str | None = None) -> "list[SpecificationLimit]":
    queryset = SpecificationLimit.objects.filter(retired_at__isnull=True).select_related("parameter", "created_by")
    if parameter:
        queryset = queryset.filter(parameter__code=parameter)
    if product:
        queryset = queryset.filter(product=product)
    return list(queryset.order_by("parameter__code", "product", "polarity"))


def limit_applying(parameter_id: int, item_id: int | None) -> SpecificationLimit | None:
    """The limit one value of `parameter_id` about `item_id` is checked against (pages)."""
    return limit_book([parameter_id], [item_id]).limit(parameter_id, item_id)
