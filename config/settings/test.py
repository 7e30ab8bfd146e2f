"""The suite runs against the real PostgreSQL unless DATABASE_URL says otherwise."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret-celltrace")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/celltrace")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
# Export ids repeat in every test database: two runs on one machine must not share work files.
# Set in the environment, so the worker processes the tests start use the same directory.
os.environ.setdefault("CELLTRACE_EXPORT_WORK_DIR", tempfile.mkdtemp(prefix="celltrace-exports-"))
# run_connectors' spool, likewise: two runs must not replay each other's batches.
os.environ.setdefault("CELLTRACE_CONNECTOR_SPOOL_DIR", tempfile.mkdtemp(prefix="celltrace-spool-"))

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # Flushes between transactional tests TRUNCATE the record tables, which refuse it.
    DATABASES["default"]["ENGINE"] = "tests.postgresql_flush"  # noqa: F405

# No collectstatic before tests: WhiteNoise finds the apps' files itself, as under DEBUG.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The routing tests read through a `replica` alias that is the test database itself (routing
# stays off unless a test sets CELLTRACE_READ_REPLICA); tests/core/test_replica.py uses a real one.
if "replica" not in DATABASES:  # noqa: F405
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
