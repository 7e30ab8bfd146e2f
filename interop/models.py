"""What EPCIS capture keeps: each captured event under its CBV 2.0 hash, and the engineers'
table of which supplier GTIN is which item kind."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class GtinKind(models.Model):
    """A supplier's GTIN and the item kind its trade items are on this line: a captured event
    registers items only of GTINs listed here (engineers keep the table, in the admin)."""

    gtin = models.CharField(max_length=14, primary_key=True)
    kind = models.ForeignKey("lots.ItemKind", on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=200, blank=True, default="")  # the supplier and product, for people

    class Meta:
        ordering = ["gtin"]
        verbose_name = "GTIN to item kind"
        verbose_name_plural = "GTINs to item kinds"
        constraints = [models.CheckConstraint(condition=Q(gtin__regex=r"^[0-9]{14}$"), name="gtin_kind_gtin_14_digits")]

    def __str__(self) -> str:
        return f"{self.gtin} -> {self.kind_id}"


class CapturedEvent(models.Model):
    """One EPCIS event as captured, once: the hash is the CBV 2.0 event hash, so the same event
    sent again (another creationDate, key order or whitespace) finds its row."""

    event_hash = models.CharField(max_length=120, unique=True)
    event_type = models.CharField(max_length=32)
    event_time = models.DateTimeField(db_index=True)
    # The event as sent, and the namespaces of its document's @context (its extensions need them).
    event = models.JSONField()
    namespaces = models.JSONField(default=dict, blank=True)
    captured_at = models.DateTimeField(auto_now_add=True, db_index=True)
    captured_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    # What the event did on the line: the operation a TransformationEvent became, the items registered.
    operation = models.ForeignKey(
        "traceability.Operation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    items = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["captured_at", "id"]

    def __str__(self) -> str:
        return self.event_hash
