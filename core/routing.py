"""Reads that may go to a streaming replica, and read-your-writes for the client that just wrote.

With `DATABASE_REPLICA_URL` set, the database alias `replica` is a hot standby of `default`.
Only code that declares itself replica-safe reads there: a selector decorated `@replica_safe`, or
a block under `replica_reads()` (the export's build). Everything else, every write, and every
read inside a transaction on `default` go to `default`. A request that writes, and the same
client's requests for `CELLTRACE_READ_YOUR_WRITES_SECONDS` after it, are pinned to `default`:
a standby replays the primary's WAL a little behind it.
"""

import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

P = ParamSpec("P")
R = TypeVar("R")

# Inside a replica-safe selector or block.
_replica_ok: ContextVar[bool] = ContextVar("celltrace_replica_ok", default=False)
# The request wrote, or its client wrote a moment ago: every read on the primary.
_pinned: ContextVar[bool] = ContextVar("celltrace_pinned", default=False)

PIN_COOKIE = "celltrace_primary_until"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def replica_alias() -> str | None:
    """The replica's alias when one is configured, else None."""
    alias: str | None = getattr(settings, "CELLTRACE_READ_REPLICA", None)
    return alias if alias and alias in settings.DATABASES else None


def read_alias() -> str:
    """Where a read issued now goes."""
    alias = replica_alias()
    if alias is None or not _replica_ok.get() or _pinned.get():
        return DEFAULT_DB_ALIAS
    # A read inside a write transaction must see what that transaction wrote.
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return alias


def reads_replica() -> bool:
    return read_alias() != DEFAULT_DB_ALIAS


@contextmanager
def replica_reads() -> Iterator[str]:
    """Reads in the block may go to the replica; yields the alias they go to."""
    token = _replica_ok.set(True)
    try:
        yield read_alias()
    finally:
        _replica_ok.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Every read in the block on the primary, replica-safe or not."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


def replica_safe(function: Callable[P, R]) -> Callable[P, R]:
    """Declares a read replica-safe: its queries, raw or ORM, may go to the replica. A QuerySet it
    returns is bound to the alias chosen now, as it is evaluated after the call returns."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with replica_reads() as alias:
            result = function(*args, **kwargs)
        if isinstance(result, QuerySet) and result.db != alias:
            return result.using(alias)  # type: ignore[return-value]
        return result

    return wrapper


class _RoutedConnection:
    """`django.db.connection` for replica-safe code: the connection `read_alias()` names, looked
    up at each use (one attribute, one cursor)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(connections[read_alias()], name)


# Import it as `connection` in selectors whose raw SQL may go to the replica.
routed_connection: BaseDatabaseWrapper = _RoutedConnection()  # type: ignore[assignment]


def replica_caught_up(*, wait_s: float) -> bool:
    """Whether the replica has replayed everything committed on the primary until now, waiting
    up to `wait_s` for it. A replica that is not in recovery (a mirror, a promoted standby)
    is the primary's equal."""
    alias = replica_alias()
    if alias is None or connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return False
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = cursor.fetchone()[0]
    deadline = time.monotonic() + wait_s
    while True:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= CAST(%s AS pg_lsn)", [lsn])
            if cursor.fetchone()[0]:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class ReplicaRouter:
    """Replica-safe reads to the replica (`read_alias`), everything else to `default`."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # the standby replays the primary's schema


def _client_key(request: HttpRequest) -> str | None:
    """Who is asking: the API token, else the session; None for an anonymous client."""
    credential = request.META.get("HTTP_AUTHORIZATION") or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not credential:
        return None
    return "celltrace:rw:" + hashlib.sha256(credential.encode()).hexdigest()[:32]


def _pinned_now(request: HttpRequest, key: str | None) -> bool:
    if request.method not in _SAFE_METHODS:
        return True
    try:
        if float(request.COOKIES.get(PIN_COOKIE, "0")) > time.time():
            return True
    except ValueError:
        pass  # a cookie we did not write: ignored
    return key is not None and cache.get(key) is not None


class ReadYourWritesMiddleware:
    """Pins a writing request, and its client's next requests for a few seconds, to the primary:
    by a cookie (browsers) and a cache key per token or session (API clients keep no cookies).
    With several app processes the cache must be shared (CELLTRACE_CACHE_URL)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if replica_alias() is None:
            return self.get_response(request)
        key = _client_key(request)
        token = _pinned.set(_pinned_now(request, key))
        try:
            response = self.get_response(request)
        finally:
            _pinned.reset(token)
        if request.method not in _SAFE_METHODS:
            window = settings.CELLTRACE_READ_YOUR_WRITES_SECONDS
            if key is not None:
                cache.set(key, 1, timeout=window)
            until = f"{time.time() + window:.3f}"
            response.set_cookie(PIN_COOKIE, until, max_age=window, httponly=True, samesite="Lax")
        return response
