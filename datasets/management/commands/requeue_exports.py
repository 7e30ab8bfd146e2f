"""Send the tasks of exports requested while the broker was away (beat runs it each minute)."""

from typing import Any

from django.core.management.base import BaseCommand

from datasets.services import exports_requeue


class Command(BaseCommand):
    help = "Send the Celery tasks of queued exports that were recorded while the broker was unavailable."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Sent the tasks of {exports_requeue()} queued exports.")
