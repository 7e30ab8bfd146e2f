"""Delete the files of expired exports: for cron where no Celery beat runs (beat runs it hourly)."""

from typing import Any

from django.core.management.base import BaseCommand

from datasets.runs import exports_expire


class Command(BaseCommand):
    help = "Delete the files of exports past their expiry time (CELLTRACE_EXPORT_TTL_HOURS)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Deleted the files of {exports_expire()} expired exports.")
