"""The parameter catalog (paper section 4.1) and the measurements made against it."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from lots.values import finite_q, time_q


class Scope(models.TextChoices):
    STEP = "step", "Process step"
    MATERIAL = "material", "Material"
    ENVIRONMENT = "environment", "Environment"


class Category(models.TextChoices):
    MP = "MP", "Machine parameter"
    PP = "PP", "Process parameter"
    SP = "SP", "Structure parameter"


class Level(models.TextChoices):
    HIGH = "high", "High"
    INTERMEDIATE = "intermediate", "Intermediate"
    LOW = "low", "Low"


class ModelType(models.TextChoices):
    EMPIRICAL = "empirical", "Empirical"
    CONTINUUM = "continuum", "Continuum (physics-based)"
    DISCRETE = "discrete", "Discrete (DEM, CGMD, LBM, kMC)"
    ML = "ml", "Machine learning"


class Source(models.TextChoices):
    ONLINE = "online", "Online (machine or sensor)"
    OFFLINE = "offline", "Offline (lab)"


class Parameter(models.Model):
    """One row of the catalog: what can be measured or set at a step, in which canonical unit."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.STEP)
    step = models.ForeignKey(
        "traceability.Step", on_delete=models.PROTECT, null=True, blank=True, related_name="parameters"
    )
    category = models.CharField(max_length=2, choices=Category.choices)
    unit = models.CharField(max_length=32)
    criticality_empirical = models.CharField(max_length=16, choices=Level.choices, blank=True, default="")
    criticality_continuum = models.CharField(max_length=16, choices=Level.choices, blank=True, default="")
    criticality_discrete = models.CharField(max_length=16, choices=Level.choices, blank=True, default="")
    criticality_ml = models.CharField(max_length=16, choices=Level.choices, blank=True, default="")
    measurability = models.CharField(max_length=32, blank=True, default="")
    online = models.BooleanField(null=True, blank=True)
    techniques = models.JSONField(default=list, blank=True)
    typical_min = models.FloatField(null=True, blank=True)
    typical_max = models.FloatField(null=True, blank=True)
    accuracy = models.CharField(max_length=200, blank=True, default="")
    ontology_iri = models.URLField(max_length=300, blank=True, default="")
    source = models.CharField(max_length=200, blank=True, default="")
    # File measurements (images, reports, cycler files): allowed extensions or media types, empty =
    # measurements.files.DEFAULT_TYPES; only types that file module knows can be named.
    file_types = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["step__sequence", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(typical_min__isnull=True)
                | Q(typical_max__isnull=True)
                | Q(typical_max__gte=F("typical_min")),
                name="parameter_range_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(scope="step") | Q(step__isnull=False), name="parameter_step_scope_has_step"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def criticality(self, model: str) -> str:
        return str(getattr(self, f"criticality_{model}"))


class Measurement(models.Model):
    """A value of a parameter about an item, an operation, a station or a room.

    Exactly one of `value` (scalar, canonical unit), `series` (x and y arrays in one JSON value,
    not a row per point) or `file` holds the data. Never updated: a correction is a new row whose
    `supersedes` points to the old one; reads take rows nothing supersedes.
    """

    parameter = models.ForeignKey(Parameter, on_delete=models.PROTECT, related_name="measurements")
    item = models.ForeignKey("lots.Item", on_delete=models.PROTECT, null=True, blank=True, related_name="measurements")
    operation = models.ForeignKey(
        "traceability.Operation", on_delete=models.PROTECT, null=True, blank=True, related_name="measurements"
    )
    station = models.ForeignKey(
        "traceability.Station", on_delete=models.PROTECT, null=True, blank=True, related_name="measurements"
    )
    room = models.CharField(max_length=64, blank=True, default="")
    position_m = models.FloatField(null=True, blank=True)
    measured_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices)
    instrument = models.CharField(max_length=128, blank=True, default="")
    method = models.CharField(max_length=200, blank=True, default="")
    uncertainty = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    sent_value = models.FloatField(null=True, blank=True)
    sent_unit = models.CharField(max_length=32, blank=True, default="")
    series = models.JSONField(null=True, blank=True)
    file = models.FileField(upload_to="measurements/%Y/%m/", max_length=300, blank=True, default="")
    file_sha256 = models.CharField(max_length=64, blank=True, default="")
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    out_of_range = models.BooleanField(default=False)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    correction_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["measured_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(value__isnull=False, series__isnull=True, file="")
                    | Q(value__isnull=True, series__isnull=False, file="")
                    | (Q(value__isnull=True, series__isnull=True) & ~Q(file=""))
                ),
                name="measurement_one_kind_of_data",
            ),
            models.CheckConstraint(
                condition=Q(item__isnull=False) | Q(operation__isnull=False) | Q(station__isnull=False) | ~Q(room=""),
                name="measurement_has_a_subject",
            ),
            models.CheckConstraint(
                condition=Q(position_m__isnull=True) | Q(position_m__gte=0), name="measurement_position_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(supersedes__isnull=True) | ~Q(correction_reason=""),
                name="measurement_correction_has_reason",
            ),
            models.CheckConstraint(condition=time_q("measured_at"), name="measurement_time_in_range"),
            *(
                models.CheckConstraint(condition=finite_q(column), name=f"measurement_{column}_finite")
                for column in ("value", "sent_value", "position_m", "uncertainty")
            ),
        ]
        indexes = [
            # Roll maps range-scan (item, position): every value inside a stretch of an item,
            # whatever its parameter (DESIGN.md suggests the parameter in the middle, which
            # would turn that range into a scan of the whole roll).
            models.Index(fields=["item", "position_m"], name="measurement_item_position"),
            models.Index(fields=["station", "measured_at"], name="measurement_station_time"),
            models.Index(fields=["room", "measured_at"], name="measurement_room_time"),
            models.Index(fields=["operation"], name="measurement_operation"),
        ]

    def __str__(self) -> str:
        return f"{self.parameter_id} #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Measurements are never overwritten; record a correction.")
        super().save(*args, **kwargs)
