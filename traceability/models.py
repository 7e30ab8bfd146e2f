"""Operations (EPCIS TransformationEvents), the lineage they write, and holds."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.values import finite_q, time_q


class Step(models.Model):
    """A process step of the line. Seeded by a data migration, in line order."""

    code = models.SlugField(max_length=64, primary_key=True)
    name = models.CharField(max_length=128)
    sequence = models.PositiveSmallIntegerField(unique=True)
    # The EMMO process class and the Battery Value Chain Ontology's (lots.ontology_terms).
    ontology_iri = models.URLField(max_length=300, blank=True, default="")
    process_iri = models.URLField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return self.code


class Station(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    room = models.CharField(max_length=64, blank=True, default="")
    steps = models.ManyToManyField(Step, related_name="stations")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Operation(models.Model):
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="operations")
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="operations")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # Machine parameters as sent: {"slitting_speed": {"value": 100, "unit": "m/min"}}.
    parameters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="operation_ends_after_start",
            ),
            models.CheckConstraint(condition=time_q("started_at"), name="operation_start_in_range"),
            models.CheckConstraint(condition=time_q("ended_at", null=True), name="operation_end_in_range"),
        ]
        indexes = [
            models.Index(fields=["station", "started_at"]),
            # Open runs only: a year of closed runs must not be read by every scan's open-run query.
            models.Index(
                fields=["station", "started_at"], condition=Q(ended_at__isnull=True), name="operation_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_id}@{self.station_id} #{self.pk}"


# The quantity an operation takes of an input that passes through without being consumed (a
# cell at formation, a carrier filled with electrolyte): nothing.
PASSES_THROUGH = 0


class OperationInput(models.Model):
    """What an operation took from an input item, in the item's unit."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="inputs")
    item = models.ForeignKey("lots.Item", on_delete=models.PROTECT, related_name="consumptions")
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    unit = models.CharField(max_length=32)
    consumed = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["operation", "item"], name="operation_input_once"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="input_quantity_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} -> op {self.operation_id}"

    @property
    def passes_through(self) -> bool:
        return self.quantity == PASSES_THROUGH


class Scrap(models.Model):
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="scrap", null=True, blank=True)
    item = models.ForeignKey("lots.Item", on_delete=models.PROTECT, related_name="scrap")
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    unit = models.CharField(max_length=32)
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="scrap_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.unit} of {self.item_id}: {self.reason}"


class LineageEdge(models.Model):
    """Parent -> child, with the stretch of the parent used and the stretch of the child made.

    Positions are metres; null means the whole item (a slurry from its lots has none).
    """

    parent = models.ForeignKey("lots.Item", on_delete=models.PROTECT, related_name="child_edges")
    child = models.ForeignKey("lots.Item", on_delete=models.PROTECT, related_name="parent_edges")
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="edges")
    parent_from_m = models.FloatField(null=True, blank=True)
    parent_to_m = models.FloatField(null=True, blank=True)
    child_from_m = models.FloatField(null=True, blank=True)
    child_to_m = models.FloatField(null=True, blank=True)
    reversed = models.BooleanField(default=False)
    lane = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(parent_from_m__isnull=True, parent_to_m__isnull=True)
                | Q(parent_from_m__gte=0, parent_to_m__gt=F("parent_from_m")),
                name="edge_parent_stretch_ordered",
            ),
            models.CheckConstraint(
                condition=Q(child_from_m__isnull=True, child_to_m__isnull=True)
                | Q(child_from_m__gte=0, child_to_m__gt=F("child_from_m")),
                name="edge_child_stretch_ordered",
            ),
            models.CheckConstraint(condition=~Q(parent=F("child")), name="edge_not_a_loop"),
        ]
        indexes = [
            # Both walks are index-only hops: trace joins on child, track on parent.
            models.Index(fields=["child", "parent"], name="edge_child_parent_idx"),
            models.Index(fields=["parent", "child"], name="edge_parent_child_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"


class Hold(models.Model):
    """A hold on one item (and with `downstream`, all made from it), or a containment window."""

    reason = models.CharField(max_length=500)
    downstream = models.BooleanField(default=False)
    item = models.ForeignKey("lots.Item", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    station = models.ForeignKey(Station, on_delete=models.PROTECT, null=True, blank=True, related_name="holds")
    window_from = models.DateTimeField(null=True, blank=True)
    window_to = models.DateTimeField(null=True, blank=True)
    # A stretch [from_m, to_m) of the held item (metres of a roll): only what holds it is caught,
    # the item itself stays usable outside it.
    from_m = models.FloatField(null=True, blank=True)
    to_m = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    release_reason = models.CharField(max_length=500, blank=True, default="")
    items: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        "lots.Item", through="HoldItem", related_name="holds"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(item__isnull=False, station__isnull=True)
                | Q(
                    item__isnull=True,
                    station__isnull=False,
                    window_from__isnull=False,
                    window_to__gt=F("window_from"),
                ),
                name="hold_scope_item_or_window",
            ),
            models.CheckConstraint(condition=time_q("window_from", null=True), name="hold_window_from_in_range"),
            models.CheckConstraint(condition=time_q("window_to", null=True), name="hold_window_to_in_range"),
            models.CheckConstraint(condition=finite_q("from_m") & finite_q("to_m"), name="hold_stretch_finite"),
            # Both or neither (a comparison with NULL would pass a CHECK), on an item, from < to:
            # the stretch is half-open [from_m, to_m), so an empty one would hold nothing.
            models.CheckConstraint(
                condition=Q(from_m__isnull=True, to_m__isnull=True)
                | Q(
                    item__isnull=False,
                    from_m__isnull=False,
                    to_m__isnull=False,
                    from_m__gte=0,
                    to_m__gt=F("from_m"),
                ),
                name="hold_stretch_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk}: {self.reason}"

    @property
    def stretch(self) -> str:
        """ "metres 12.0-13.5" for a stretch hold, "" otherwise."""
        if self.from_m is None or self.to_m is None:
            return ""
        return f"metres {_metre(self.from_m)}-{_metre(self.to_m)}"


def _metre(value: float) -> str:
    """12.0, 12.25, 13.5: one decimal at least, as many as the value has."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


class HoldItem(models.Model):
    hold = models.ForeignKey(Hold, on_delete=models.CASCADE, related_name="hold_items")
    item = models.ForeignKey("lots.Item", on_delete=models.PROTECT, related_name="hold_items")
    # What the item was when caught, so a release restores it (a shipped cell stays shipped).
    previous_status = models.CharField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hold", "item"], name="hold_item_once")]

    def __str__(self) -> str:
        return f"{self.item_id} in hold {self.hold_id}"
