"""Export status: the transition map and its one writer, Export.status_set."""

import pytest

from datasets.models import EXPORT_TRANSITIONS, Export, ExportStatus, ExportTransitionRefused

pytestmark = pytest.mark.django_db


def _export(user, status: str) -> Export:
    export = Export.objects.create(created_by=user, granularity="cell", format="csv", request_sha256="0" * 64)
    Export.objects.filter(pk=export.pk).update(status=status)
    export.refresh_from_db()
    return export


def test_every_export_status_has_its_transitions():
    assert set(EXPORT_TRANSITIONS) == set(ExportStatus.values)
    assert EXPORT_TRANSITIONS[ExportStatus.DONE] == EXPORT_TRANSITIONS[ExportStatus.FAILED] == frozenset()


@pytest.mark.parametrize(
    ("status", "new_status"),
    [
        (ExportStatus.QUEUED, ExportStatus.RUNNING),
        (ExportStatus.QUEUED, ExportStatus.FAILED),
        (ExportStatus.RUNNING, ExportStatus.RUNNING),
        (ExportStatus.RUNNING, ExportStatus.DONE),
        (ExportStatus.RUNNING, ExportStatus.FAILED),
    ],
)
def test_allowed_transitions_save_the_status_and_the_fields(engineer, status, new_status):
    export = _export(engineer, status)
    export.progress = 0.5
    export.error = "not saved"
    export.status_set(new_status, fields=["progress"])
    stored = Export.objects.get(pk=export.pk)
    assert (stored.status, stored.progress, stored.error) == (new_status, 0.5, "")


@pytest.mark.parametrize(
    ("status", "new_status"),
    [
        (ExportStatus.QUEUED, ExportStatus.DONE),
        (ExportStatus.DONE, ExportStatus.RUNNING),
        (ExportStatus.DONE, ExportStatus.FAILED),
        (ExportStatus.FAILED, ExportStatus.RUNNING),
        (ExportStatus.FAILED, ExportStatus.DONE),
    ],
)
def test_forbidden_transitions_are_refused_and_nothing_is_saved(engineer, status, new_status):
    export = _export(engineer, status)
    export.progress = 0.5
    with pytest.raises(ExportTransitionRefused, match=f"is {status}; it cannot become {new_status}"):
        export.status_set(new_status, fields=["progress"])
    stored = Export.objects.get(pk=export.pk)
    assert (stored.status, stored.progress) == (status, 0.0)
    assert export.status == status
