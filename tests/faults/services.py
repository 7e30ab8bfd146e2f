"""The services a fault test starts for itself, never the shared ones: a PostgreSQL cluster on
its own port (restarted, stopped), a Redis and a Mosquitto of its own, and the app's processes
(gunicorn, a Celery worker, run_connectors) run against them with production settings."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from tests.deployment import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def wait_port(
    port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 60, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            alive = process is None or process.poll() is None
            if not alive or time.monotonic() > deadline:
                raise AssertionError(f"port {port} not listening; {log.read_text() if log else ''}") from None
            time.sleep(0.1)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Cluster:
    """A PostgreSQL 15 cluster in a temporary directory, trust authentication, fsync off."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: its parents are closed to the postgres user.
        self.directory = Path(tempfile.mkdtemp(prefix="celltrace-fault-postgresql-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self.port = free_port()
        init = [str(PG_BIN / "initdb"), "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres"]
        subprocess.run(_as_postgres(init), check=True, capture_output=True, timeout=120)  # noqa: S603

    def pg_ctl(self, *args: str) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-w", *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=60)  # noqa: S603

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", options, "-l", str(self.directory / "log"), "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """A fast restart: open connections are cut, transactions in flight rolled back."""
        self.pg_ctl("-m", "fast", "restart")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # stopped already
        shutil.rmtree(self.directory, ignore_errors=True)

    def copy_of_the_test_database(self, name: str = "ct_faults") -> str:
        """A database on this cluster with the test database's schema and rows; its URL."""
        s = connection.settings_dict
        dump = subprocess.run(  # noqa: S603
            [
                "pg_dump",
                "--no-owner",
                "--no-privileges",
                "-h",
                s["HOST"],
                "-p",
                str(s["PORT"]),
                "-U",
                s["USER"],
                s["NAME"],
            ],  # noqa: S607
            check=True,
            capture_output=True,
            timeout=120,
            env=os.environ | ({"PGPASSWORD": s["PASSWORD"]} if s["PASSWORD"] else {}),
        ).stdout
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        subprocess.run(  # noqa: S603
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", self.url(name)],  # noqa: S607
            input=dump,
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self.url(name)


class Daemon:
    """redis-server or mosquitto on a port of its own, stopped and started again on that port."""

    def __init__(self, command: Callable[[int], list[str]], log: Path) -> None:
        self.command, self.log, self.port = command, log, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command(self.port), stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        wait_port(self.port, self.process, 20, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


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


def redis_daemon(tmp: Path) -> Daemon:
    return Daemon(
        lambda port: ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], tmp / "redis.log"
    )


def mosquitto_daemon(tmp: Path) -> Daemon:
    def command(port: int) -> list[str]:
        conf = tmp / "mosquitto.conf"
        # In memory only (persistence off): it keeps sessions as long as it runs.
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        # No cap on a session's queue: what waits for a killed client is all kept.
        lines += ["max_inflight_messages 0", "max_queued_messages 0"]
        conf.write_text("\n".join(lines) + "\n")
        return ["mosquitto", "-c", str(conf)]

    return Daemon(command, tmp / "mosquitto.log")


def app_database_url() -> str:
    """The test database as a URL, for the processes a fault test starts."""
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}/{db['NAME']}"


def app_env(database_url: str, work: Path, **extra: str) -> dict[str, str]:
    """The environment of the app's processes: production settings (DEBUG off, persistent
    database connections), on the given database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELLTRACE_", "GUNICORN_", "CELERY_"))}
    return (
        env
        | {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "fault-test-only-not-secret",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database_url,
            "DJANGO_MEDIA_ROOT": str(work / "media"),
            "CELLTRACE_EXPORT_WORK_DIR": str(work / "exports"),
            "CELLTRACE_CONNECTOR_SPOOL_DIR": str(work / "spool"),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "GUNICORN_WORKERS": "2",
        }
        | extra
    )


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def gunicorn(env: dict[str, str], work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "config/gunicorn.py",
        "--bind",
        f"127.0.0.1:{port}",
        "config.wsgi",
    ]
    log = work / "gunicorn.log"
    process = start(command, env, log)
    wait_port(port, process, 60, log)
    return process, f"http://127.0.0.1:{port}"


def celery_worker(env: dict[str, str], work: Path, name: str = "fault") -> subprocess.Popen[bytes]:
    celery = str(Path(sys.executable).with_name("celery"))
    args = ["-A", "config", "worker", "--pool=solo", "--concurrency=1", "-l", "info", "--without-mingle"]
    return start([celery, *args, "--without-gossip", "-n", f"{name}@%h"], env, work / f"worker-{name}.log")


def run_connectors(env: dict[str, str], work: Path, processes: int = 1) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "run_connectors", "--processes", str(processes)]
    return start(command, env, work / "connectors.log")


def count(url: str, sql: str) -> int:
    """The first column of the first row, or -1 while the database cannot be reached."""
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1


def logs(work: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in sorted(work.glob("*.log")))
