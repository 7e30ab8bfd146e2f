"""An export of the dataset: the request, its progress in Celery, and the file when done."""

from collections.abc import Iterable, Mapping

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Q


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# A run that is gone (a killed worker's) leaves its export running: the next delivery starts it
# again from scratch, so running -> running. Done and failed are final.
EXPORT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    ExportStatus.QUEUED: frozenset({ExportStatus.RUNNING, ExportStatus.FAILED}),
    ExportStatus.RUNNING: frozenset({ExportStatus.RUNNING, ExportStatus.DONE, ExportStatus.FAILED}),
    ExportStatus.DONE: frozenset(),
    ExportStatus.FAILED: frozenset(),
}


class ExportTransitionRefused(Exception):
    """An export status change outside EXPORT_TRANSITIONS: a bug in the export's run."""


def export_upload_to(instance: "Export", filename: str) -> str:
    return f"exports/{instance.pk}/{filename}"


def export_storage() -> Storage:
    """Where export files go (STORAGES["exports"]): a storage every worker and app server reaches,
    the file system by default, an S3-compatible bucket when configured (docs/scale.md)."""
    return storages["exports"]


class Export(models.Model):
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    # The request, normalised.
    granularity = models.CharField(max_length=10)
    format = models.CharField(max_length=10)
    layout = models.CharField(max_length=10, default="wide")
    filters = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(null=True, blank=True)
    criticality = models.JSONField(null=True, blank=True)
    split = models.JSONField(null=True, blank=True)
    # Of the parameters with several values per row; None: all (datasets.columns.AGGREGATIONS).
    aggregations = models.JSONField(null=True, blank=True)
    request_sha256 = models.CharField(max_length=64, db_index=True)
    # The result.
    rows = models.IntegerField(null=True, blank=True)
    columns = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # Cycler files a done export passed over: [{"cell", "file", "message"}].
    warnings = models.JSONField(default=list, blank=True)
    file = models.FileField(upload_to=export_upload_to, storage=export_storage, max_length=300, blank=True, default="")
    # The cycling tables of a cell export: {"cycling"|"cycles": {"file", "rows", "columns",
    # "sha256", "file_sha256"}}, both the file's sha256 (the first its older name).
    tables = models.JSONField(default=dict, blank=True)
    # Of the rows (column names and values, canonical JSON): equal for the same data whatever the
    # format, export or time. The file's own bytes: `file_sha256`.
    content_sha256 = models.CharField(max_length=64, blank=True, default="")
    file_sha256 = models.CharField(max_length=64, blank=True, default="")
    catalog_version = models.CharField(max_length=40, blank=True, default="")
    dictionary = models.JSONField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_by", "request_sha256", "status"], name="export_same_request")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="export_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="export_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    def status_set(self, status: str, *, fields: Iterable[str] = ()) -> None:
        """The one writer of an export's status: refuse a change outside EXPORT_TRANSITIONS, then
        save the status with `fields` (set by the caller on the instance)."""
        if status not in EXPORT_TRANSITIONS[self.status]:
            raise ExportTransitionRefused(f"Export {self.pk} is {self.status}; it cannot become {status}.")
        self.status = status
        self.save(update_fields=["status", *fields])
