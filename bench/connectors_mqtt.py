#!/usr/bin/env python
"""MQTT connector benchmark: messages published to Mosquitto, stored by run_connectors.

    .venv/bin/python bench/connectors_mqtt.py [--messages 100000] [--latency-rate 2000]
                                              [--latency-messages 20000] [--database-url URL]
                                              [--broker-port PORT] [--processes 1,2]
                                              [--output FILE]

What it does, in one run:

1. Points Django (config.settings.test) at a dedicated PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/celltrace_bench_connectors; its name must contain "bench":
   it is recreated, and dropped at the end), migrates it, and registers
   (bench/connectors_support.py) station COAT-01, a coating run covering the benchmark, the
   parameter bench_thickness (um), an operator with an API token and an MQTT connector mapping
   `bench/<run>/+/thickness` to COAT-01: every value is assigned by station and time, as a
   machine's would be.
2. Starts its own Mosquitto on a free port (unless --broker-port names one already running) with
   no in-flight or queue limit, so the figure is the connector's and not a broker setting, and
   `manage.py run_connectors` in a subprocess; waits until the connector reads `connected`.
3. For each entry of --processes (default 1, then 2: the single process, then MQTT 5 shared
   subscriptions over two, in the same run and on the same connector and topics), steps 4 and
   5 with `run_connectors --processes N`, stopped (SIGTERM) before the next one starts.
4. Latency phase: --latency-messages QoS 1 messages at --latency-rate per second (a rate the
   connector keeps up with), each JSON `{"value", "unit", "measured_at"}` with measured_at the
   time of publishing; waits until all are stored.
5. Throughput phase: --messages messages as fast as --publishers (2) `mosquitto_pub -l` at
   once take them (one alone tops out near 11,000/s, below two runner processes).
6. A watcher polls every 20 ms the audit event each stored batch commits with its rows
   (bench/connectors_support.py BatchWatcher: the runner stores two batches at once, so ids
   commit out of order). Prints, per phase: messages/s stored (first publish to the poll that
   saw the last batch committed), the publish rate, end-to-end latency p50/p99 (measured_at to
   the first poll that sees the row's batch committed, so +- 20 ms; in the throughput phase it is
   mostly the backlog when publishing is faster than storing); loss over both phases (messages
   the broker delivered to an independent QoS 1 subscriber, `mosquitto_sub` writing to a file,
   minus rows stored) and duplicates over every variant; and the rate of
   POST /api/measurements/bulk/ for the same values (a JSON array, the Django test client,
   in-process, so no HTTP) with each variant's ratio connector/bulk. Writes
   bench/connectors-mqtt-results.json, with the load average at start and end.

Goal: >= 10,000 messages/s stored with zero loss.
"""

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors_support import (
    BatchWatcher,
    CommitWatcher,
    bulk_rate,
    connector_setup,
    connector_status,
    cpu_seconds,
    runner_connected,
    runner_start,
    runner_stop,
)
from support import database_drop, database_recreate, django_environment, free_port, load, log

RESULTS = Path(__file__).resolve().parent / "connectors-mqtt-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_connectors"
PUBLISH_CHUNK = 5_000
GOALS = {"messages_per_s_min": 10_000, "loss_max": 0}
BROKER_CONF = "listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\n"


