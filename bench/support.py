"""What the benchmark scripts in bench/ share: logging, the bench database, and runserver (what the
connector benchmarks alone share is in connectors_support.py).

The scripts run as `.venv/bin/python bench/<script>.py`, so bench/ is sys.path[0] and they
import this module as `support`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# The columns a bench's COPY of online values into measurements_measurement writes, in order.
MEASUREMENT_COPY_COLUMNS = (
    "parameter_id, item_id, position_m, measured_at, source, instrument, method, value, sent_value, "
    "sent_unit, room, file, file_sha256, out_of_range, correction_reason, created_at"
)


def log(message: str, *, end: str = "\n") -> None:
    sys.stderr.write(message + end)
    sys.stderr.flush()


def django_environment(database_url: str) -> dict[str, str]:
    """Point Django (test settings, warnings only) at the bench database and the project at
    ROOT, the working directory; the environment for the servers a script starts."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    return dict(os.environ)


# --- database ------------------------------------------------------------------------------------


def dsn(url: str) -> str:
    """The libpq/psycopg form of a DATABASE_URL (postgres:// and pgsql:// become postgresql://)."""
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme in {"postgres", "postgresql", "pgsql"} else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def _admin_dsn(url: str) -> tuple[str, str]:
    """(DSN of the `postgres` maintenance database on the same server, name of the bench db)."""
    parts = urlsplit(dsn(url))
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def _bench_admin_dsn(url: str) -> tuple[str, str]:
    """_admin_dsn, refused unless the database's name contains "bench" (the bench drops it)."""
    admin, name = _admin_dsn(url)
    if "bench" not in name:
        raise SystemExit(f"Refusing to drop database {name!r}: its name must contain 'bench'.")
    return admin, name


def database_recreate(url: str) -> None:
    """Drop and create the database of `url`; refuses unless its name contains "bench"."""
    import psycopg
    from psycopg import sql

    admin, name = _bench_admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- runserver -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `manage.py runserver`, with Nagle's algorithm off on the accepted sockets when `nodelay`.
# wsgiref (under runserver) sends the status line and headers in one send() and the body in
# another; with Nagle on, the body waits for the client's delayed ACK of the headers (~40 ms on
# Linux) on every keep-alive response. Production WSGI servers do not pay this; the stock
# figure is measured too, for the record.
_LAUNCHER = """
import socketserver, sys
socketserver.StreamRequestHandler.disable_nagle_algorithm = {nodelay}
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "runserver", "127.0.0.1:{port}", "--noreload"])
"""


class Server:
    """`manage.py runserver --noreload` in a subprocess, with the benchmark's environment.

    Started, not waited for: call wait() before the first request. Without `nodelay` it is the
    stock command line; with it, the launcher above.
    """

    def __init__(self, env: dict[str, str], *, nodelay: bool = False) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="celltrace-bench-runserver-", suffix=".log", delete=False)
        if nodelay:
            command = [sys.executable, "-c", _LAUNCHER.format(nodelay=True, port=self.port)]
        else:
            command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 120.0) -> bool:
        """True once the port accepts connections; False if the server died or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.2)
        return False

    def memory_kib(self) -> dict[str, int]:
        """The server process's current (VmRSS) and peak (VmHWM) resident memory, in KiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}

    def stop(self) -> None:
        """Stop the server; its log is deleted unless it had died by itself."""
        crashed = self.proc.poll() is not None
        if not crashed:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if not crashed:
            Path(self.log.name).unlink(missing_ok=True)


def database_drop(url: str) -> None:
    """Drop the database of `url` (a bench database: the name must contain "bench")."""
    import psycopg
    from psycopg import sql

    admin, name = _bench_admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def load() -> str:
    """The machine's load averages (1, 5, 15 min), as `uptime` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
