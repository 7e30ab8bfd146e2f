"""A real streaming replica (tests/replica_pair.py) behind a running server: genealogy reads are
answered by the standby, a client that just wrote reads its write from the primary, and the
standby refuses writes. Which server ran a query is read from each server's statement log."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.replica_pair import ROOT, Pair, free_port, pair_start

pytestmark = [pytest.mark.postgresql_only, pytest.mark.replica]

WALK = "WITH RECURSIVE walk"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    started = pair_start(Path("/tmp") / f"ct_replica_pair_{free_port()}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def server(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=pair.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/items/", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


class _Logs:
    """The statements each server logged since the block began."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair

    def __enter__(self) -> "_Logs":
        time.sleep(0.2)  # the logs are written by the servers' own processes
        self.start = {which: len(self.pair.log(which)) for which in ("primary", "standby")}
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)
        self.text = {which: self.pair.log(which)[self.start[which] :] for which in ("primary", "standby")}

    def count(self, which: str, fragment: str) -> int:
        return self.text[which].count(fragment)


def test_the_standby_is_a_read_only_streaming_replica(pair: Pair) -> None:
    assert pair.sql(pair.standby_port, "SELECT pg_is_in_recovery()").stdout.strip() == "t"
    refused = pair.sql(pair.standby_port, "CREATE TABLE written_here (id int)")
    assert refused.returncode != 0 and "read-only transaction" in refused.stderr
    streaming = pair.sql(pair.primary_port, "SELECT state FROM pg_stat_replication").stdout.split()
    assert streaming == ["streaming"]


def test_a_genealogy_read_is_answered_by_the_standby(pair: Pair, server: str) -> None:
    with _Logs(pair) as logs:
        response = requests.get(f"{server}/items/{pair.cell}/trace/", headers=_headers(pair.operator_token), timeout=30)
    assert response.status_code == 200, response.text
    assert len(response.json()["nodes"]) > 5
    assert logs.count("standby", WALK) == 1 and logs.count("primary", WALK) == 0


def test_a_client_reads_its_own_write_while_the_standby_lags(pair: Pair, server: str) -> None:
    # The standby stops replaying: what the primary writes now is not there yet.
    assert pair.sql(pair.standby_port, "SELECT pg_wal_replay_pause()").returncode == 0
    try:
        engineer, operator = _headers(pair.engineer_token), _headers(pair.operator_token)
        wrote = requests.post(f"{server}/items/", json={"kind": "cell"}, headers=engineer, timeout=30)
        assert wrote.status_code == 201, wrote.text
        url = f"{server}/items/{wrote.json()['code']}/trace/"
        with _Logs(pair) as logs:
            own = requests.get(url, headers=engineer, timeout=30)  # no cookie: found by its token
            other = requests.get(url, headers=operator, timeout=30)
        assert own.status_code == 200 and own.json()["root"] == wrote.json()["code"]
        assert logs.count("primary", WALK) == 1
        # The other client reads the lagging standby, where the cell does not exist yet.
        assert other.status_code == 404
    finally:
        pair.sql(pair.standby_port, "SELECT pg_wal_replay_resume()")
    pair.wait_replayed()
    with _Logs(pair) as logs:
        assert requests.get(url, headers=operator, timeout=30).status_code == 200
    assert logs.count("standby", WALK) == 1 and logs.count("primary", WALK) == 0
