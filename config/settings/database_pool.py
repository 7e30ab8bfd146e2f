"""PostgreSQL connection pool (psycopg_pool through Django's `OPTIONS["pool"]`).

Each gunicorn worker process keeps one pool; a request borrows a connection at its first query
and gives it back when it ends. So a server holds at most workers x DATABASE_POOL_MAX_SIZE
connections however many stations are connected, where one connection per thread kept for
CONN_MAX_AGE seconds used up PostgreSQL's max_connections under many clients.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int


def use_pool(database: Any, *, default: bool) -> None:
    """Switch `database` to a pool when DATABASE_POOL (else `default`) says so, on PostgreSQL."""
    if database["ENGINE"] != "django.db.backends.postgresql" or not env_bool("DATABASE_POOL", default):
        return
    max_size = env_int("DATABASE_POOL_MAX_SIZE", 4)
    if max_size < 1:
        raise ImproperlyConfigured(f"DATABASE_POOL_MAX_SIZE={max_size} must be at least 1.")
    # A pooled connection is returned at the end of the request, never kept: Django refuses both.
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env_int("DATABASE_POOL_MIN_SIZE", 2), max_size),
        "max_size": max_size,
        # A request that waits longer than this for a free connection fails (500) rather than
        # queueing without bound.
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
        # Idle connections above min_size are closed after this many seconds.
        "max_idle": env_int("DATABASE_POOL_MAX_IDLE", 300),
    }
