"""The parameter catalog (paper section 4.1) and the measurements made against it."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from core.values import finite_q, time_q


class Scope(models.TextChoices):
    STEP = "step", "Process step"
    MATERIAL = "material", "Material"
    ENVIRONMENT = "environment", "Environment"


class Category(models.TextChoices):
    MP = "MP", "Machine parameter"
    PP = "PP", "Process parameter"
    SP = "SP", "Structure parameter"


class Criticality(models.TextChoices):
    """How much a parameter matters to a kind of model; the API grades measurability on this scale too."""

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
    criticality_empirical = models.CharField(max_length=16, choices=Criticality.choices, blank=True, default="")
    criticality_continuum = models.CharField(max_length=16, choices=Criticality.choices, blank=True, default="")
    criticality_discrete = models.CharField(max_length=16, choices=Criticality.choices, blank=True, default="")
    criticality_ml = models.CharField(max_length=16, choices=Criticality.choices, blank=True, default="")
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

    # No index of their own on the foreign keys: each leads one of Meta.indexes (parameter, item,
    # operation, station, derived_from), or is never searched (created_by: users are not deleted).
    parameter = models.ForeignKey(Parameter, on_delete=models.PROTECT, related_name="measurements", db_index=False)
    item = models.ForeignKey(
        "lots.Item", on_delete=models.PROTECT, null=True, blank=True, related_name="measurements", db_index=False
    )
    operation = models.ForeignKey(
        "traceability.Operation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="measurements",
        db_index=False,
    )
    station = models.ForeignKey(
        "traceability.Station",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="measurements",
        db_index=False,
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
    # A cycler file: its format and format version as detected ("neware-nda 130") and the reader
    # that read it, with its version ("NewareNDA v2026.06.11"); empty for other files (a database
    # default too: bulk ingest writes the columns it knows).
    file_format = models.CharField(max_length=64, blank=True, default="", db_default="")
    file_reader = models.CharField(max_length=64, blank=True, default="", db_default="")
    # A value derived from a file (a capacity from a cycler file): that file's measurement.
    # On PostgreSQL the two self references are checked by a trigger, not a foreign key, and
    # "superseded once" by a unique index with measured_at (measurements.partitioning).
    derived_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derived", db_index=False
    )
    out_of_range = models.BooleanField(default=False)
    # Against the specification limit that applied to its item when it was recorded; None: none did.
    out_of_limits = models.BooleanField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    correction_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
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
            # Datasets and exports: one parameter over a time range.
            models.Index(fields=["parameter", "measured_at"], name="measurement_parameter_time"),
            # Partial: most rows have no station, room or operation (a roll's values), and a
            # partial index costs nothing to the rows it leaves out.
            models.Index(
                fields=["station", "measured_at"],
                name="measurement_station_time",
                condition=Q(station__isnull=False),
            ),
            models.Index(fields=["room", "measured_at"], name="measurement_room_time", condition=~Q(room="")),
            models.Index(fields=["operation"], name="measurement_operation", condition=Q(operation__isnull=False)),
            models.Index(
                fields=["derived_from"], name="measurement_derived_from", condition=Q(derived_from__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parameter_id} #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Measurements are never overwritten; record a correction.")
        super().save(*args, **kwargs)


class OnViolation(models.TextChoices):
    FLAG = "flag", "Flag the value"
    HOLD = "hold", "Flag the value and hold the item (or its stretch)"


class SpecificationLimit(models.Model):
    """Target and limits of a parameter for a product (an item's `product` attribute, inherited
    along the line) and polarity, in the parameter's canonical unit; empty = any.

    Never overwritten: a change is a new version whose `supersedes` points at the old one, and the
    old one's `retired_at` is set (the only change a limit takes, once). Values recorded before keep
    the flag they were given."""

    parameter = models.ForeignKey(Parameter, on_delete=models.PROTECT, related_name="limits")
    polarity = models.CharField(max_length=8, null=True, blank=True)  # noqa: DJ001
    product = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    target = models.FloatField(null=True, blank=True)
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    sent_unit = models.CharField(max_length=32, blank=True, default="")
    on_violation = models.CharField(max_length=8, choices=OnViolation.choices, default=OnViolation.FLAG)
    version = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["parameter_id", "product", "polarity", "-version"]
        constraints = [
            models.CheckConstraint(condition=Q(lower__isnull=False) | Q(upper__isnull=False), name="limit_has_a_bound"),
            models.CheckConstraint(
                condition=Q(lower__isnull=True) | Q(upper__isnull=True) | Q(lower__lte=F("upper")),
                name="limit_lower_le_upper",
            ),
            models.CheckConstraint(
                condition=Q(lower__isnull=True) | Q(target__isnull=True) | Q(lower__lte=F("target")),
                name="limit_lower_le_target",
            ),
            models.CheckConstraint(
                condition=Q(upper__isnull=True) | Q(target__isnull=True) | Q(target__lte=F("upper")),
                name="limit_target_le_upper",
            ),
            models.CheckConstraint(
                condition=Q(polarity__isnull=True) | Q(polarity__in=["cathode", "anode"]), name="limit_polarity_valid"
            ),
            models.CheckConstraint(condition=~Q(product=""), name="limit_product_not_blank"),
            models.CheckConstraint(condition=Q(on_violation__in=OnViolation.values), name="limit_on_violation_valid"),
            *(
                models.CheckConstraint(condition=finite_q(column), name=f"limit_{column}_finite")
                for column in ("target", "lower", "upper")
            ),
            # One active limit per parameter, polarity and product (NULL = any, so coalesced).
            models.UniqueConstraint(
                "parameter",
                Coalesce("polarity", Value("")),
                Coalesce("product", Value("")),
                condition=Q(retired_at__isnull=True),
                name="limit_one_active_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parameter_id} {self.product or '*'}/{self.polarity or '*'} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and kwargs.get("update_fields") != ["retired_at"]:
            raise PermissionError("A limit is never overwritten; create a new version.")
        super().save(*args, **kwargs)

    def excludes(self, value: float) -> bool:
        return (self.lower is not None and value < self.lower) or (self.upper is not None and value > self.upper)
