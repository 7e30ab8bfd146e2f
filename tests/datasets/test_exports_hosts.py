"""Exports shared by Celery workers on two hosts: each worker in a network namespace of its own
(a veth link to this one), reaching a private Redis broker, a private PostgreSQL primary and its
streaming standby (tests/replica_pair.py) over its link. The app server here queues nine
exports; both workers build some, reading from the standby, and every file they stored is
downloaded through the app server from the storage they share (STORAGES["exports"])."""

import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

from tests.replica_pair import ROOT, Pair, free_port, pair_start

pytestmark = [pytest.mark.postgresql_only, pytest.mark.replica]

HOSTS = (1, 2)
CELERY = str(Path(sys.executable).with_name("celery"))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict[int, str]]:
    """Host number -> its namespace; this side of host n's link is 10.211.n.1, the host 10.211.n.2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    made: dict[int, str] = {}
    try:
        for n in HOSTS:
            namespace = f"ct_replica_w{n}"
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)  # a crashed run's
            subprocess.run(["ip", "link", "del", f"ctrp{n}h"], capture_output=True)
            _ip("netns", "add", namespace)
            made[n] = namespace
            _ip("link", "add", f"ctrp{n}h", "type", "veth", "peer", "name", f"ctrp{n}w")
            _ip("link", "set", f"ctrp{n}w", "netns", namespace)
            _ip("addr", "add", f"10.211.{n}.1/24", "dev", f"ctrp{n}h")
            _ip("link", "set", f"ctrp{n}h", "up")
            for args in (["addr", "add", f"10.211.{n}.2/24", "dev", f"ctrp{n}w"], ["link", "set", f"ctrp{n}w", "up"]):
                _ip("netns", "exec", namespace, "ip", *args)
            _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        yield made
    finally:
        for n, namespace in made.items():
            subprocess.run(["ip", "link", "del", f"ctrp{n}h"], capture_output=True)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


@pytest.fixture(scope="module")
def pair(hosts: dict[int, str]) -> Iterator[Pair]:
    started = pair_start(Path("/tmp") / f"ct_replica_hosts_{free_port()}", tuple(f"10.211.{n}.1" for n in hosts))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def broker(hosts: dict[int, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    binds = " ".join(["127.0.0.1", *(f"10.211.{n}.1" for n in hosts)])
    log = (tmp_path_factory.mktemp("redis") / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            binds,
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    time.sleep(0.5)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def cluster(
    pair: Pair, hosts: dict[int, str], broker: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(the app server's API root, the directory of the worker logs); the workers running."""
    shared = tmp_path_factory.mktemp("shared-media")  # the mount every host has
    logs = tmp_path_factory.mktemp("logs")
    processes: list[subprocess.Popen[bytes]] = []
    common = {"CELERY_TASK_ALWAYS_EAGER": "false", "DJANGO_MEDIA_ROOT": str(shared)}
    for n, namespace in hosts.items():
        here = f"10.211.{n}.1"
        env = pair.env() | common
        env |= {
            "DATABASE_URL": pair.primary_url.replace("127.0.0.1", here),
            "DATABASE_REPLICA_URL": pair.standby_url.replace("127.0.0.1", here),
            "CELERY_BROKER_URL": f"redis://{here}:{broker}/0",
            "CELLTRACE_EXPORT_WORK_DIR": str(tmp_path_factory.mktemp(f"work-host{n}")),  # local disk
        }
        worker = [CELERY, "-A", "config", "worker", "--pool=solo", "-l", "info", "-n", f"host{n}@%h"]
        command = ["ip", "netns", "exec", namespace, *worker, "--without-mingle", "--without-gossip"]
        out = (logs / f"host{n}.log").open("wb")
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    port = free_port()
    env = pair.env() | common | {"CELERY_BROKER_URL": f"redis://127.0.0.1:{broker}/0"}
    out = (logs / "server.log").open("wb")
    server = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    processes.append(subprocess.Popen(server, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = all("ready" in (logs / f"host{n}.log").read_text(errors="replace") for n in hosts)
        try:
            requests.get(f"{api}/items/", timeout=2)
        except requests.ConnectionError:
            ready = False
        if ready:
            break
        time.sleep(0.3)
    try:
        yield api, logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _logs(logs: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs.glob("*.log"))


def test_exports_are_shared_by_workers_on_two_hosts_and_read_from_the_standby(
    pair: Pair, cluster: tuple[str, Path]
) -> None:
    api, logs = cluster
    headers = {"Authorization": f"Token {pair.engineer_token}"}
    standby_before = len(pair.log("standby"))
    primary_before = len(pair.log("primary"))
    queued = []
    for granularity in ("cell", "sheet", "roll"):
        for fmt in ("parquet", "csv", "jsonl"):
            body = {"granularity": granularity, "format": fmt}
            response = requests.post(f"{api}/exports/", json=body, headers=headers, timeout=30)
            assert response.status_code == 202, response.text
            queued.append((response.json()["id"], fmt))
    deadline = time.monotonic() + 90
    states: dict[int, dict[str, object]] = {}
    while time.monotonic() < deadline:
        states = {pk: requests.get(f"{api}/exports/{pk}/", headers=headers, timeout=30).json() for pk, _ in queued}
        if all(state["status"] in ("done", "failed") for state in states.values()):
            break
        time.sleep(0.5)
    assert all(state["status"] == "done" for state in states.values()), f"{states}\n{_logs(logs)}"

    # Which host built which export: the task ids each worker's log says it finished.
    ran = {
        n: set(re.findall(r"export_dataset_task\[([0-9a-f-]+)\] succeeded", (logs / f"host{n}.log").read_text()))
        for n in HOSTS
    }
    task_ids = {
        pair.sql(pair.primary_port, f"SELECT celery_task_id FROM datasets_export WHERE id = {pk}").stdout.strip()
        for pk, _ in queued
    }
    assert ran[1] | ran[2] == task_ids and not ran[1] & ran[2]
    assert ran[1] and ran[2], f"one host built everything: {ran}"

    # Every file is downloaded through the app server, from the storage the workers wrote to.
    for pk, fmt in queued:
        download = requests.get(f"{api}/exports/{pk}/download/", headers=headers, timeout=30)
        assert download.status_code == 200, download.text
        if fmt == "parquet":
            assert pq.read_table(io.BytesIO(download.content)).num_rows == states[pk]["rows"]
        else:
            assert len(download.content) > 0

    # The builds read from the standby, without temporary tables (a standby makes none).
    standby = pair.log("standby")[standby_before:]
    primary = pair.log("primary")[primary_before:]
    assert standby.count("REPEATABLE READ") >= len(queued)
    assert "CREATE TEMPORARY TABLE" not in primary and "CREATE TEMPORARY TABLE" not in standby
