"""Celery tasks of the datasets app."""

from celery import shared_task

from .services import export_run, exports_expire


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_dataset_task(export_id: int) -> str | None:
    """Acknowledged only when done: a killed worker's task is redelivered, and `export_run`
    starts the export again from scratch."""
    export = export_run(export_id)
    return export.status if export is not None else None


@shared_task
def expire_exports_task() -> int:
    """Delete the files of expired exports; schedule it (Celery beat or cron) e.g. hourly."""
    return exports_expire()
