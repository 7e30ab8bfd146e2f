#!/usr/bin/env python
"""The full track graph of a lot and the roll map of a cell over HTTP, each against its raw SQL
in the same run (issue 14): track within 1.3 x of the raw recursive query, the roll map within
2 x of its two SQL statements at p50 and at p99. Those two statements return only which values
belong and how (ids, items, stretches); the roll map is also measured against one statement
returning every listed column of those values, in the listing's order, as rows (the same
information as the body, without its text).

    .venv/bin/python bench/trackmap.py [--database-url URL] [--values 9510] [--runs 9] [--samples 30]

Uses the line bench/trace.py generated (run it first with the same --database-url; its name
must contain "bench"). The roll map case needs no 2 M-row load: it adds `--values` online values
(COPY, set-up, not timed) along the coated and calendered roll stretches that went into one
cell, once; `bench/upstream.py` still measures the issue's case with 2 M values stored.
HTTP is `manage.py runserver --noreload` with TCP_NODELAY and persistent database connections,
one keep-alive connection; raw SQL runs on the server's database from this process.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from trace import DEFAULT_URL, Client
from typing import TYPE_CHECKING, Any

from support import MEASUREMENT_COPY_COLUMNS, Server, django_environment, dsn, load, log, percentile

if TYPE_CHECKING:
    import psycopg

INSTRUMENT = "bench-trackmap"
Timed = dict[str, list[float]]  # seconds per kind of request or statement


def stats(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return percentile(ordered, 0.5) * 1000, percentile(ordered, 0.99) * 1000


def line(label: str, http: list[float], sql: list[float], ceiling: float) -> None:
    (hp50, hp99), (sp50, sp99) = stats(http), stats(sql)
    r50, r99 = hp50 / sp50, hp99 / sp99
    verdict = "MET" if r50 <= ceiling and r99 <= ceiling else "NOT MET"
    print(f"  {label:34}{'HTTP':>6}{hp50:>9.1f}{hp99:>9.1f}   raw SQL{sp50:>8.1f}{sp99:>8.1f}", end="")
    print(f"   ratio p50 {r50:.2f} p99 {r99:.2f}  ceiling {ceiling} x: {verdict}")


def roll_values(cell_pk: int, wanted: int) -> int:
    """Add online values along the roll stretches that went into the cell, up to `wanted`."""
    from django.db import connection, transaction

    from lots.models import Item
    from measurements.models import Measurement, Parameter
    from measurements.selectors import _walk_sql
    from traceability.selectors import MAX_DEPTH

    with connection.cursor() as cursor:
        cursor.execute(_walk_sql(), {"item": cell_pk, "max_depth": MAX_DEPTH})
        walk = cursor.fetchall()
    rolls = set(Item.objects.filter(kind_id__in=["coated_roll", "calendered_roll"]).values_list("id", flat=True))
    stretches = sorted({(w[0], w[1], w[2]) for w in walk if w[0] in rolls and w[1] is not None})
    have = Measurement.objects.filter(instrument=INSTRUMENT).count()
    if have >= wanted or not stretches:
        return have
    parameter = Parameter.objects.update_or_create(
        code="mass_loading",
        defaults={"name": "mass loading", "scope": "step", "step_id": "coating", "category": "SP", "unit": "mg/cm**2"},
    )[0]
    rng = random.Random(5)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Measurement._meta.db_table} ({MEASUREMENT_COPY_COLUMNS}) FROM STDIN") as copy:
            for n in range(wanted - have):
                roll, lo, hi = stretches[n % len(stretches)]
                value = rng.gauss(21.0, 0.5)
                when = start + timedelta(seconds=n)
                row = (parameter.pk, roll, rng.uniform(lo, hi), when, "online", INSTRUMENT, "", value, value)
                copy.write_row((*row, parameter.unit, "", "", "", False, "", when))
    with connection.cursor() as cursor:  # what autovacuum would do after a bulk load
        cursor.execute(f"ANALYZE {Measurement._meta.db_table}")
    return wanted


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--values", type=int, default=9_510)
    parser.add_argument("--runs", type=int, default=9, help="track graph requests and raw walks")
    parser.add_argument("--samples", type=int, default=30, help="roll map requests and raw statements")
    return parser.parse_args()


def raw_walk(raw: psycopg.Connection[Any], sql: str, pk: int) -> float:
    """Seconds of the raw downstream walk of item `pk` (the track graph's baseline)."""
    from traceability.selectors import MAX_DEPTH

    t0 = time.perf_counter()
    with raw.cursor() as cur:
        cur.execute(sql, {"item": pk, "max_depth": MAX_DEPTH})
        cur.fetchall()
    return time.perf_counter() - t0


def largest_lot(raw: psycopg.Connection[Any], lots: list[tuple[int, str]]) -> tuple[int, int, str]:
    """(descendants, pk, code) of the cathode active-material lot with the most descendants."""
    from traceability.selectors import MAX_DEPTH, walk_sql

    node_sql = walk_sql("downstream", edges=False)
    with raw.cursor() as cur:
        sizes = []
        for pk, code in lots:
            cur.execute(node_sql, {"item": pk, "max_depth": MAX_DEPTH})
            sizes.append((len(cur.fetchall()) - 1, pk, code))
    return max(sizes)


def operator_token() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return Token.objects.get_or_create(user=user)[0].key


def track_time(client: Client, raw: psycopg.Connection[Any], lot_pk: int, path: str, runs: int) -> Timed:
    """The track graph over HTTP and its raw walk, `runs` times each."""
    from traceability.selectors import walk_sql

    down_sql = walk_sql("downstream", edges=True)
    timed: Timed = {"http": [], "sql": []}
    for _ in range(runs):  # interleaved, so a burst of load hits both
        timed["sql"].append(raw_walk(raw, down_sql, lot_pk))
        timed["http"].append(client.get(path)[2])
    return timed


def roll_map_time(client: Client, raw: psycopg.Connection[Any], cell_pk: int, path: str, samples: int) -> Timed:
    """The roll map over HTTP, its two statements, the listed values as rows and as binary COPY
    (bytes, not parsed: the least a listing of that information costs to leave PostgreSQL),
    `samples` times each."""
    from django.utils import timezone

    from lots.models import Item
    from measurements.selectors import upstream_rows
    from measurements.selectors_upstream_json import listing_rows_sql
    from traceability.selectors import MAX_DEPTH

    cell = Item.objects.get(pk=cell_pk)
    timed: Timed = {"http": [], "sql": [], "rows": [], "copy": []}
    copy_sql = f"COPY ({listing_rows_sql()}) TO STDOUT (FORMAT BINARY)"
    listed_params = {"item": cell.pk, "max_depth": MAX_DEPTH, "zone": timezone.get_current_timezone_name()}
    for _ in range(samples):
        t0 = time.perf_counter()
        upstream_rows(cell)  # the walk, then the values: the raw SQL of the roll map
        timed["sql"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with raw.cursor() as cur:  # the same, and every listed column of each value, as rows
            cur.execute(listing_rows_sql(), listed_params)
            cur.fetchall()
        timed["rows"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with raw.cursor() as cur, cur.copy(copy_sql, listed_params) as copy:
            for _block in copy:
                pass
        timed["copy"].append(time.perf_counter() - t0)
        timed["http"].append(client.get(path)[2])
    return timed


def main() -> None:
    args = arguments()
    env = django_environment(args.database_url) | {"DATABASE_CONN_MAX_AGE": "60"}
    import django

    django.setup()
    import psycopg

    from lots.models import Item

    raw = psycopg.connect(dsn(args.database_url), autocommit=True)
    raw.execute("SET jit = off")  # as the server's connections (config.settings.base)
    lots = list(Item.objects.filter(kind_id="cathode_active_material").values_list("id", "code"))
    cells = list(Item.objects.filter(kind_id="cell").order_by("id").values_list("id", "code"))
    if not lots or not cells:
        sys.exit("No line in the database: run bench/trace.py first with the same --database-url.")
    descendants, lot_pk, lot_code = largest_lot(raw, lots)
    cell_pk, cell_code = cells[len(cells) // 2]
    stored = roll_values(cell_pk, args.values)
    log(f"track of {lot_code} ({descendants:,} descendants); roll map of {cell_code} ({stored:,} bench values)")

    token = operator_token()
    server = Server(env, nodelay=True)
    try:
        if not server.wait():
            sys.exit(f"runserver did not start; see {server.log.name}")
        client = Client(server.port, token)
        track_path = f"/api/items/{lot_code}/track/"
        roll_path = f"/api/measurements/?item={cell_code}&upstream=true"
        status, body, _ = client.get(track_path)
        assert status == 200, body[:300]
        track_bytes = len(body)
        status, body, _ = client.get(roll_path)
        assert status == 200, body[:300]
        listed = body.count(b'"upstream":')
        load_before = load()
        track = track_time(client, raw, lot_pk, track_path, args.runs)
        roll = roll_map_time(client, raw, cell_pk, roll_path, args.samples)
        load_after = load()
    finally:
        server.stop()
        raw.close()
    print(f"\ntrack graph and roll map over HTTP against raw SQL (ms); load average {load_before} -> {load_after}")
    print(f"  track: {descendants:,} descendants, {track_bytes / 1e6:.1f} MB of JSON, {args.runs} runs")
    print(f"  roll map: {listed:,} values listed, {args.samples} requests")
    print(f"  {'':34}{'':6}{'p50':>9}{'p99':>9}   {'':7}{'p50':>8}{'p99':>8}")
    line("full track graph of the lot", track["http"], track["sql"], 1.3)
    line("roll map of a cell", roll["http"], roll["sql"], 2.0)
    line("  against the listed values as rows", roll["http"], roll["rows"], 2.0)
    (c50, c99), (s50, s99) = stats(roll["copy"]), stats(roll["sql"])
    print(f"  the listed values as binary COPY alone (not parsed): p50 {c50:.1f} ms, p99 {c99:.1f} ms", end="")
    print(f" = {c50 / s50:.2f} x / {c99 / s99:.2f} x the two statements")


if __name__ == "__main__":
    main()
