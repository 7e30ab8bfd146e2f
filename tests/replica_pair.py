"""A real primary and streaming standby for the tests that need one: `initdb` a primary on a
private port (wal_level=replica), `pg_basebackup -R` a standby from it on another, both logging
every statement to their own file, so a test can tell which server ran a query. A database on
the primary is migrated and seeded with the factory line by `manage.py` in a subprocess: the
pytest-django test databases know nothing of this pair."""

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "ct_replica_pair"

# Run by `manage.py shell`: the line of tests.factories, an engineer and an operator with tokens.
_SEED = """
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from tests.factories import build_line
from traceability.services import station_create
users = {}
for name, role in (("emil-engineer", "engineer"), ("olga-operator", "operator")):
    user = User.objects.create_user(username=name)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    users[role] = user
layout = {"MIX-01": ["mixing"], "COAT-01": ["coating", "drying"], "CAL-01": ["calendering"],
          "SLT-01": ["slitting"], "CUT-01": ["cutting"], "STK-01": ["stacking", "tab_welding", "packaging"],
          "FORM-01": ["electrolyte_filling", "formation", "eol_test"]}
for code, steps in layout.items():
    station_create(actor=users["engineer"], code=code, name=code, steps=steps, room="dry-room-1")
line = build_line(users["engineer"])
print("TOKENS", Token.objects.create(user=users["engineer"]).key, Token.objects.create(user=users["operator"]).key)
print("CELL", line.cells[0].code)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


@dataclass
class Pair:
    base: Path
    primary_port: int
    standby_port: int
    engineer_token: str = ""
    operator_token: str = ""
    cell: str = ""

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    def log(self, which: str) -> str:
        return (self.base / f"{which}.log").read_text(errors="replace")

    def sql(self, port: int, query: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", DATABASE, "-Atc", query],
            capture_output=True,
            text=True,
        )

    def wait_replayed(self, timeout: float = 20) -> None:
        """Until the standby has replayed what the primary wrote so far."""
        lsn = self.sql(self.primary_port, "SELECT pg_current_wal_lsn()").stdout.strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sql(self.standby_port, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'").stdout.strip() == "t":
                return
            time.sleep(0.1)
        raise AssertionError("the standby did not catch up")

    def env(self) -> dict[str, str]:
        return os.environ | {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": self.primary_url,
            "DATABASE_REPLICA_URL": self.standby_url,
        }

    def stop(self) -> None:
        for name in ("standby", "primary"):
            subprocess.run(_as_postgres([str(BIN / "pg_ctl"), "-D", str(self.base / name), "-m", "immediate", "stop"]))
        shutil.rmtree(self.base, ignore_errors=True)


def pair_start(base: Path, also_listen: tuple[str, ...] = ()) -> Pair:
    """The running pair, its database migrated and seeded; `stop()` it. `also_listen`: addresses
    (of other network namespaces' links) both servers answer on too, without a password."""
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    pair = Pair(base, free_port(), free_port())
    primary, standby = base / "primary", base / "standby"
    _run(_as_postgres([str(BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync"]))
    settings = {
        "port": pair.primary_port,
        "listen_addresses": "'" + ",".join(("127.0.0.1", *also_listen)) + "'",
        "unix_socket_directories": f"'{base}'",
        "wal_level": "replica",
        "max_wal_senders": 4,
        "hot_standby": "on",
        "fsync": "off",
        "log_statement": "'all'",
        "shared_buffers": "'32MB'",
    }
    with (primary / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    with (primary / "pg_hba.conf").open("a") as hba:
        hba.writelines(f"host all all {address}/32 trust\n" for address in also_listen)
        hba.writelines(f"host all all {address.rsplit('.', 1)[0]}.2/32 trust\n" for address in also_listen)
    pg_ctl = str(BIN / "pg_ctl")
    _run(_as_postgres([pg_ctl, "-D", str(primary), "-l", str(base / "primary.log"), "-w", "start"]))
    _run(
        _as_postgres(
            [str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres"]
            + ["-D", str(standby), "-R", "-X", "stream", "--no-sync"]
        )
    )
    with (standby / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"port = {pair.standby_port}\n")
    _run(_as_postgres([pg_ctl, "-D", str(standby), "-l", str(base / "standby.log"), "-w", "start"]))
    _run(["createdb", "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres", DATABASE])
    manage = [sys.executable, "manage.py"]
    env = pair.env() | {"DATABASE_REPLICA_URL": ""}  # migrations and seeds on the primary only
    _run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env)
    seeded = _run([*manage, "shell", "-c", _SEED], cwd=ROOT, env=env).stdout.split()
    pair.engineer_token, pair.operator_token = seeded[seeded.index("TOKENS") + 1 : seeded.index("TOKENS") + 3]
    pair.cell = seeded[seeded.index("CELL") + 1]
    pair.wait_replayed()
    return pair
