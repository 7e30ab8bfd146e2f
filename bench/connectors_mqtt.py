#!/usr/bin/env python
"""MQTT connector benchmark: messages published to Mosquitto, stored by run_connectors.

    .venv/bin/python bench/connectors_mqtt.py [--messages 100000] [--database-url URL]
                                              [--broker-port PORT] [--output FILE]

What it does, in one run:

1. Points Django (config.settings.test) at a dedicated PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/celltrace_bench_connectors; its name must contain "bench":
   it is dropped), migrates it, registers station COAT-01 (coating), one coating run covering
   the whole benchmark, the parameter bench_thickness (um), an operator with an API token and an
   MQTT connector mapping `bench/<run>/+/thickness` to COAT-01: every value is assigned by
   station and time, as a machine's would be.
2. Starts its own Mosquitto on a free port (unless --broker-port names one already running) with
   no in-flight or queue limit, so the figure is the connector's and not a broker setting, and
   `manage.py run_connectors` in a subprocess; waits until the connector reads `connected`.
3. Publishes --messages QoS 1 messages as fast as `mosquitto_pub -l` takes them, each JSON
   `{"value", "unit", "measured_at"}` with measured_at the time of publishing, while polling
   the connector's `stored` count (one status row, committed with the values) every 20 ms.
4. Prints: messages/s stored (first publish to the commit that made `stored` reach the count),
   the publish rate, loss (messages the broker delivered to an independent QoS 1 subscriber,
   `mosquitto_sub`, minus rows stored), end-to-end latency p50/p99 (a message's
   publish time to the first poll that sees it committed, so +- 20 ms), and the rate of
   POST /api/measurements/bulk/ for the same values (a JSON array, the Django test client,
   in-process, so no HTTP) with the ratio connector/bulk. Writes bench/connectors-mqtt-results.json.

Goal: >= 10,000 messages/s stored with zero loss.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import database_recreate, free_port, log

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "connectors-mqtt-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_connectors"
PUBLISH_CHUNK = 5_000
GOALS = {"messages_per_s_min": 10_000, "loss_max": 0}
BROKER_CONF = "listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\n"


def setup(run: str) -> tuple[int, str]:
    """The station, its coating run, the parameter, the connector; (connector id, token)."""
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from connectors.models import Connector, ConnectorMapping, ConnectorStatus
    from measurements.models import Parameter
    from traceability.models import Station
    from traceability.services import OutputSpec, operation_record, station_create

    admin = User.objects.create_superuser(username="bench-admin")
    operator = User.objects.create_user(username="bench-operator")
    operator.groups.add(Group.objects.get_or_create(name="operator")[0])
    token = Token.objects.create(user=operator).key
    station_create(actor=admin, code="COAT-01", name="Coater", steps=["coating"], room="dry-room-1")
    parameter = Parameter.objects.create(
        code="bench_thickness", name="Coating thickness", scope="step", step_id="coating", category="SP", unit="um"
    )
    now = datetime.now(UTC)
    operation_record(
        actor=admin,
        step="coating",
        station="COAT-01",
        started_at=now - timedelta(hours=1),
        ended_at=now + timedelta(hours=6),
        inputs=[],
        outputs=[OutputSpec(kind="coated_roll", quantity=10_000, unit="m", code="CR-bench", polarity="cathode")],
        parameters={},
    )
    connector = Connector.objects.create(code="bench-mqtt", kind="mqtt", endpoint="mqtt://127.0.0.1:1883")
    ConnectorMapping.objects.create(
        connector=connector,
        source=f"bench/{run}/+/thickness",
        station=Station.objects.get(code="COAT-01"),
        parameter=parameter,
        unit="um",
    )
    ConnectorStatus.objects.create(connector=connector)
    return connector.pk, token


def status(connector_id: int) -> tuple[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT state, stored FROM connectors_connectorstatus WHERE connector_id = %s", [connector_id])
        state, stored = cursor.fetchone()
    return state, int(stored)


def publish(port: int, run: str, n: int, sent_at: list[float]) -> float:
    """n QoS 1 messages through `mosquitto_pub -l` (a C client: paho's Python publisher tops out
    far below the connector), one line a message, timestamped as it is written, PUBLISH_CHUNK
    lines per mosquitto_pub (one fed 100,000 lines at once dropped two thirds of them itself);
    returns when the last mosquitto_pub has had its messages acknowledged (seconds taken)."""
    topic = f"bench/{run}/coater-1/thickness"
    command = ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", topic, "-l", "-V", "mqttv5"]
    started = time.monotonic()
    for first in range(0, n, PUBLISH_CHUNK):
        publisher = subprocess.Popen(command, stdin=subprocess.PIPE)  # noqa: S603
        assert publisher.stdin is not None
        write = publisher.stdin.write
        for i in range(first, min(n, first + PUBLISH_CHUNK)):
            now = time.time()
            sent_at.append(time.monotonic())
            measured_at = datetime.fromtimestamp(now, UTC).isoformat()
            write(f'{{"value": {100.0 + (i % 1000) / 100}, "unit": "um", "measured_at": "{measured_at}"}}\n'.encode())
        publisher.stdin.close()
        if publisher.wait(120) != 0:
            raise SystemExit("mosquitto_pub failed")
    return time.monotonic() - started


def witness(port: int, run: str, n: int) -> subprocess.Popen[bytes]:
    """An independent QoS 1 subscriber: what the broker accepted and delivered (the loss is
    counted against it, not against what was written to mosquitto_pub)."""
    command = ["mosquitto_sub", "-p", str(port), "-q", "1", "-t", f"bench/{run}/#", "-C", str(n), "-V", "mqttv5"]
    return subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603


def bulk_rate(token: str) -> dict[str, Any]:
    """The same values through POST /api/measurements/bulk/ (JSON, Django test client)."""
    from django.db import connection
    from rest_framework.test import APIClient

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT value, sent_unit, measured_at FROM measurements_measurement WHERE instrument = 'bench-mqtt'"
        )
        values = cursor.fetchall()
    rows = [
        {
            "parameter": "bench_thickness",
            "value": v,
            "unit": u,
            "station": "COAT-01",
            "measured_at": t.isoformat(),
            "source": "online",
            "instrument": "bench-bulk",
        }
        for v, u, t in values
    ]
    body = json.dumps(rows)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    started = time.monotonic()
    response = client.post("/api/measurements/bulk/", body, content_type="application/json")
    seconds = time.monotonic() - started
    if response.status_code != 201:
        raise SystemExit(f"bulk: {response.status_code} {response.content[:500]!r}")
    return {"rows": len(rows), "seconds": round(seconds, 3), "rows_per_s": round(len(rows) / seconds)}


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--broker-port", type=int, help="a Mosquitto already running (default: start one)")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    log(f"recreating {args.database_url}")
    database_recreate(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    connector_id, token = setup(run)
    tmp = Path(tempfile.mkdtemp(prefix="celltrace-bench-connectors-"))
    broker = None
    port = args.broker_port
    if port is None:
        port = free_port()
        (tmp / "mosquitto.conf").write_text(BROKER_CONF.format(port=port))
        broker = subprocess.Popen(["mosquitto", "-c", str(tmp / "mosquitto.conf")], stderr=subprocess.DEVNULL)  # noqa: S603,S607
        time.sleep(0.5)
    from connectors.models import Connector

    Connector.objects.filter(pk=connector_id).update(endpoint=f"mqtt://127.0.0.1:{port}")
    env = dict(os.environ) | {"CELLTRACE_CONNECTOR_SPOOL_DIR": str(tmp / "spool"), "DATABASE_CONN_MAX_AGE": "600"}
    runner = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "run_connectors"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while status(connector_id)[0] != "connected":
            if time.monotonic() > deadline or runner.poll() is not None:
                raise SystemExit("run_connectors did not connect")
            time.sleep(0.1)
        n = args.messages
        watching = witness(port, run, n)
        time.sleep(0.5)
        sent_at: list[float] = []
        polls: list[tuple[float, int]] = []
        publishing = threading.Thread(target=lambda: polls.append((publish(port, run, n, sent_at), -1)))
        log(f"publishing {n:,} messages (run_connectors pid {runner.pid})")
        publishing.start()
        deadline = time.monotonic() + 60 + n / 1000
        while True:
            stored = status(connector_id)[1]
            polls.append((time.monotonic(), stored))
            if stored >= n or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        publishing.join()
        publish_s = next(t for t, k in polls if k == -1)
        polls = [(t, k) for t, k in polls if k >= 0]
        time.sleep(1.0)  # anything late (a duplicate would show here)
        try:
            seen = watching.communicate(timeout=10)[0].count(b"\n")
        except subprocess.TimeoutExpired:
            watching.kill()
            seen = watching.communicate()[0].count(b"\n")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM measurements_measurement WHERE item_id IS NOT NULL")
            rows = int(cursor.fetchone()[0])
        latencies = []
        index = 0
        for i, sent in enumerate(sent_at):
            while index < len(polls) and polls[index][1] < i + 1:
                index += 1
            if index < len(polls):
                latencies.append(polls[index][0] - sent)
        latencies.sort()
        done_at = next((t for t, k in polls if k >= n), polls[-1][0])
        stored_s = done_at - sent_at[0]
        log("bulk endpoint, the same values")
        bulk = bulk_rate(token)
    finally:
        runner.terminate()
        runner.wait(15)
        if broker is not None:
            broker.terminate()
            broker.wait(10)
    rate = rows / stored_s
    results = {
        "messages": n,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "broker": "own mosquitto, no in-flight or queue limit" if broker is not None else f"127.0.0.1:{port}",
        "publish": {"seconds": round(publish_s, 3), "messages_per_s": round(n / publish_s)},
        "connector": {
            "stored_rows": rows,
            "broker_delivered_to_witness": seen,
            "loss": seen - rows,
            "seconds": round(stored_s, 3),
            "messages_per_s": round(rate),
            "latency_ms": {
                "p50": round(percentile(latencies, 0.5) * 1000, 1),
                "p99": round(percentile(latencies, 0.99) * 1000, 1),
                "max": round(latencies[-1] * 1000, 1),
            },
        },
        "bulk_endpoint": bulk,
        "ratios": {"connector_vs_bulk": round(rate / bulk["rows_per_s"], 3)},
        "goals": GOALS,
        "goals_met": {"messages_per_s": rate >= GOALS["messages_per_s_min"], "zero_loss": rows == seen == n},
    }
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    c = results["connector"]
    print(f"published      {n:,} in {publish_s:.2f} s ({n / publish_s:,.0f}/s)")
    print(f"witness        {seen:,} delivered by the broker to an independent subscriber")
    print(f"stored         {rows:,} in {stored_s:.2f} s ({rate:,.0f} messages/s), loss {seen - rows}")
    print(f"latency        p50 {c['latency_ms']['p50']} ms, p99 {c['latency_ms']['p99']} ms (publish -> committed)")
    print(f"bulk endpoint  {bulk['rows']:,} rows in {bulk['seconds']} s ({bulk['rows_per_s']:,}/s)")
    print(f"connector/bulk {results['ratios']['connector_vs_bulk']}")
    print(f"goals met      {results['goals_met']}")


if __name__ == "__main__":
    main()
