"""The deployed app's database connections are pooled, and Django's deployment check is clean
with the production settings (issue 14)."""

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from tests.deployment import ROOT, Deployment, free_port

pytestmark = [pytest.mark.postgresql_only]


def test_check_deploy_with_the_production_settings_reports_nothing(deployment: Deployment) -> None:
    # As deployed behind TLS: the test fixture's SSL redirect switch (no TLS here) dropped.
    env = {k: v for k, v in deployment.env.items() if k != "DJANGO_SECURE_SSL_REDIRECT"}
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)  # as docs/deployment.md says to make one
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


def _server_connections(database_url: str) -> int:
    parts = urlsplit(database_url)
    with psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username, dbname="postgres") as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [parts.path.lstrip("/")],
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def threaded_server(deployment: Deployment) -> Iterator[str]:
    """The deployment's app again, 12 threads in one worker over a pool of at most 3: without the
    pool each thread would keep a connection of its own."""
    env = deployment.env | {
        "GUNICORN_THREADS": "12",
        "DATABASE_POOL_MAX_SIZE": "3",
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_CONN_MAX_AGE": "60",
    }
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "config.wsgi"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_burst_of_clients_shares_a_bounded_pool_of_connections(deployment: Deployment, threaded_server: str) -> None:
    _password, token = deployment.users["demo-operator"]
    headers = {"Authorization": f"Token {token}"}
    before = _server_connections(deployment.env["DATABASE_URL"])

    def fetch(_: int) -> int:
        # A client of its own each (no shared keep-alive): 40 stations at once.
        return requests.get(f"{threaded_server}/api/items/?page_size=5", headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(fetch, range(200)))
    assert statuses == [200] * 200
    # 12 threads busy at once, never more than the pool's 3 connections of this server.
    assert 1 <= _server_connections(deployment.env["DATABASE_URL"]) - before <= 3
