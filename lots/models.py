"""Items: anything traceable on the line, from a supplier lot to a finished cell."""

from collections.abc import Mapping

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.values import QUANTITY_LIMIT, finite_q


class ItemLevel(models.TextChoices):
    """A kind's items are measured as a quantity (batch) or counted one by one (instance)."""

    BATCH = "batch", "Batch"
    INSTANCE = "instance", "Instance"


class Polarity(models.TextChoices):
    CATHODE = "cathode", "Cathode"
    ANODE = "anode", "Anode"


class ItemStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CONSUMED = "consumed", "Consumed"
    ON_HOLD = "on_hold", "On hold"
    SCRAPPED = "scrapped", "Scrapped"
    SHIPPED = "shipped", "Shipped"


# Allowed status changes; anything else is a conflict with the state of the line.
# lots.services.item_status_set is the one writer of a status after creation.
STATUS_TRANSITIONS: Mapping[str, frozenset[str]] = {
    ItemStatus.ACTIVE: frozenset({ItemStatus.CONSUMED, ItemStatus.ON_HOLD, ItemStatus.SCRAPPED, ItemStatus.SHIPPED}),
    # Back to shipped: a release restores what a shipped cell was when a recall caught it.
    ItemStatus.ON_HOLD: frozenset({ItemStatus.ACTIVE, ItemStatus.SCRAPPED, ItemStatus.SHIPPED}),
    ItemStatus.CONSUMED: frozenset(),
    ItemStatus.SCRAPPED: frozenset(),
    ItemStatus.SHIPPED: frozenset({ItemStatus.ON_HOLD}),
}


def statuses_before(status: str) -> list[str]:
    """The statuses an item may be in to become `status`."""
    return [before for before, after in STATUS_TRANSITIONS.items() if status in after]


class ItemKind(models.Model):
    """What an item is. Seeded by a data migration, so the contract's codes always exist."""

    code = models.SlugField(max_length=64, primary_key=True)
    name = models.CharField(max_length=128)
    level = models.CharField(max_length=16, choices=ItemLevel.choices)
    default_unit = models.CharField(max_length=32)
    # The dimensions its quantities may be given in (core.units.DIMENSIONS), its own first:
    # ["volume", "mass"] for a solvent. Empty: only that of default_unit.
    dimensions = models.JSONField(default=list, blank=True)
    code_prefix = models.CharField(max_length=8, unique=True)
    # GS1 item reference: with the company prefix it forms the GTIN on the item's Digital Link.
    gtin_item_reference = models.PositiveIntegerField(unique=True)
    is_roll = models.BooleanField(default=False)
    on_electrode_path = models.BooleanField(default=False)
    # The EMMO / BattINFO class of the kind (lots.ontology_terms); empty where none fits.
    ontology_iri = models.URLField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["gtin_item_reference"]

    def __str__(self) -> str:
        return self.code


class Item(models.Model):
    code = models.CharField(max_length=64, unique=True)
    kind = models.ForeignKey(ItemKind, on_delete=models.PROTECT, related_name="items")
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.ACTIVE)
    # Remaining quantity, in `unit`; `initial_quantity` is what was registered or produced.
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    initial_quantity = models.DecimalField(max_digits=20, decimal_places=6)
    unit = models.CharField(max_length=32)
    length_m = models.FloatField(null=True, blank=True)
    polarity = models.CharField(max_length=8, choices=Polarity.choices, null=True, blank=True)  # noqa: DJ001
    # NULL, not "", for untagged items: many items have none and the column is unique.
    rfid_epc = models.CharField(max_length=128, unique=True, null=True, blank=True)  # noqa: DJ001
    supplier_lot = models.CharField(max_length=128, blank=True, default="")
    # A supplier's GS1 identity of the item (captured EPCIS events): its GTIN-14, with the lot
    # in supplier_lot (AI 10) or the serial here (AI 21). Empty for this line's own items,
    # whose GTIN is their kind's. A Digital Link matches on GTIN and lot or serial together.
    gtin = models.CharField(max_length=14, blank=True, default="")
    gs1_serial = models.CharField(max_length=128, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)
    station = models.ForeignKey(
        "traceability.Station", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    produced_by = models.ForeignKey(
        "traceability.Operation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outputs",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="item_quantity_not_negative"),
            models.CheckConstraint(condition=Q(initial_quantity__gte=0), name="item_initial_quantity_not_negative"),
            models.CheckConstraint(condition=Q(length_m__isnull=True) | Q(length_m__gt=0), name="item_length_positive"),
            models.CheckConstraint(condition=Q(status__in=ItemStatus.values), name="item_status_valid"),
            models.CheckConstraint(
                condition=Q(polarity__isnull=True) | Q(polarity__in=Polarity.values),
                name="item_polarity_valid",
            ),
            # numeric holds NaN in PostgreSQL, and NaN sorts above every number.
            models.CheckConstraint(
                condition=Q(quantity__lt=QUANTITY_LIMIT, initial_quantity__lt=QUANTITY_LIMIT),
                name="item_quantity_finite",
            ),
            models.CheckConstraint(condition=finite_q("length_m"), name="item_length_finite"),
            models.UniqueConstraint(
                fields=["gtin", "gs1_serial"], condition=~Q(gs1_serial=""), name="item_gtin_serial_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "status"]),
            models.Index(fields=["status"], condition=Q(status="on_hold"), name="item_on_hold_idx"),
            models.Index(fields=["gtin", "supplier_lot"], condition=~Q(gtin=""), name="item_gtin_lot_idx"),
        ]

    def __str__(self) -> str:
        return self.code


class CodeSequence(models.Model):
    """Next number per code prefix; advanced by one UPDATE ... RETURNING per operation."""

    prefix = models.CharField(max_length=8, primary_key=True)
    last_value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}-{self.last_value:06d}"


class ItemStatusChange(models.Model):
    """One status change of one item, and why: append-only (a trigger on PostgreSQL), written
    only by lots.services.item_status_set. The cause is the operation or hold, when there is one."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=ItemStatus.choices)
    to_status = models.CharField(max_length=16, choices=ItemStatus.choices)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    reason = models.TextField(blank=True, default="")  # a hold's or release's reason, up to 500
    operation = models.ForeignKey(
        "traceability.Operation", on_delete=models.PROTECT, null=True, blank=True, related_name="status_changes"
    )
    hold = models.ForeignKey(
        "traceability.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="status_changes"
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["item", "at"], name="item_status_change_item_at")]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.from_status} -> {self.to_status}"
