"""Settings shared by every environment; values come from the environment.

Defaults here are the safe production ones (DEBUG off, no hosts); `local` and `test` relax them.
"""

import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext

from .env import env_bool, env_int, env_list, env_str, env_time_zone

# Lets admin.ModelAdmin[Item] and friends be subscripted at run time, as the type stubs want.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    # Swagger UI and ReDoc files served from here: /api/docs/ works without internet access.
    "drf_spectacular_sidecar",
    "core",
    "audit",
    "lots",
    "traceability",
    "measurements",
    "datasets",
    "connectors",
    "labfiles",
    "interop",
    "api",
    "web",
    # Last: the demo builds on every domain app, none of them imports it.
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from gunicorn, DEBUG on or off: no separate file server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.BodySizeLimitMiddleware",
    # Before the NUL check, which reads urlencoded forms: a truncated form is refused too.
    "api.middleware.TruncatedBodyMiddleware",
    "api.middleware.NulCharacterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.access.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Genealogy and roll-map queries are short but look costly to the planner (recursive CTEs
    # over unknown sizes); JIT compiling them took ~1 s per query, running them ~0.1 s.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The plant's zone: pages show times in it, with the zone's name (web/templatetags/local_time.py);
# the API answers with its offset. The database keeps UTC (USE_TZ).
TIME_ZONE = env_time_zone("CELLTRACE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"
# Plain storage for development and tests; production serves hashed, compressed copies.
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# A request body larger than this is refused (413) before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CELLTRACE_MAX_BODY_BYTES", 10 * 1024 * 1024)
# POST /api/measurements/bulk/ streams its CSV body instead of holding it: a limit of its own.
CELLTRACE_MAX_BULK_BYTES = env_int("CELLTRACE_MAX_BULK_BYTES", 2 * 1024 * 1024 * 1024)
# A JSON array is parsed whole, so it has a lower limit than streamed CSV.
CELLTRACE_MAX_BULK_JSON_BYTES = env_int("CELLTRACE_MAX_BULK_JSON_BYTES", 100 * 1024 * 1024)
# Files attached to measurements (images, reports, cycler files).
CELLTRACE_MAX_FILE_BYTES = env_int("CELLTRACE_MAX_FILE_BYTES", 50 * 1024 * 1024)
# Zip-based files (xlsx, Neware .ndax) are refused when they would unzip to more than this,
# or (above 1 MiB) to more than this many times their compressed size: zip bombs.
CELLTRACE_MAX_UNZIPPED_BYTES = env_int("CELLTRACE_MAX_UNZIPPED_BYTES", 1024 * 1024 * 1024)
CELLTRACE_MAX_UNZIP_RATIO = env_int("CELLTRACE_MAX_UNZIP_RATIO", 200)
# Lab files (POST /api/imports/): read whole, so smaller than other files; a check lists at most
# this many errors, then stops reading.
CELLTRACE_MAX_LAB_FILE_BYTES = env_int("CELLTRACE_MAX_LAB_FILE_BYTES", 20 * 1024 * 1024)
CELLTRACE_LAB_MAX_ERRORS = env_int("CELLTRACE_LAB_MAX_ERRORS", 10_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasRole"],
    # JSON with NUL characters or nested too deep is a 400 naming the field (api.parsers).
    # JSON only: a form body would be read as an empty object and take every default. The views
    # that take files (measurements) name their multipart parser themselves.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.CheckedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorByIdPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CellTrace API",
    "DESCRIPTION": "Traceability and lab data for lithium-ion battery pilot lines.",
    "VERSION": "0.1.0",
    "SERVE_PERMISSIONS": ["api.permissions.HasRole"],
    # The four criticality fields share one choice set: one name for it in the schema.
    "ENUM_NAME_OVERRIDES": {
        "CriticalityEnum": "measurements.models.Criticality",
        "ItemStatusEnum": "lots.models.ItemStatus",
    },
    # The docs page loads its scripts from our static files, not from a CDN (plants are offline).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# Redis redelivers a task that was not acknowledged (a killed worker's) after this many seconds
# (an idle worker looks every 100 s, a starting one at once). A task still running then is
# delivered a second time: the export task takes a per-export lock, so the copy waits, retrying.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300)}
# A worker holds only the task it runs (prefetched ones would be redelivered meanwhile); a task
# whose worker process died, or lost the broker, is given back rather than acknowledged.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Celery beat (`celery -A config beat`) deletes the files of expired exports every hour.
CELERY_BEAT_SCHEDULE = {
    "expire-exports": {"task": "datasets.tasks.expire_exports_task", "schedule": 3600.0},
    # Exports requested while Redis was away are recorded queued, unsent: sent once it is back.
    "requeue-exports": {"task": "datasets.tasks.requeue_exports_task", "schedule": 60.0},
}
# Exported dataset files are deleted this many hours after the export finished.
CELLTRACE_EXPORT_TTL_HOURS = env_int("CELLTRACE_EXPORT_TTL_HOURS", 72)
# Where exports are written before they are stored (a directory per export, cleared on retry).
CELLTRACE_EXPORT_WORK_DIR = Path(
    env_str("CELLTRACE_EXPORT_WORK_DIR", str(Path(tempfile.gettempdir()) / "celltrace-exports"))
)
# PostgreSQL work_mem for the export's queries: millions of (cell, value) pairs hash in memory.
CELLTRACE_EXPORT_WORK_MEM = env_str("CELLTRACE_EXPORT_WORK_MEM", "512MB")

# GS1 Digital Link: labels encode https://<resolver>/01/<GTIN>/10|21/<code>.
CELLTRACE_RESOLVER = env_str("CELLTRACE_RESOLVER", "id.celltrace.example")
CELLTRACE_GS1_COMPANY_PREFIX = env_str("CELLTRACE_GS1_COMPANY_PREFIX", "0614141")

# The site's postal address: the battery passport's manufacturingPlace (null until all three are set).
CELLTRACE_SITE_COUNTRY = env_str("CELLTRACE_SITE_COUNTRY", "")
CELLTRACE_SITE_POSTAL_CODE = env_str("CELLTRACE_SITE_POSTAL_CODE", "")
CELLTRACE_SITE_STREET = env_str("CELLTRACE_SITE_STREET", "")

# run_connectors: batches that cannot reach PostgreSQL wait here, on local disk, up to this many
# bytes in all (docs/connectors.md says what happens when it is full).
CELLTRACE_CONNECTOR_SPOOL_DIR = Path(
    env_str("CELLTRACE_CONNECTOR_SPOOL_DIR", str(BASE_DIR / "var" / "connector-spool"))
)
CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES = env_int("CELLTRACE_CONNECTOR_SPOOL_MAX_BYTES", 1024 * 1024 * 1024)
# The most values in one stored batch (two batches are stored at once on PostgreSQL).
CELLTRACE_CONNECTOR_FLUSH_ROWS = env_int("CELLTRACE_CONNECTOR_FLUSH_ROWS", 10_000)

# A value outside a "hold" specification limit holds its item's stretch of +- this many metres.
LIMIT_HOLD_WINDOW_M = float(env_str("CELLTRACE_LIMIT_HOLD_WINDOW_M", "0.5"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}

# --- Streaming replica and shared storage (docs/scale.md) -------------------------------------
# DATABASE_REPLICA_URL: a hot standby of DATABASE_URL (pg_basebackup -R). Genealogy reads and
# export builds go there (core.routing); writes, and a client's reads for a few seconds after it
# wrote, go to the primary.
CELLTRACE_READ_REPLICA: str | None = None
if env_str("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = dj_database_url.parse(
        env_str("DATABASE_REPLICA_URL"), conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60)
    )
    DATABASES["replica"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    CELLTRACE_READ_REPLICA = "replica"
DATABASE_ROUTERS = ["core.routing.ReplicaRouter"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"), "core.routing.ReadYourWritesMiddleware"
)
CELLTRACE_READ_YOUR_WRITES_SECONDS = env_int("CELLTRACE_READ_YOUR_WRITES_SECONDS", 10)
# An export waits this long for the replica to replay what was committed before it started,
# then builds on the primary.
CELLTRACE_REPLICA_WAIT_SECONDS = float(env_str("CELLTRACE_REPLICA_WAIT_SECONDS", "5"))
# The pins of read-your-writes live in this cache: shared (redis://...) when several app
# processes serve one plant, else each process's memory.
if env_str("CELLTRACE_CACHE_URL", ""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("CELLTRACE_CACHE_URL"),
        }
    }
# Export files: on a storage every Celery worker and app server reaches. The file system under
# MEDIA_ROOT by default (a shared mount when workers run on several hosts); an S3-compatible
# bucket with CELLTRACE_EXPORT_STORAGE=s3 (needs django-storages[s3], not a requirement).
STORAGES["exports"] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if env_str("CELLTRACE_EXPORT_STORAGE", "filesystem") == "s3":
    STORAGES["exports"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("CELLTRACE_EXPORT_BUCKET"),
            "endpoint_url": env_str("CELLTRACE_EXPORT_S3_ENDPOINT", "") or None,
            "region_name": env_str("CELLTRACE_EXPORT_S3_REGION", "") or None,
            # Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment (boto3).
            "file_overwrite": False,
        },
    }
elif env_str("CELLTRACE_EXPORT_STORAGE", "filesystem") != "filesystem":
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CELLTRACE_EXPORT_STORAGE must be filesystem or s3.")
