"""The app as it is deployed, for the tests of deployment: production settings, DEBUG off,
`collectstatic` into a temporary STATIC_ROOT, gunicorn started with config/gunicorn.py, on a
PostgreSQL database of its own holding the demo line (migrate, load_catalog, load_demo,
create_demo_users), dropped afterwards. One per test session (tests/web/conftest.py), as
migrating a database takes a while."""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    static_root: Path
    log: Path
    # name -> (password, token), from create_demo_users
    users: dict[str, tuple[str, str]] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def manage(env: dict[str, str], *args: str) -> str:
    """`manage.py args` run to its end; its standard output."""
    return _manage_finished(_manage_started(env, *args))


def _manage_started(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _manage_finished(process: subprocess.Popen[str]) -> str:
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()  # as subprocess.run does
        process.wait()
        raise
    assert process.returncode == 0, f"{process.args!r}:\n{stdout}\n{stderr}"
    return stdout


def _admin_connection(db: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
        dbname="postgres", autocommit=True,
    )  # fmt: skip


def _env(database_url: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELLTRACE_", "GUNICORN_"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "deployment-test-only-not-secret",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # No TLS in front of it here; production redirects http to https.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "CELLTRACE_EXPORT_WORK_DIR": str(work / "exports"),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "CELLTRACE_TIME_ZONE": "Europe/Berlin",
        "GUNICORN_WORKERS": "1",
        "DJANGO_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    db = django_settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the deployment runs on PostgreSQL")
    work = tmp_path_factory.mktemp("deployment")
    name = f"ct_deploy_{uuid.uuid4().hex[:10]}"
    auth = f"{db['USER']}:{db['PASSWORD']}" if db["PASSWORD"] else db["USER"]
    env = _env(f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{name}", work)
    with _admin_connection(db) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    process = None
    # collectstatic reads no database: it runs while the database is migrated and loaded.
    collecting = _manage_started(env, "collectstatic", "--noinput", "-v0")
    try:
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "load_catalog")
        manage(env, "load_demo")
        printed = manage(env, "create_demo_users")
        _manage_finished(collecting)
        credentials = re.finditer(r"user (\S+)\s+password (\S+)\s+token (\S+)", printed)
        users = {match[1]: (match[2], match[3]) for match in credentials}
        port = free_port()
        log = work / "gunicorn.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}"]
                + ["config.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield Deployment(f"http://127.0.0.1:{port}", env, work / "static", log, users)
    finally:
        if collecting.poll() is None:
            collecting.kill()
            collecting.wait()
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        with _admin_connection(db) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
