"""Celery tasks of the datasets app."""

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from .runs import ExportRunning, export_run, exports_expire
from .services import exports_requeue

log = logging.getLogger(__name__)


def retry_countdown() -> int:
    """Seconds before a second delivery of a running export looks again: a third of the
    visibility timeout, so that the retry itself is not redelivered while it waits."""
    return max(1, settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] // 3)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def export_dataset_task(self: Any, export_id: int) -> str | None:
    """Acknowledged only when done: a killed worker's task is redelivered, and `export_run`
    starts the export again from scratch. A delivery of an export still being built elsewhere
    (it ran past the visibility timeout) builds nothing and looks again later."""
    try:
        export = export_run(export_id)
    except ExportRunning:
        countdown = retry_countdown()
        log.warning("export %s is being built by another worker: looking again in %s s", export_id, countdown)
        raise self.retry(countdown=countdown) from None
    return export.status if export is not None else None


@shared_task
def expire_exports_task() -> int:
    """Delete the files of expired exports; schedule it (Celery beat or cron) e.g. hourly."""
    return exports_expire()


@shared_task
def requeue_exports_task() -> int:
    """Send the tasks of exports requested while the broker was away; beat runs it each minute."""
    return exports_requeue()
