"""The measurements of bench/trace.py: trace of random cells and track of the line's big lots,
through the raw walk SQL (psycopg), the in-process selectors and HTTP (runserver).

Django is imported inside the functions: this module is loaded before django.setup().
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import random
import statistics
import time
from typing import Any

from support import Server, dsn, log
from trace_plan import POLARITY
from trace_results import HttpInfo, HttpTrace, Results, SelectorTrace, SqlTrace, Summary, Track

Cells = list[tuple[int, str]]  # (pk, code)
Target = tuple[str, int, str, int]  # (label, pk, code, descendants)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values_s: list[float]) -> Summary:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str) -> tuple[int, bytes, float]:
        for attempt in range(2):
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - t0
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, body, elapsed
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                if attempt:
                    raise
        raise AssertionError("unreachable")


class RawWalk:
    """The walk SQL of traceability.selectors on a plain psycopg connection (autocommit)."""

    def __init__(self, url: str) -> None:
        import psycopg

        from traceability.selectors import MAX_DEPTH, walk_sql

        self.max_depth = MAX_DEPTH
        self.up_sql = walk_sql("upstream", edges=True)
        self.down_sql = walk_sql("downstream", edges=True)
        self.conn = psycopg.connect(dsn(url), autocommit=True)

    def rows(self, sql: str, pk: int) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, {"item": pk, "max_depth": self.max_depth})
            return cur.fetchall()

    def timed(self, sql: str, pk: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        rows = self.rows(sql, pk)
        return len(rows), time.perf_counter() - t0

    def descendants(self, pk: int) -> int:
        # Rows whose first column is 0 are the walk's nodes, the start item among them.
        return sum(1 for row in self.rows(self.down_sql, pk) if row[0] == 0) - 1

    def plan(self, sql: str, pk: int) -> list[str]:
        return [row[0] for row in self.rows("EXPLAIN (ANALYZE, BUFFERS) " + sql, pk)]


def samples(args: argparse.Namespace) -> tuple[Cells, Cells]:
    """The cells whose trace is measured and those of the warm-up calls."""
    from lots.models import Item

    rng = random.Random(args.seed)
    cells = list(Item.objects.filter(kind_id="cell").order_by("id").values_list("id", "code"))
    sample = rng.sample(cells, min(args.samples, len(cells)))
    warm = rng.sample(cells, min(args.warmup, len(cells)))
    log(f"measuring trace over {len(sample)} random cells (of {len(cells)}), {len(warm)} warm-up calls")
    return sample, warm


def track_targets(raw: RawWalk) -> list[Target]:
    """The lots to track: the active-material lot with the most descendants, and the cathode
    carbon lot that feeds every cathode slurry (the worst case of the line)."""
    from lots.models import Item

    am_lots = list(Item.objects.filter(kind_id="cathode_active_material").order_by("id").values_list("id", "code"))
    carbon = list(
        Item.objects.filter(kind_id="conductive_additive", supplier_lot__startswith=POLARITY["cathode"]["carbon"])
        .order_by("id")
        .values_list("id", "code")
    )
    # The first of the lots with the most descendants.
    counted = sorted((-raw.descendants(pk), pk, code) for pk, code in am_lots)
    targets: list[Target] = []
    if counted:
        n, pk, code = -counted[0][0], counted[0][1], counted[0][2]
        targets.append(("active_material_lot", pk, code, n))
    if carbon:
        pk, code = carbon[0]
        targets.append(("carbon_lot_all_cathode", pk, code, raw.descendants(pk)))
    return targets


def trace_sql(raw: RawWalk, sample: Cells, warm: Cells) -> SqlTrace:
    for pk, _ in warm:
        raw.timed(raw.up_sql, pk)
    times, rows = [], []
    for pk, _ in sample:
        n_rows, elapsed = raw.timed(raw.up_sql, pk)
        times.append(elapsed)
        rows.append(n_rows)
    return {**summary(times), "rows_mean": round(statistics.fmean(rows), 1)}


def trace_selector(sample: Cells, warm: Cells) -> SelectorTrace:
    """In-process selector (ORM item lookup + the walk + Python shaping), for the breakdown."""
    from lots.models import Item
    from traceability.selectors import lineage_trace

    for _, code in warm:
        lineage_trace(item=Item.objects.get(code=code))
    times, nodes = [], []
    for _, code in sample:
        t0 = time.perf_counter()
        g = lineage_trace(item=Item.objects.get(code=code))
        times.append(time.perf_counter() - t0)
        nodes.append(len(g.nodes))
    return {**summary(times), "nodes_mean": round(statistics.fmean(nodes), 1)}


def track_in_process(raw: RawWalk, targets: list[Target], runs: int) -> dict[str, Track]:
    """Track of each target through lineage_track and the raw SQL (medians of `runs`)."""
    from lots.models import Item
    from traceability.selectors import lineage_track

    tracks: dict[str, Track] = {}
    for label, pk, code, n in targets:
        log(f"measuring track of {code} ({n} descendants)")
        sel, sql_t = [], []
        nodes = 0
        lineage_track(item=Item.objects.get(code=code))  # warm-up
        for _ in range(runs):
            t0 = time.perf_counter()
            g = lineage_track(item=Item.objects.get(code=code))
            sel.append(time.perf_counter() - t0)
            nodes = len(g.nodes)
        for _ in range(runs):
            sql_t.append(raw.timed(raw.down_sql, pk)[1])
        tracks[label] = {
            "code": code,
            "descendants": n,
            "selector_nodes": nodes,
            "sql_plan": raw.plan(raw.down_sql, pk),
            "selector_median_ms": round(statistics.median(sel) * 1000, 1),
            "sql_median_ms": round(statistics.median(sql_t) * 1000, 1),
        }
    return tracks


def operator_token() -> str:
    """The token of the "bench-operator" user, in the operator group."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)


