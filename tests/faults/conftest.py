"""Fixtures of the fault tests: the services each test starts and tears down itself."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .services import PG_BIN, Cluster, Daemon, mosquitto_daemon, redis_daemon


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    found = Cluster()
    found.start()
    try:
        yield found
    finally:
        found.remove()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Logs, media, export work files and the spool of the app's processes."""
    return tmp_path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Daemon]:
    daemon = redis_daemon(tmp_path)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Daemon]:
    daemon = mosquitto_daemon(tmp_path)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
