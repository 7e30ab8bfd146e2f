"""A second delivery of an export task while the first run still builds it (Redis redelivers a
task that runs past the visibility timeout) builds nothing and leaves the running one alone."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from datasets.models import Export, ExportStatus
from datasets.runs import _LOCK_CLASS, ExportRunning, export_run, work_directory
from datasets.services import export_request
from tests.factories import build_line

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELLTRACE_EXPORT_WORK_DIR = tmp_path / "work"


@pytest.fixture
def other_run() -> Any:
    """Another worker's database session, which takes an export's lock as its run would."""
    side = connections.create_connection(DEFAULT_DB_ALIAS)

    def hold(export_id: int) -> None:
        with side.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, export_id])

    yield hold
    side.close()  # as a killed worker's connection ends: the lock is freed


def test_a_second_delivery_of_a_running_export_touches_nothing(engineer: User, stations: Any, other_run: Any) -> None:
    build_line(engineer)
    export = export_request(actor=engineer, granularity="cell", format="csv")
    started = timezone.now()
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, started_at=started)
    directory = work_directory(export.pk)
    directory.mkdir(parents=True)
    (directory / f"export-{export.pk}.csv.part").write_text("code\n")  # the running one's half file
    other_run(export.pk)

    with pytest.raises(ExportRunning):
        export_run(export.pk)
    export.refresh_from_db()
    assert (export.status, export.started_at, export.progress) == (ExportStatus.RUNNING, started, 0.0)
    assert (directory / f"export-{export.pk}.csv.part").read_text() == "code\n"  # not cleared


def test_a_run_gone_frees_the_export_and_a_done_one_is_answered_even_while_locked(
    engineer: User, stations: Any, other_run: Any
) -> None:
    build_line(engineer)
    export = export_request(actor=engineer, granularity="cell", format="csv")
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, started_at=timezone.now())
    # Nobody holds the lock (the first run's worker died): built from scratch.
    built = export_run(export.pk)
    assert built is not None and (built.status, built.rows) == (ExportStatus.DONE, 4)
    # A late copy of the task while something holds the lock: the done export, untouched.
    other_run(export.pk)
    again = export_run(export.pk)
    assert again is not None and (again.status, again.finished_at) == (ExportStatus.DONE, built.finished_at)
