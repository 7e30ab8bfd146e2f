"""Mixed load against gunicorn with the production settings, bounded and self-stopping.

`.venv/bin/python bench/load.py [--seconds 20]` (issue 14 point 3):

1. Recreates its own database (ct_loadbench_bench_load), migrates it, loads the catalog and
   registers what the clients need: an operator token, station COAT-01 with an open coating run
   (bulk rows are assigned to it by station and time), COAT-02 for recorded operations, and 50
   scan stations SCAN-01..50 with a coated roll each to scan.
2. Starts `python -m gunicorn -c config/gunicorn.py config.wsgi` with config.settings.production
   (pooled DB connections) from the environment.
3. For --seconds, in plain asyncio over raw keep-alive HTTP/1.1 connections: 50 stations scanning
   together at 150 scans/s, 10 clients posting 5 operations/s in total with Idempotency-Key
   (a failure is retried with the same key), one bulk client posting 4 x 1,000 CSV rows/s.
4. Prints p50/p95/p99 per kind (request start to last byte), errors, achieved rates and the load
   average, then checks in SQL that every acknowledged operation and row is stored exactly once.
`--bulk-pool` sends the bulk posts to a second gunicorn (1 worker, 4 threads, nice 10), the way
docs/deployment.md has the proxy route /api/measurements/bulk/ to a pool of its own.
Goal: scan p99 <= 50 ms, zero errors. The machine is shared: read the figures beside the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import support
from connectors_support import connector_setup
from load_clients import BULK_REQUESTS_PER_S, BULK_ROWS, INSTRUMENT, OPS_PER_S, SCANS_PER_S, STATIONS, Stats, drive
from support import ROOT, log, percentile

DATABASE = "postgres://postgres@127.0.0.1:5432/ct_loadbench_bench_load"
GOAL_SCAN_P99_MS = 50.0


def setup() -> str:
    """Migrate, load the catalog, register stations and items; return the operator's token."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from traceability.services import OutputSpec, operation_record, station_create

    call_command("migrate", "--noinput", verbosity=0)
    call_command("load_catalog", verbosity=0)
    _, token = connector_setup("opcua", "opc.tcp://127.0.0.1:4840", {}, [])
    admin = User.objects.get(username="bench-admin")
    station_create(actor=admin, code="COAT-02", name="Coater 2", steps=["coating"], room="dry-room-1")
    start = datetime(2024, 6, 1, tzinfo=UTC)  # before the clients' operations (from 2025)
    for i in range(1, STATIONS + 1):
        station_create(actor=admin, code=f"SCAN-{i:02d}", name=f"Scan {i}", steps=["coating"], room="dry-room-1")
    operation_record(
        actor=admin,
        step="coating",
        station="COAT-02",
        started_at=start,
        ended_at=start + timedelta(minutes=30),
        inputs=[],
        outputs=[
            OutputSpec(kind="coated_roll", quantity=500, unit="m", code=f"CR-scan-{i:02d}", polarity="cathode")
            for i in range(1, STATIONS + 1)
        ],
        parameters={},
    )
    return token


# --- gunicorn, verification, report --------------------------------------------------------------


