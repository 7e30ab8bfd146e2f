"""Fixtures of the fault tests: the services each test starts and tears down itself."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .services import Daemon, cluster, mosquitto_daemon, redis_daemon  # noqa: F401  (cluster: a fixture)


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
