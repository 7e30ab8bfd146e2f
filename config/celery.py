"""Celery app; tasks run in-process when CELERY_TASK_ALWAYS_EAGER is set (make run)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("celltrace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