def gunicorn_start(
    work: Path, port: int, workers: int, threads: int, *, nice: int = 0, name: str = "gunicorn"
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELLTRACE_", "GUNICORN_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench-load-only-not-secret-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front here
        "DATABASE_URL": DATABASE,
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "CELLTRACE_EXPORT_WORK_DIR": str(work / "exports"),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_ACCESSLOG": "/dev/null",  # a line per request would be load of its own
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    logfile = work / f"{name}.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            (["nice", "-n", str(nice)] if nice else [])
            + [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}"]
            + ["config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, logfile


def ready(port: int, timeout: float = 60.0) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)
        except OSError:
            time.sleep(0.3)
    return False


def verify(stats: Stats) -> dict[str, object]:
    """Every acknowledged operation and row stored exactly once (by key, by value)."""
    import psycopg

    from core.models import IdempotencyKey
    from measurements.models import Measurement
    from traceability.models import Operation, Station

    with psycopg.connect(support.dsn(DATABASE)) as conn:
        keys = conn.execute(
            f"SELECT key, count(*) FROM {IdempotencyKey._meta.db_table} WHERE key = ANY(%s) GROUP BY key",
            [stats.acked_keys],
        ).fetchall()
        operations = conn.execute(
            f"SELECT count(*) FROM {Operation._meta.db_table} o WHERE o.station_id = "
            f"(SELECT id FROM {Station._meta.db_table} WHERE code = 'COAT-02') AND o.started_at >= '2025-01-01'"
        ).fetchall()[0][0]
        rows = conn.execute(
            f"SELECT count(*), count(DISTINCT value) FROM {Measurement._meta.db_table} WHERE instrument = %s",
            [INSTRUMENT],
        ).fetchall()[0]
    return {
        "operations_acked": len(stats.acked_keys),
        "operation_keys_stored_once": sum(1 for _, c in keys if c == 1),
        "operations_stored": operations,
        "rows_acked": len(stats.acked_values),
        "rows_stored": rows[0],
        "rows_distinct": rows[1],
        "exactly_once": len(keys) == len(stats.acked_keys) == operations
        and all(c == 1 for _, c in keys)
        and rows[0] == rows[1] == len(stats.acked_values),
    }


def summary(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {f"p{q}": round(percentile(s, q / 100) * 1000, 1) for q in (50, 95, 99)} | {
        "max": round(s[-1] * 1000, 1) if s else float("nan")
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of scans first, not counted")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--bulk-pool",
        action="store_true",
        help="bulk uploads to a gunicorn of their own (1 worker, nice 10), as docs/deployment.md routes them",
    )
    parser.add_argument("--database-url", default=DATABASE, help="a database whose name contains 'bench'")
    return parser.parse_args()


def servers_stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class LoadRun:
    warm: Stats  # the scan-only warm-up: the same run's baseline
    stats: Stats
    elapsed: float
    load_before: str
    load_after: str


def load_measure(args: argparse.Namespace, token: str) -> LoadRun:
    """Step 3 on fresh gunicorns: the scan-only warm-up, then the mixed load for --seconds."""
    work = Path(tempfile.mkdtemp(prefix="celltrace-bench-load-"))
    port = support.free_port()
    proc, logfile = gunicorn_start(work, port, args.workers, args.threads)
    servers = [proc]
    bulk_port = 0
    if args.bulk_pool:
        bulk_port = support.free_port()
        servers.append(gunicorn_start(work, bulk_port, 1, 4, nice=10, name="gunicorn-bulk")[0])
    try:
        if not ready(port) or (bulk_port and not ready(bulk_port)):
            raise SystemExit(f"gunicorn did not start; see {logfile}")
        # Warm-up, not counted: every worker imports its views and fills its connection pool.
        warm = asyncio.run(drive(port, token, args.warmup, scans_only=True))
        log(f"warm-up: {len(warm.latency['scan'])} scans, {len(warm.errors['scan'])} errors")
        load_before = support.load()
        log(f"load for {args.seconds:.0f} s (load average before: {load_before}) ...")
        t0 = time.monotonic()
        stats = asyncio.run(drive(port, token, args.seconds, bulk_port=bulk_port))
        elapsed = time.monotonic() - t0
        load_after = support.load()
    finally:
        servers_stop(servers)
    return LoadRun(warm, stats, elapsed, load_before, load_after)


def report_build(args: argparse.Namespace, run: LoadRun, checked: dict[str, object]) -> dict[str, object]:
    """Latency per kind, rates, errors and the exactly-once check, against the goal."""
    stats, warm, elapsed = run.stats, run.warm, run.elapsed
    errors = {k: len(v) for k, v in stats.errors.items()}
    scan = summary(stats.latency["scan"])
    report = {
        "seconds": round(elapsed, 1),
        "gunicorn": {"workers": args.workers, "threads": args.threads}
        | ({"bulk_pool": {"workers": 1, "threads": 4, "nice": 10}} if args.bulk_pool else {}),
        "load_average_before": run.load_before,
        "load_average_after": run.load_after,
        "latency_ms": {k: summary(v) for k, v in stats.latency.items()},
        # the same run's baseline: the 50 stations at the same rate with nothing else going on
        "scan_alone_warmup_ms": summary(warm.latency["scan"]),
        # over the whole run, the tail after --seconds (requests still queued) included
        "achieved_per_s": {
            "scans": round(len(stats.latency["scan"]) / elapsed, 1),
            "operations": round(len(stats.acked_keys) / elapsed, 2),
            "rows": round(len(stats.acked_values) / elapsed),
        },
        "targets_per_s": {"scans": SCANS_PER_S, "operations": OPS_PER_S, "rows": BULK_REQUESTS_PER_S * BULK_ROWS},
        "errors": errors,
        "operation_retries": stats.retries,
        "first_errors": {k: v[:3] for k, v in stats.errors.items() if v},
        "verified": checked,
    }
    goal_met = scan["p99"] <= GOAL_SCAN_P99_MS and not any(errors.values()) and bool(checked["exactly_once"])
    report["goal"] = {
        "scan_p99_ms": scan["p99"],
        "ceiling_ms": GOAL_SCAN_P99_MS,
        "zero_errors": not any(errors.values()),
        "exactly_once": checked["exactly_once"],
        "met": goal_met,
    }
    return report


def main() -> None:
    global DATABASE  # noqa: PLW0603 - setup, the server and verify() all use the one database
    args = arguments()
    DATABASE = args.database_url

    support.database_recreate(DATABASE)
    support.django_environment(DATABASE)
    log("setting up the bench database ...")
    token = setup()
    run = load_measure(args, token)
    print(json.dumps(report_build(args, run, verify(run.stats)), indent=2))


if __name__ == "__main__":
    main()
