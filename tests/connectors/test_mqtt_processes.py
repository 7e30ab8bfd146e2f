"""MQTT connectors over several runner processes (run_connectors --processes N, MQTT 5 shared
subscriptions), here as Runners of shard 0 and 1 in threads against a Mosquitto of the test's
own: the broker splits the messages, each is stored once and counted once; what is published
while every process is away waits in their sessions; process 0 moving from one process to two
drops its plain subscription; a connector with a position source runs in process 0 only."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from connectors.models import Connector, ConnectorStatus
from connectors.processes import Shard
from connectors.runner import Runner
from measurements.models import Measurement
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake
from .room_stream import BASE, room_connector, room_messages, status_counts, stored_once
from .support import private_broker, publish, running, wait_for

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def _shard(index: int, count: int = 2) -> Runner:
    return Runner(reload_s=0.5, heartbeat_s=0.5, shard=Shard(index, count))


def _subscribed(runners: list[Runner], connector: Connector) -> None:
    """Every process connected (and so subscribed): states are process 0's only."""
    wait_for(lambda: ConnectorStatus.objects.get(pk=connector.pk).state == "connected", what="connected")
    for r in runners:
        wait_for(lambda r=r: r.sink.states.get(connector.pk, ("",))[0] == "connected", what="every process")


def test_two_processes_share_the_messages_and_store_each_once(
    connector_make: ConnectorMake, prefix: str, tmp_path: Path
) -> None:
    n = 2000
    with private_broker(tmp_path) as port:
        connector = room_connector(connector_make, prefix, port)
        first, second = _shard(0), _shard(1)
        with running(first), running(second):
            _subscribed([first, second], connector)
            publish(room_messages(prefix, 0, n), port=port)
            wait_for(lambda: status_counts(connector)[1] >= n, timeout=60, what=f"{n} stored")
    assert status_counts(connector) == (n, n, 0)
    assert stored_once() == (n, n)
    # The broker split them: each process stored a share, none all of them.
    shares = (first.sink.outcomes["stored"], second.sink.outcomes["stored"])
    assert sum(shares) == n and 0 < shares[0] < n, shares
    assert ConnectorStatus.objects.get(pk=connector.pk).state == "stopped"


def test_what_is_published_while_every_process_is_away_arrives_after_the_restart(
    connector_make: ConnectorMake, prefix: str, tmp_path: Path
) -> None:
    n = 600
    with private_broker(tmp_path) as port:
        connector = room_connector(connector_make, prefix, port)
        runners = [_shard(0), _shard(1)]
        with running(runners[0]), running(runners[1]):
            _subscribed(runners, connector)  # both sessions exist, each with the shared subscription
        publish(room_messages(prefix, 0, n), port=port)
        assert not Measurement.objects.exists()
        runners = [_shard(0), _shard(1)]
        with running(runners[0]), running(runners[1]):
            wait_for(lambda: status_counts(connector)[1] >= n, timeout=60, what=f"{n} stored after the restart")
            publish(room_messages(prefix, n, 100), port=port)
            wait_for(lambda: status_counts(connector)[1] >= n + 100, timeout=60, what="and the next ones")
    assert status_counts(connector) == (n + 100, n + 100, 0)
    assert stored_once() == (n + 100, n + 100)
    assert all(r.sink.outcomes["stored"] > 0 for r in runners)  # both sessions had kept a share


def test_process_0_moving_from_one_process_to_two_gets_each_message_once(
    connector_make: ConnectorMake, prefix: str, tmp_path: Path
) -> None:
    """Process 0 keeps the connector's client id, so its session still holds the plain
    subscription of the single process: it is dropped, or every message would come twice
    (stored once by the receipts, but counted twice)."""
    with private_broker(tmp_path) as port:
        connector = room_connector(connector_make, prefix, port)
        alone = _shard(0, 1)
        with running(alone):
            _subscribed([alone], connector)
            publish(room_messages(prefix, 0, 50), port=port)
            wait_for(lambda: status_counts(connector)[1] >= 50, what="50 stored by one process")
        runners = [_shard(0), _shard(1)]
        with running(runners[0]), running(runners[1]):
            _subscribed(runners, connector)
            publish(room_messages(prefix, 50, 400), port=port)
            wait_for(lambda: status_counts(connector)[1] >= 450, timeout=60, what="450 stored")
            wait_for(lambda: sum(r.sink.outcomes["stored"] for r in runners) >= 400, what="counted")
        back = _shard(0, 1)  # and back to one process: the shared subscription is dropped
        with running(back):
            _subscribed([back], connector)
            publish(room_messages(prefix, 450, 50), port=port)
            wait_for(lambda: status_counts(connector)[1] >= 500, what="500 stored")
    assert status_counts(connector) == (500, 500, 0)
    assert stored_once() == (500, 500)


def test_a_connector_with_a_position_source_runs_in_process_0_only(
    connector_make: ConnectorMake, prefix: str, tmp_path: Path
) -> None:
    with private_broker(tmp_path) as port:
        metred = connector_make(
            "coat-mqtt",
            [
                {
                    "source": f"{prefix}/thickness",
                    "station": "COAT-01",
                    "parameter": "ct_thickness",
                    "unit": "um",
                    "position_source": f"{prefix}/metre",
                }
            ],
            endpoint=f"mqtt://127.0.0.1:{port}",
            options={"client_id": f"ct-m-{prefix[-12:]}"},
        )
        room = room_connector(connector_make, prefix + "-room", port)
        first, second = _shard(0), _shard(1)
        with running(first), running(second):
            _subscribed([first, second], room)
            assert set(first.running) == {metred.pk, room.pk}
            assert set(second.running) == {room.pk}
            assert first.running[metred.pk].config.shard == (0, 1)  # plain subscription, one session
            assert second.running[room.pk].config.shard == (1, 2)
            publish([(f"{prefix}/metre", {"value": 7.0, "measured_at": _at(1)})], port=port)
            publish([(f"{prefix}/thickness", {"value": 99.0, "measured_at": _at(2)})], port=port)
            wait_for(lambda: Measurement.objects.filter(parameter__code="ct_thickness").exists(), what="stored")
    # The position came from the metre's history, which only process 0 keeps.
    assert Measurement.objects.get(parameter__code="ct_thickness").position_m == 7.0
    assert (first.sink.outcomes["stored"], second.sink.outcomes["stored"]) == (1, 0)


def _at(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--processes", "0"], "--processes: 1 to 16, not 0."),
        (["--processes", "17"], "--processes: 1 to 16, not 17."),
        (["--processes", "2", "--shard", "2"], "--shard: 0 to 1, not 2."),
        (["--processes", "2", "--shard", "-1"], "--shard: 0 to 1, not -1."),
    ],
)
def test_run_connectors_refuses_a_process_count_or_shard_out_of_range(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError) as raised:
        call_command("run_connectors", *arguments)
    assert str(raised.value) == message


def test_each_process_spools_to_a_directory_of_its_own(settings: Any, tmp_path: Path) -> None:
    settings.CELLTRACE_CONNECTOR_SPOOL_DIR = tmp_path
    spools = [_shard(k, 3).spool for k in range(3)]
    assert [s.directory if s is not None else None for s in spools] == [
        tmp_path,
        tmp_path / "shard-1",
        tmp_path / "shard-2",
    ]
