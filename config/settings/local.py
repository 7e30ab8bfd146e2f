"""Zero-setup development: SQLite file, in-process Celery, debug on, a local-only secret, plant in Berlin."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-only-not-secret-celltrace")
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# The demo line is in Germany (+01:00, +02:00 in summer).
os.environ.setdefault("CELLTRACE_TIME_ZONE", "Europe/Berlin")

from .base import *  # noqa: E402,F403
