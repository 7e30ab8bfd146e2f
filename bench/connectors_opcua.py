#!/usr/bin/env python
"""OPC UA connector benchmark: a machine changing many values fast, run_connectors storing them.

    .venv/bin/python bench/connectors_opcua.py [--nodes 20] [--latency-rate 1000] [--rate 6000]
                                               [--seconds 10] [--publishing-interval-ms 100]
                                               [--queue-size 1000] [--database-url URL]

1. Points Django (config.settings.test) at a dedicated PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/celltrace_bench_opcua; its name must contain "bench": it is
   recreated, and dropped at the end), migrates it, and registers (bench/connectors_support.py)
   station COAT-01 with a coating run covering the benchmark, the parameter bench_thickness
   (um), an operator's API token and an OPC UA connector mapping every variable to COAT-01.
2. Starts an asyncua server in a child process (its own interpreter, as a PLC would be) with
   --nodes Double variables `ns=2;s=Bench.V<i>`, then `manage.py run_connectors` (the real
   driver, sink, receipts and bulk-ingest storage) in a subprocess; waits until every variable's
   initial value is stored.
3. Two phases, each --seconds long: the server writes --latency-rate changes per second (a rate
   the connector keeps up with: the latency figure), then --rate (the throughput figure), round
   robin over the variables, each change with its own SourceTimestamp (the wall clock) and value
   (its sequence number per variable); after each phase it reports how many it wrote.
4. A watcher polls the committed rows every 20 ms (bench/connectors_support.py CommitWatcher).
   Prints, per phase: changes/s written and stored (phase start to the poll that saw its last
   row), the latency from source timestamp to committed row at p50/p99 (it includes up to one
   publishing interval, which the server waits before it publishes, and the batching), and the
   runner's CPU time per change; then the loss (written minus distinct receipts stored, per
   variable and in total), duplicates (measurement rows minus distinct (source time, value)), and
   the rate of POST /api/measurements/bulk/ for the same values, with the ratio connector/bulk.
   Writes bench/connectors-opcua-results.json, with the load average.

Goal: >= 5,000 changes/s stored with zero loss. asyncua's server is Python too: on 2 cores it
shares them with the runner, PostgreSQL and the watcher, so the written rate can fall short of
--rate; the figures say what was written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from connectors_support import (
    CommitWatcher,
    bulk_rate,
    connector_setup,
    cpu_seconds,
    runner_connected,
    runner_start,
    runner_stop,
)
from support import database_drop, database_recreate, django_environment, free_port, load, log

RESULTS = Path(__file__).resolve().parent / "connectors-opcua-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_opcua"
GOALS = {"changes_per_s_min": 5_000, "loss_max": 0}
TICK_S = 0.005


# --- the machine (child process) -----------------------------------------------------------------


def machine(port: int, nodes: int, phases: list[tuple[float, float]], pipe: Connection) -> None:
    asyncio.run(_machine(port, nodes, phases, pipe))


async def _machine(port: int, nodes: int, phases: list[tuple[float, float]], pipe: Connection) -> None:
    import logging

    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    index = await server.register_namespace("urn:celltrace:bench")
    bench = await server.nodes.objects.add_object(index, "Bench")
    ids = []
    for i in range(nodes):
        node = await bench.add_variable(
            ua.NodeId(ua.String(f"Bench.V{i}"), ua.Int16(index)), f"V{i}", -1.0, ua.VariantType.Double
        )
        ids.append(node.nodeid)
    await server.start()
    pipe.send("ready")
    written = [0] * nodes
    for rate, seconds in phases:
        await _message(pipe)  # go
        before = list(written)
        wall, started = time.time(), time.monotonic()
        total = 0
        while (elapsed := time.monotonic() - started) < seconds:
            for _ in range(int(rate * elapsed) - total):
                i = total % nodes
                variant = ua.Variant(float(written[i]), ua.VariantType.Double)
                await server.write_attribute_value(ids[i], ua.DataValue(variant, SourceTimestamp=ua.DateTime.now(UTC)))
                written[i] += 1
                total += 1
            await asyncio.sleep(TICK_S)
        pipe.send(([w - b for w, b in zip(written, before, strict=True)], wall, time.monotonic() - started))
    await _message(pipe)  # the runner has stored everything
    await server.stop()


async def _message(pipe: Connection) -> object:
    """The next message, without blocking the server's event loop while waiting."""
    while not pipe.poll():
        await asyncio.sleep(0.02)
    return pipe.recv()


