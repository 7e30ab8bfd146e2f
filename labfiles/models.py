"""Lab files: a saved mapping per instrument's file layout, and the record of each import."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from measurements.models import Source

# Excel's last row: a header below it cannot exist in any workbook.
HEADER_ROW_MAX = 1_048_576


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (.xlsx)"


class ImportMapping(models.Model):
    """Where an instrument's file keeps the item, the time and the values.

    `values` is a list of {"column", "parameter", "unit"}: each column of the sheet that holds
    values of a parameter, in the unit the instrument writes (checked against the catalog when
    saved, labfiles.mappings)."""

    code = models.SlugField(max_length=64, unique=True)
    format = models.CharField(max_length=4, choices=FileFormat.choices)
    sheet = models.CharField(max_length=31, blank=True, default="")  # Excel's limit; blank: the first
    header_row = models.PositiveIntegerField(default=1)
    delimiter = models.CharField(max_length=1, default=",")
    decimal = models.CharField(max_length=1, default=".")  # "," as many European instruments write
    time_format = models.CharField(max_length=64, blank=True, default="")  # strptime; blank: ISO 8601
    item_column = models.CharField(max_length=200)
    time_column = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64)
    position_column = models.CharField(max_length=200, blank=True, default="")
    source = models.CharField(max_length=7, choices=Source.choices, default=Source.OFFLINE)
    instrument = models.CharField(max_length=128, blank=True, default="")
    values = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(format__in=FileFormat.values), name="import_mapping_format_valid"),
            models.CheckConstraint(condition=Q(source__in=Source.values), name="import_mapping_source_valid"),
            models.CheckConstraint(condition=Q(decimal__in=[".", ","]), name="import_mapping_decimal_valid"),
            models.CheckConstraint(
                condition=Q(header_row__gte=1) & Q(header_row__lte=HEADER_ROW_MAX),
                name="import_mapping_header_row_in_sheet",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class LabImport(models.Model):
    """One imported file: its bytes kept (`file`), and what it stored."""

    mapping = models.ForeignKey(ImportMapping, on_delete=models.PROTECT, related_name="imports")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    file = models.FileField(upload_to="labfiles/%Y/%m/", max_length=300)
    rows = models.PositiveIntegerField()
    stored = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The same bytes through the same mapping would store every value twice.
            models.UniqueConstraint(fields=["mapping", "file_sha256"], name="lab_import_once_per_mapping"),
            models.CheckConstraint(condition=Q(stored__gte=1), name="lab_import_stored_something"),
        ]

    def __str__(self) -> str:
        return f"{self.mapping_id}:{self.file_name}"