def publish(port: int, run: str, n: int, rate: float | None = None, publishers: int = 1) -> tuple[float, float]:
    """n QoS 1 messages through `mosquitto_pub -l` (a C client: paho's Python publisher tops out
    far below the connector), one line a message, timestamped as it is written, PUBLISH_CHUNK
    lines per mosquitto_pub (one fed 100,000 lines at once dropped two thirds of them itself),
    at most `rate` a second when given, else by `publishers` mosquitto_pub at once (one tops
    out near 11,000/s here); returns (wall-clock start, seconds taken) once the last
    mosquitto_pub has had its messages acknowledged. Each message's value is its own (100 +
    i / 100,000), so no two of a phase share a receipt key."""
    topic = f"bench-mqtt-{run}/coater-1/thickness"
    command = ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-l", "-V", "mqttv5"]
    wall, started = time.time(), time.monotonic()
    chunks = list(range(0, n, PUBLISH_CHUNK))
    failed: list[int] = []

    def chunks_publish(mine: list[int]) -> None:
        for first in mine:
            publisher = subprocess.Popen(command, stdin=subprocess.PIPE, bufsize=0)  # noqa: S603
            assert publisher.stdin is not None
            write = publisher.stdin.write
            for i in range(first, min(n, first + PUBLISH_CHUNK)):
                if rate is not None and i % 20 == 0:  # paced in steps of 20 messages
                    ahead = started + i / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                measured_at = datetime.fromtimestamp(time.time(), UTC).isoformat()
                write(f'{{"value": {100.0 + i / 100_000}, "unit": "um", "measured_at": "{measured_at}"}}\n'.encode())
            publisher.stdin.close()
            if publisher.wait(120) != 0:
                failed.append(first)

    count = 1 if rate is not None else publishers
    threads = [threading.Thread(target=chunks_publish, args=(chunks[k::count],)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit("mosquitto_pub failed")
    return wall, time.monotonic() - started


def witness(port: int, run: str, n: int, output: Path) -> subprocess.Popen[bytes]:
    """An independent QoS 1 subscriber: what the broker accepted and delivered (the loss is
    counted against it, not against what was written to mosquitto_pub). It writes to a file:
    into a pipe read only at the end it would block once the pipe is full, and the broker would
    drop what it cannot deliver."""
    command = ["mosquitto_sub", "-p", str(port), "-q", "1", "-t", f"bench-mqtt-{run}/#", "-C", str(n), "-V", "mqttv5"]
    with open(output, "wb") as out:
        return subprocess.Popen(command, stdout=out)  # noqa: S603


def phase(
    watcher: BatchWatcher, runner: int, port: int, run: str, n: int, rate: float | None, publishers: int = 1
) -> dict[str, Any]:
    """Publish n messages (at `rate`, or flat out) and wait until they are all committed; with
    the CPU time the runner (process id `runner`) spent on them."""
    before = watcher.count()
    cpu = cpu_seconds(runner)
    load_before = load()
    box: list[tuple[float, float]] = []
    publishing = threading.Thread(target=lambda: box.append(publish(port, run, n, rate, publishers)))
    publishing.start()
    deadline = time.monotonic() + 60 + n / 1000
    while watcher.count() < before + n and time.monotonic() < deadline:
        time.sleep(0.05)
    publishing.join()
    cpu = cpu_seconds(runner) - cpu
    wall, publish_s = box[0]
    rows = watcher.rows()[before : before + n]
    stored_s = (max(seen for _, seen, _ in rows) - wall) if rows else float("nan")
    return {
        "messages": n,
        "publish_rate_asked": rate,
        "publish": {"seconds": round(publish_s, 3), "messages_per_s": round(n / publish_s)},
        "stored": len(rows),
        "seconds": round(stored_s, 3),
        "messages_per_s": round(len(rows) / stored_s),
        "latency_ms": CommitWatcher.latency_ms(rows),
        "runner_cpu_us_per_message": round(cpu / n * 1e6, 1),
        "load_average_before": load_before,
        "load_average_after": load(),
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--latency-rate", type=float, default=2_000.0)
    parser.add_argument("--latency-messages", type=int, default=20_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--broker-port", type=int, help="a Mosquitto already running (default: start one)")
    parser.add_argument("--processes", default="1,2", help="run_connectors --processes of each variant, in order")
    parser.add_argument("--publishers", type=int, default=2, help="mosquitto_pub at once in the flat-out phase")
    parser.add_argument("--output", default=str(RESULTS))
    return parser.parse_args()


def broker_start(port: int | None, tmp: Path) -> tuple[int, subprocess.Popen[bytes] | None]:
    """(port, own Mosquitto) on a free port, unless `port` names one already running."""
    if port is not None:
        return port, None
    port = free_port()
    (tmp / "mosquitto.conf").write_text(BROKER_CONF.format(port=port))
    broker = subprocess.Popen(["mosquitto", "-c", str(tmp / "mosquitto.conf")], stderr=subprocess.DEVNULL)  # noqa: S603,S607
    time.sleep(0.5)
    return port, broker


@dataclass
class Variants:
    """What every --processes variant runs against: the runner's environment and files, the
    broker, this run's topics, the connector and the watcher of its commits."""

    env: dict[str, str]
    tmp: Path
    port: int
    run: str
    connector_id: int
    watcher: BatchWatcher


def variant_measure(args: argparse.Namespace, on: Variants, processes: int) -> dict[str, Any]:
    """Steps 4 and 5 with `run_connectors --processes N`: the latency phase, then flat out."""
    watcher, port, run = on.watcher, on.port, on.run
    runner = runner_start(on.env, on.tmp / "spool", processes)
    try:
        runner_connected(runner, on.connector_id)
        time.sleep(1.0 + processes)  # every process subscribed (only process 0 writes the state)
        log(f"--processes {processes}: {args.latency_messages:,} messages at {args.latency_rate:,.0f}/s")
        paced = phase(watcher, runner.pid, port, run, args.latency_messages, args.latency_rate)
        log(f"--processes {processes}: {args.messages:,} messages flat out")
        flat = phase(watcher, runner.pid, port, run, args.messages, None, args.publishers)
        time.sleep(1.0)  # anything late (a duplicate would show here)
    finally:
        runner_stop(runner)
    return {"latency_phase": paced, "throughput_phase": flat}


def witness_count(watching: subprocess.Popen[bytes], output: Path) -> int:
    """Messages the broker delivered to the witness, once it has had them all (or 10 s)."""
    try:
        watching.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watching.kill()
        watching.wait()
    return output.read_bytes().count(b"\n")


def rows_stored() -> tuple[int, int]:
    """(rows, distinct (measured_at, value)) the connector stored and assigned to an item."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT (measured_at, value)) FROM measurements_measurement "
            "WHERE instrument = 'bench-mqtt' AND item_id IS NOT NULL"
        )
        rows, distinct = (int(x) for x in cursor.fetchone())
    return rows, distinct


def results_build(
    measured: dict[int, dict[str, Any]], counts: dict[str, int], bulk: dict[str, Any], own_broker: bool, port: int
) -> dict[str, Any]:
    """bench/connectors-mqtt-results.json: every phase, loss, duplicates, the bulk baseline, goals."""
    variants = list(measured)
    rates = {n: m["throughput_phase"]["messages_per_s"] for n, m in measured.items()}
    rows, seen, total = counts["rows"], counts["seen"], counts["total"]
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "broker": "own mosquitto, no in-flight or queue limit" if own_broker else f"127.0.0.1:{port}",
        "processes": {str(n): m for n, m in measured.items()},
        "stored_rows": rows,
        "status_stored": counts["counted"],
        "broker_delivered_to_witness": seen,
        "loss": seen - rows,
        "duplicates": rows - counts["distinct"],
        "bulk_endpoint": bulk,
        "ratios": {f"connector_{n}_vs_bulk": round(r / bulk["rows_per_s"], 3) for n, r in rates.items()}
        | {f"processes_{n}_vs_{variants[0]}": round(r / rates[variants[0]], 3) for n, r in rates.items()},
        "load_average_at_end": load(),
        "goals": GOALS,
        "goals_met": {
            "messages_per_s": max(rates.values()) >= GOALS["messages_per_s_min"],
            "zero_loss": rows == seen == total,
        },
    }


def summary_print(results: dict[str, Any], measured: dict[int, dict[str, Any]], bulk: dict[str, Any]) -> None:
    for n, m in measured.items():
        for name, p in (("paced", m["latency_phase"]), ("flat out", m["throughput_phase"])):
            print(
                f"--processes {n} {name:<9} published {p['messages']:,} at {p['publish']['messages_per_s']:,}/s, "
                f"stored {p['stored']:,} at {p['messages_per_s']:,}/s; latency p50 {p['latency_ms']['p50']} ms, "
                f"p99 {p['latency_ms']['p99']} ms, runner CPU {p['runner_cpu_us_per_message']} us/message "
                f"(load {p['load_average_before']} -> {p['load_average_after']})"
            )
    seen, rows = results["broker_delivered_to_witness"], results["stored_rows"]
    print(f"witness   {seen:,} delivered by the broker; stored {rows:,} (status counts {results['status_stored']:,})")
    print(f"loss      {results['loss']}, duplicates {results['duplicates']}")
    print(f"bulk      {bulk['rows']:,} rows in {bulk['seconds']} s ({bulk['rows_per_s']:,}/s)")
    print(f"ratios    {results['ratios']}")
    print(f"goals met {results['goals_met']} (load at end {results['load_average_at_end']})")


def main() -> None:
    args = arguments()
    variants = [int(n) for n in args.processes.split(",")]

    env = django_environment(args.database_url)
    log(f"recreating {args.database_url}")
    database_recreate(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="celltrace-bench-connectors-"))
    port, broker = broker_start(args.broker_port, tmp)
    connector_id, token = connector_setup(
        "mqtt",
        f"mqtt://127.0.0.1:{port}",
        # A client id and topics of this run only, and a session the broker forgets soon: on a
        # shared broker neither clashes with anyone else's.
        {"client_id": f"celltrace-bench-mqtt-{run}", "session_expiry_s": 300},
        [f"bench-mqtt-{run}/+/thickness"],
    )
    total = (args.latency_messages + args.messages) * len(variants)
    watching = witness(port, run, total, tmp / "witness.txt")
    watcher = BatchWatcher(args.database_url, "bench-mqtt")
    on = Variants(env, tmp, port, run, connector_id, watcher)
    measured: dict[int, dict[str, Any]] = {}
    try:
        for processes in variants:
            measured[processes] = variant_measure(args, on, processes)
        watcher.stop()
        seen = witness_count(watching, tmp / "witness.txt")
        rows, distinct = rows_stored()
        counted = connector_status(connector_id)[1]
        log("bulk endpoint, the same values")
        bulk = bulk_rate(token, "bench-mqtt")
    finally:
        watcher.stop()
        if watching.poll() is None:
            watching.kill()
        if broker is not None:
            broker.terminate()
            broker.wait(10)
        connection.close()
        database_drop(args.database_url)
    counts = {"rows": rows, "distinct": distinct, "counted": counted, "seen": seen, "total": total}
    results = results_build(measured, counts, bulk, broker is not None, port)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    summary_print(results, measured, bulk)


if __name__ == "__main__":
    main()