# --- the benchmark (this process) ----------------------------------------------------------------


def _changes(watcher: CommitWatcher) -> list[tuple[float, float, float]]:
    return [row for row in watcher.seen if row[2] >= 0]  # the initial values are -1


def phase(pipe: Connection, watcher: CommitWatcher, runner: int, rate: float, wanted_before: int) -> dict[str, Any]:
    load_before, cpu = load(), cpu_seconds(runner)
    pipe.send("go")
    written, wall, duration = pipe.recv()
    wanted = wanted_before + sum(written)
    deadline = time.monotonic() + 30.0
    while len(_changes(watcher)) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = cpu_seconds(runner) - cpu
    rows = [row for row in _changes(watcher) if wall <= row[0] < wall + duration + 1.0]
    stored_s = (max(seen for _, seen, _ in rows) - wall) if rows else float("nan")
    n = sum(written)
    return {
        "rate_asked": rate,
        "written": n,
        "written_per_s": round(n / duration),
        "written_per_variable": written,
        "stored": len(rows),
        "seconds": round(stored_s, 3),
        "changes_per_s": round(len(rows) / stored_s),
        "latency_ms": CommitWatcher.latency_ms(rows),
        "runner_cpu_us_per_change": round(cpu / max(1, n) * 1e6, 1),
        "load_average_before": load_before,
        "load_average_after": load(),
    }


def tally(nodes: int, written: list[int]) -> dict[str, Any]:
    """Loss per variable (written minus distinct receipts of changes) and duplicate rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT source, count(*) FROM connectors_connectorreceipt WHERE value >= 0 GROUP BY source",
        )
        receipts = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*), count(DISTINCT (measured_at, value)) FROM measurements_measurement "
            "WHERE instrument = 'bench-opcua' AND value >= 0 AND item_id IS NOT NULL"
        )
        rows, distinct = (int(x) for x in cursor.fetchone())
    lost = [count - receipts.get(f"ns=2;s=Bench.V{i}", 0) for i, count in enumerate(written)]
    return {"stored_rows": rows, "loss": sum(lost), "worst_variable_loss": max(lost), "duplicates": rows - distinct}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="changes/s of the latency phase")
    parser.add_argument("--rate", type=float, default=6000.0, help="changes/s of the throughput phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="of each phase")
    parser.add_argument("--publishing-interval-ms", type=float, default=100.0)
    parser.add_argument("--queue-size", type=int, default=1000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--output", default=str(RESULTS))
    return parser.parse_args()


def machine_start(args: argparse.Namespace, port: int) -> tuple[Connection, BaseProcess]:
    """The OPC UA server in a spawned child process, ready: this end of its pipe, and the child."""
    ours, theirs = multiprocessing.Pipe()
    phases = [(args.latency_rate, args.seconds), (args.rate, args.seconds)]
    child = multiprocessing.get_context("spawn").Process(
        target=machine, args=(port, args.nodes, phases, theirs), daemon=True
    )
    child.start()
    log("starting the OPC UA server (building its address space takes a few seconds)...")
    if not ours.poll(120) or ours.recv() != "ready":
        raise SystemExit("the server did not start")
    return ours, child


def phases_measure(
    args: argparse.Namespace, ours: Connection, watcher: CommitWatcher, runner: subprocess.Popen[bytes]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Step 3, once every initial value is stored: the latency phase, then the throughput phase."""
    deadline = time.monotonic() + 30
    while watcher.count() < args.nodes and time.monotonic() < deadline:  # every initial value
        time.sleep(0.05)
    log(f"latency phase: {args.latency_rate:,.0f} changes/s for {args.seconds:g} s (runner pid {runner.pid})")
    paced = phase(ours, watcher, runner.pid, args.latency_rate, 0)
    log(f"throughput phase: {args.rate:,.0f} changes/s for {args.seconds:g} s")
    flat = phase(ours, watcher, runner.pid, args.rate, paced["written"])
    ours.send("done")
    time.sleep(1.0)  # anything late (a duplicate would show here)
    return paced, flat