def trace_over_http(client: Client, sample: Cells, warm: Cells) -> HttpTrace:
    for _, code in warm:
        client.get(f"/api/items/{code}/trace/")
    times, sizes, bad = [], [], 0
    body = b"{}"
    for _, code in sample:
        status, body, elapsed = client.get(f"/api/items/{code}/trace/")
        bad += status != 200
        times.append(elapsed)
        sizes.append(len(body))
    doc = json.loads(body)
    return {
        **summary(times),
        "errors": bad,
        "bytes_mean": round(statistics.fmean(sizes)),
        "nodes_last": len(doc.get("nodes", [])),
        "edges_last": len(doc.get("edges", [])),
    }


def _median_get(client: Client, url: str, runs: int) -> tuple[float, bytes]:
    """The median in ms of `runs` GETs of `url`, and the last body."""
    times, body = [], b"{}"
    for _ in range(runs):
        _status, body, elapsed = client.get(url)
        times.append(elapsed)
    return round(statistics.median(times) * 1000, 1), body


def track_over_http(client: Client, targets: list[Target], runs: int, tracks: dict[str, Track]) -> None:
    """Track of each target over HTTP, the full graph and the cells only, added to `tracks`."""
    for label, _pk, code, _n in targets:
        log(f"measuring track of {code} over HTTP")
        status, body, _ = client.get(f"/api/items/{code}/track/")
        if status != 200:
            tracks[label]["http_error"] = f"{status}: {body[:200]!r}"
            continue
        median_ms, body = _median_get(client, f"/api/items/{code}/track/", runs)
        tracks[label] |= {
            "http_median_ms": median_ms,
            "http_nodes": len(json.loads(body).get("nodes", [])),
            "http_bytes": len(body),
        }
        # "Which cells contain this lot?": the cells only, without the edges.
        cells_url = f"/api/items/{code}/track/?kind=cell&edges=false"
        client.get(cells_url)
        median_ms, body = _median_get(client, cells_url, runs)
        tracks[label] |= {
            "cells_http_median_ms": median_ms,
            "cells_http_nodes": len(json.loads(body).get("nodes", [])),
        }


def measure_http(
    args: argparse.Namespace,
    env: dict[str, str],
    results: Results,
    cells: tuple[Cells, Cells],
    targets: list[Target],
    tracks: dict[str, Track],
) -> HttpInfo:
    """Trace and track over HTTP (runserver with TCP_NODELAY), then trace against the stock
    runserver; the figures go into `results` and `tracks`, what the server was into the answer."""
    sample, warm = cells
    token = operator_token()
    server_env = dict(env) | {"DATABASE_CONN_MAX_AGE": str(args.server_conn_max_age)}
    http_info: HttpInfo = {
        "available": False,
        "conn_max_age": args.server_conn_max_age,
        "server": "manage.py runserver --noreload, TCP_NODELAY on accepted sockets",
    }
    server = Server(server_env, nodelay=True)
    try:
        if not server.wait():
            http_info["reason"] = f"runserver did not start; see {server.log.name}"
        else:
            client = Client(server.port, token)
            status, body, _ = client.get(f"/api/items/{sample[0][1]}/trace/")
            if status != 200:
                http_info["reason"] = f"GET /api/items/{{code}}/trace/ answered {status}: {body[:200]!r}"
            else:
                http_info["available"] = True
                log("measuring trace over HTTP")
                results["trace_http"] = trace_over_http(client, sample, warm)
                track_over_http(client, targets, args.track_runs, tracks)
    finally:
        server.stop()
    if http_info["available"] and not args.skip_stock_server:
        # The same trace against the unmodified runserver, to show the Nagle/delayed-ACK cost.
        server = Server(server_env, nodelay=False)
        try:
            if server.wait():
                log("measuring trace over HTTP against the stock runserver")
                results["trace_http_stock_runserver"] = trace_over_http(Client(server.port, token), sample, warm)
        finally:
            server.stop()
    if not http_info["available"]:
        log(f"HTTP unavailable: {http_info.get('reason')}")
    return http_info


def measure(args: argparse.Namespace, env: dict[str, str], results: Results) -> None:
    sample, warm = samples(args)
    raw = RawWalk(env["DATABASE_URL"])
    targets = track_targets(raw)
    results["trace_sql"] = trace_sql(raw, sample, warm)
    results["trace_selector"] = trace_selector(sample, warm)
    tracks = track_in_process(raw, targets, args.track_runs)
    raw.conn.close()
    results["http"] = measure_http(args, env, results, (sample, warm), targets, tracks)
    results["track"] = tracks
    if "trace_http" in results:
        results["trace_ratio_http_over_sql_p50"] = round(
            results["trace_http"]["p50_ms"] / results["trace_sql"]["p50_ms"],
            2,
        )
