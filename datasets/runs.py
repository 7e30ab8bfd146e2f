"""Runs of exports: the Celery task's work of building an export's files, and their expiry.

`export_run` builds the file: the read runs inside one REPEATABLE READ transaction on PostgreSQL
(a snapshot: data written meanwhile cannot tear it), the file is written under a temporary path
and stored under the export only when complete, so a worker killed midway leaves nothing to
download and a redelivered task simply starts again. A run holds the export's advisory lock: a
copy of the task delivered while the first run still builds it raises `ExportRunning`.
"""

import errno
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from core.routing import primary_reads, read_alias, replica_caught_up, replica_reads

from .cycling_writers import cycling_paths, write_cycling
from .dictionary import catalog_version, data_dictionary
from .models import Export, ExportStatus, export_storage, export_upload_to
from .services import export_query
from .table import dataset_rows
from .writers import Written, write_dataset

log = logging.getLogger(__name__)
EXPORT_FAILED = "export_failed"  # the code in a failed export's `error`
EXPORT_NO_SPACE = "export_no_space"  # its disk (work directory or media) is full
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}
_PROGRESS_EVERY_S = 1.0
_LOCK_CLASS = 74011  # the namespace (first key) of the export runs' advisory locks


class ExportRunning(Exception):
    """Another run of the export holds its lock: this one is a second delivery of its task."""


class _Progress:
    """Progress is written through a connection of its own on PostgreSQL, so that clients see it
    while the snapshot transaction is still open; elsewhere it is written at the end only."""

    def __init__(self, export_id: int, total: int) -> None:
        self.export_id = export_id
        self.total = total
        self.last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.total or now - self.last < _PROGRESS_EVERY_S or connection.vendor != "postgresql":
            return
        self.last = now
        side = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            with side.cursor() as cursor:
                cursor.execute(
                    "UPDATE datasets_export SET progress = %s WHERE id = %s AND status = %s",
                    [min(0.99, done / self.total), self.export_id, ExportStatus.RUNNING],
                )
        except Exception:  # progress is best effort
            log.warning("export %s: progress not recorded", self.export_id, exc_info=True)
        finally:
            side.close()


@dataclass
class _Built:
    rows: int
    columns: int
    content_sha256: str  # of the rows
    file_sha256: str
    dictionary: list[dict[str, Any]]
    catalog_version: str
    cycling: dict[str, Written] = field(default_factory=dict)  # table name -> file
    warnings: list[dict[str, str]] = field(default_factory=list)  # cycler files passed over


def _build(export: Export, directory: Path) -> _Built:
    columns, rows = dataset_rows(
        granularity=export.granularity,
        filters=export.filters,
        parameters=export.parameters,
        criticality=export.criticality,
        split=export.split or None,
        aggregations=export.aggregations,
    )
    dictionary = data_dictionary(columns)
    version = catalog_version()
    total = columns[0].coverage if export.layout == "wide" and columns else 0
    metadata = {
        "celltrace.export": export.pk,
        "celltrace.query": export_query(export),
        "celltrace.catalog_version": version,
    }
    codes: list[str] = []

    path = directory / f"export-{export.pk}.{EXTENSIONS[export.format]}"
    written = write_dataset(
        path=path,
        columns=columns,
        rows=rows,
        fmt=export.format,
        layout=export.layout,
        metadata=metadata | {"celltrace.dictionary": dictionary},
        progress=_Progress(export.pk, total),
        query=export_query(export),
        catalog_version=version,
        codes=codes,
    )
    built = _Built(
        rows=written.rows,
        columns=written.columns,
        content_sha256=written.provenance["content_sha256"],
        file_sha256=written.sha256,
        dictionary=dictionary,
        catalog_version=version,
    )
    if export.granularity == "cell":
        built.cycling = write_cycling(
            cells=codes, paths=cycling_paths(path), fmt=export.format, metadata=metadata, problems=built.warnings
        )
    return built


def _snapshot_build(export: Export, directory: Path) -> _Built:
    """Every read of the export in one transaction; REPEATABLE READ on PostgreSQL when this is
    the outermost transaction (SQLite transactions read one snapshot anyway). On the replica
    when there is one and it has replayed what was committed before the build started (the
    client's last writes included), else on the primary."""
    caught_up = replica_caught_up(wait_s=settings.CELLTRACE_REPLICA_WAIT_SECONDS)
    with replica_reads() if caught_up else primary_reads():
        reads = connections[read_alias()]
        with transaction.atomic(using=reads.alias):
            if reads.vendor == "postgresql" and not _inside_transaction(reads):
                with reads.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return _build(export, directory)


def _inside_transaction(reads: BaseDatabaseWrapper) -> bool:
    # atomic() above opened the outermost block unless there was one already (the test suite).
    return len(reads.savepoint_ids) > 0