def results_build(
    args: argparse.Namespace, paced: dict[str, Any], flat: dict[str, Any], counts: dict[str, Any], bulk: dict[str, Any]
) -> dict[str, Any]:
    """bench/connectors-opcua-results.json: both phases, loss, duplicates, the bulk baseline, goals."""
    rate = flat["changes_per_s"]
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "nodes": args.nodes,
        "publishing_interval_ms": args.publishing_interval_ms,
        "queue_size": args.queue_size,
        "latency_phase": paced,
        "throughput_phase": flat,
        "written": paced["written"] + flat["written"],
        **counts,
        "bulk_endpoint": bulk,
        "ratios": {"connector_vs_bulk": round(rate / bulk["rows_per_s"], 3)},
        "load_average_at_end": load(),
        "goals": GOALS,
        "goals_met": {
            "changes_per_s": rate >= GOALS["changes_per_s_min"],
            "zero_loss": counts["loss"] == 0 and counts["duplicates"] == 0,
        },
    }


def summary_print(args: argparse.Namespace, results: dict[str, Any]) -> None:
    print(f"nodes {args.nodes}, publishing interval {args.publishing_interval_ms:g} ms, queue {args.queue_size}")
    for name, p in (("paced", results["latency_phase"]), ("flat out", results["throughput_phase"])):
        print(
            f"{name:<9} written {p['written']:,} at {p['written_per_s']:,}/s, stored {p['stored']:,} at "
            f"{p['changes_per_s']:,}/s; latency p50 {p['latency_ms']['p50']} ms, p99 {p['latency_ms']['p99']} ms, "
            f"runner CPU {p['runner_cpu_us_per_change']} us/change "
            f"(load {p['load_average_before']} -> {p['load_average_after']})"
        )
    bulk = results["bulk_endpoint"]
    print(
        f"stored    {results['stored_rows']:,} of {results['written']:,} written; loss {results['loss']} "
        f"(worst variable {results['worst_variable_loss']}), duplicates {results['duplicates']}"
    )
    print(f"bulk      {bulk['rows']:,} rows in {bulk['seconds']} s ({bulk['rows_per_s']:,}/s)")
    print(f"ratio     connector/bulk {results['ratios']['connector_vs_bulk']}")
    print(f"goals met {results['goals_met']} (load at end {results['load_average_at_end']})")


def main() -> None:
    args = arguments()
    env = django_environment(args.database_url)
    log(f"recreating {args.database_url}")
    database_recreate(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    port = free_port()
    options = {"publishing_interval_ms": args.publishing_interval_ms, "queue_size": args.queue_size}
    sources = [f"ns=2;s=Bench.V{i}" for i in range(args.nodes)]
    connector_id, token = connector_setup("opcua", f"opc.tcp://127.0.0.1:{port}/", options, sources)
    ours, child = machine_start(args, port)
    runner = runner_start(env, Path(tempfile.mkdtemp(prefix="celltrace-bench-opcua-")) / "spool")
    watcher = CommitWatcher(args.database_url, "bench-opcua")
    try:
        runner_connected(runner, connector_id)
        paced, flat = phases_measure(args, ours, watcher, runner)
        watcher.stop()
        written = [a + b for a, b in zip(paced["written_per_variable"], flat["written_per_variable"], strict=True)]
        counts = tally(args.nodes, written)
        log("bulk endpoint, the same values")
        bulk = bulk_rate(token, "bench-opcua")
    finally:
        watcher.stop()
        runner_stop(runner)
        child.join(10)
        connection.close()
        database_drop(args.database_url)
    results = results_build(args, paced, flat, counts, bulk)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    summary_print(args, results)


if __name__ == "__main__":
    main()