def work_directory(export_id: int) -> Path:
    """Where an export's files are written before they are stored: one per export, so that a
    redelivered task (its worker was killed) clears what the killed one left."""
    return Path(settings.CELLTRACE_EXPORT_WORK_DIR) / f"export-{export_id}"


def _delete_files(export: Export) -> None:
    if export.file:
        export.file.delete(save=False)
    for table in (export.tables or {}).values():
        export_storage().delete(table["file"])
    export.tables = {}


@contextmanager
def _run_lock(export_id: int) -> Iterator[bool]:
    """Whether this run holds the export's lock: a PostgreSQL session advisory lock, held while
    the export is built. Redis delivers a task again when it runs past the visibility timeout;
    the copy finds the lock taken and builds nothing. The server frees the lock when the holder's
    connection ends, so a killed worker's export is built again by the next delivery. Elsewhere
    (SQLite: one process, tasks run in it) there is no lock."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [_LOCK_CLASS, export_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(CAST(%s AS integer), CAST(%s AS integer))", key)
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(CAST(%s AS integer), CAST(%s AS integer))", key)


def export_run(export_id: int) -> Export | None:
    """Build the export's files. Safe to run again: a done or failed export is left alone, a
    queued or running one whose run is gone (a killed worker's) starts from scratch, one whose
    run is still going raises `ExportRunning` and is left untouched."""
    with _run_lock(export_id) as locked:
        if locked:
            return _export_build(export_id)
        export = Export.objects.filter(pk=export_id).first()
        if export is None or export.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return export
        raise ExportRunning(f"Export {export_id} is being built by another run.")


# What a done export's run writes besides its status.
_RESULT_FIELDS = [
    "progress",
    "rows",
    "columns",
    "content_sha256",
    "file_sha256",
    "dictionary",
    "catalog_version",
    "finished_at",
    "expires_at",
    "error",
    "warnings",
    "file",
    "tables",
]


def _export_build(export_id: int) -> Export | None:
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return export
        _delete_files(export)
        export.progress = 0.0
        export.started_at = timezone.now()
        export.status_set(ExportStatus.RUNNING, fields=["progress", "started_at", "file", "tables"])
    directory = work_directory(export.pk)
    try:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        built = _snapshot_build(export, directory)
        name = f"export-{export.pk}.{EXTENSIONS[export.format]}"
        with (directory / name).open("rb") as stream:
            export.file.save(name, File(stream), save=False)
        for table, written in built.cycling.items():
            with written.path.open("rb") as stream:
                stored = export_storage().save(export_upload_to(export, written.path.name), File(stream))
            export.tables[table] = {
                "file": stored,
                "rows": written.rows,
                "columns": written.columns,
                "sha256": written.sha256,
                "file_sha256": written.sha256,
            }
        finished = timezone.now()
        export.progress = 1.0
        export.rows, export.columns = built.rows, built.columns
        export.content_sha256, export.file_sha256 = built.content_sha256, built.file_sha256
        export.dictionary, export.catalog_version = built.dictionary, built.catalog_version
        export.finished_at = finished
        export.expires_at = finished + timedelta(hours=settings.CELLTRACE_EXPORT_TTL_HOURS)
        export.error = ""
        export.warnings = built.warnings
        export.status_set(ExportStatus.DONE, fields=_RESULT_FIELDS)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        _delete_files(export)
        export.refresh_from_db()  # what the failed run set on the instance is not kept
        # The detail (SQL, server paths) stays in the log above; the client gets a code.
        export.error = _failure(exc)
        export.warnings, export.finished_at, export.file, export.tables = [], timezone.now(), "", {}
        export.content_sha256 = export.file_sha256 = ""
        failed = ["error", "warnings", "finished_at", "file", "tables", "content_sha256", "file_sha256"]
        export.status_set(ExportStatus.FAILED, fields=failed)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return export


def _failure(exc: BaseException) -> str:
    """What a failed export says: why, where the client or operator can act on it (a full disk),
    a code otherwise; never SQL or server paths."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"The export could not be written: no space left on the server's export disk ({EXPORT_NO_SPACE})."
        seen = seen.__cause__ or seen.__context__
    return f"The export could not be built ({EXPORT_FAILED}); the server log has the detail."


def exports_expire() -> int:
    """Delete the files of expired exports (the rows stay, answering 410); how many were deleted."""
    deleted = 0
    expired = Export.objects.filter(expires_at__lte=timezone.now()).exclude(file="", tables={})
    for export in expired:
        _delete_files(export)
        Export.objects.filter(pk=export.pk).update(file="", tables={})
        deleted += 1
    return deleted
