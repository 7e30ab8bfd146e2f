#!/usr/bin/env python
"""Trace/track benchmark on "a month of a line", generated through the services the API uses.

    .venv/bin/python bench/trace.py [--cells 10000] [--database-url URL] [--keep] [--seed 1]

What it does, in one run:

1. Points Django (config.settings.test) at a dedicated PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/celltrace_bench), drops and recreates it and migrates it,
   unless --keep is given and the database already holds a generated line (then it is reused).
   The database is left in place at the end, so `--keep` can measure again without regenerating.
2. Generates the line with lots.services.item_register, traceability.services.station_create and
   traceability.services.operation_record only (no raw inserts): supplier lots and foil rolls,
   slurries, coated rolls (slurry part + foil stretch), calendering (1000 m -> 1040 m, reversed),
   slitting into 4 lanes, cutting each lane into up to 1250 sheets of 0.8 m (one operation per
   lane), and one stacking operation per cell consuming 10 cathode + 10 anode sheets.
   Sizes derive from --cells: sheets = 20 * cells, lanes per polarity = ceil(10 * cells / 1250),
   coated rolls per polarity = ceil(lanes / 4). At 10,000 cells: 40 coated rolls, 160 lanes,
   200,000 sheets, ~210,000 items and ~400,000 lineage edges.
   Cathode active-material lots each feed 6 cathode slurries (at full size the first one has
   ~33,000 descendants, the track goal's case); one conductive-carbon lot feeds every cathode
   slurry (~110,000 descendants at full size, the worst case, reported too).
3. Measures trace of 200 random cells over HTTP (a real `manage.py runserver` subprocess, one
   keep-alive connection, token auth of an "operator"), in-process through
   traceability.selectors.lineage_trace, and as the raw recursive SQL
   (traceability.selectors.walk_sql) on a plain psycopg connection; and track of the lots
   above (median of 5) through lineage_track, raw SQL and HTTP. Prints a table with the goals
   and writes everything to bench/trace-results.json.

Speed: cutting and stacking run in --workers forked processes (default 2), each with its own
database connection and `--chunk` operations per transaction.atomic block; sheet and cell codes
are taken up front with lots.services.codes_allocate and passed as output codes, so the workers
do not queue on the code-sequence row. Each operation is still one operation_record call.

HTTP server: `manage.py runserver --noreload`, started through a three-line launcher (in
bench/support.py) that sets socketserver's `disable_nagle_algorithm` (TCP_NODELAY). Stock
runserver (wsgiref) sends headers and body in two send() calls, and Nagle plus the client's
delayed ACK then add ~40 ms to every keep-alive response; production servers do not. The stock
figure is measured as well (skip with --skip-stock-server). The server runs with
DATABASE_CONN_MAX_AGE=60 (persistent connections, as base/production settings have it) unless
--server-conn-max-age says otherwise; config.settings.test alone would open a new database
connection per request.

--database-url must name a database whose name contains "bench": it is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from support import database_recreate, django_environment, dsn, log
from trace_line import generate
from trace_measure import Client, measure
from trace_plan import Sizes
from trace_results import Generation, Goal, Results, Summary

# Other benches import DEFAULT_URL and Client from here.
__all__ = ["DEFAULT_URL", "Client", "main"]

RESULTS = Path(__file__).resolve().parent / "trace-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench"

GOALS = {"trace_p50_ms": 10.0, "trace_p99_ms": 30.0, "track_ms": 300.0, "track_min_descendants": 30_000}


# --- database ------------------------------------------------------------------------------------


def database_has_line(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn(url), connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM lots_item WHERE kind_id = 'cell'").fetchone()
            return bool(row and row[0] > 0)
    except psycopg.Error:
        return False


# --- figures -------------------------------------------------------------------------------------


def goals(results: Results) -> list[Goal]:
    rows: list[Goal] = []
    http = results.get("trace_http")
    rows.append(
        {
            "goal": f"trace p50 over HTTP <= {GOALS['trace_p50_ms']:g} ms",
            "value_ms": http["p50_ms"] if http else None,
            "met": (http["p50_ms"] <= GOALS["trace_p50_ms"]) if http else None,
        }
    )
    rows.append(
        {
            "goal": f"trace p99 over HTTP <= {GOALS['trace_p99_ms']:g} ms",
            "value_ms": http["p99_ms"] if http else None,
            "met": (http["p99_ms"] <= GOALS["trace_p99_ms"]) if http else None,
        }
    )
    for label, t in results.get("track", {}).items():
        big_enough = t["descendants"] >= GOALS["track_min_descendants"]
        medians = (
            ("http", t.get("http_median_ms")),
            ("selector", t.get("selector_median_ms")),
            ("cells_http", t.get("cells_http_median_ms")),
        )
        for how, value in medians:
            rows.append(
                {
                    "goal": f"track {label} {t['code']} ({t['descendants']:,} desc.) via {how} "
                    f"<= {GOALS['track_ms']:g} ms",
                    "value_ms": value,
                    "met": (value <= GOALS["track_ms"]) if (value is not None and big_enough) else None,
                    "note": ""
                    if big_enough
                    else f"fewer than {GOALS['track_min_descendants']:,} descendants at this size",
                }
            )
    return rows


def report(results: Results) -> None:
    def fmt(v: object) -> str:
        return "-" if v is None else (f"{v:,.2f}" if isinstance(v, float) else str(v))

    out = []
    gen = results.get("generation", {})
    out.append("")
    out.append("CellTrace trace/track benchmark")
    out.append(f"  database            {results['database']}")
    out.append(f"  sizes               {results['sizes']}")
    if gen:
        out.append(
            f"  generation          {gen.get('seconds', '-')} s"
            + (" (reused existing data)" if gen.get("reused") else "")
        )
        for k, v in gen.get("stage_seconds", {}).items():
            out.append(f"    {k:<40} {v:>8.1f} s")
    out.append(f"  items               {results['counts']['items']:,}")
    out.append(f"  lineage edges       {results['counts']['edges']:,}")
    out.append(f"  operations          {results['counts']['operations']:,}")
    out.append("")
    out.append(f"  {'trace of a random cell':<34}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'max ms':>10}")
    traces: tuple[tuple[str, str, Summary | None], ...] = (
        ("trace_http", "HTTP GET .../trace/", results.get("trace_http")),
        ("trace_http_stock_runserver", "  same, stock runserver (Nagle)", results.get("trace_http_stock_runserver")),
        ("trace_selector", "lineage_trace (in-process)", results.get("trace_selector")),
        ("trace_sql", "raw walk SQL (psycopg)", results.get("trace_sql")),
    )
    for key, label, s in traces:
        if s:
            out.append(
                f"  {label:<34}" + "".join(f"{v:>10.2f}" for v in (s["p50_ms"], s["p99_ms"], s["mean_ms"], s["max_ms"]))
            )
        elif key == "trace_http_stock_runserver" and results.get("trace_http"):
            out.append(f"  {label:<34}{'skipped':>10}")
        else:
            out.append(f"  {label:<34}{'unavailable':>10}")
    out.append(f"  ratio HTTP / raw SQL (p50)        {fmt(results.get('trace_ratio_http_over_sql_p50'))}")
    out.append("")
    out.append(f"  {'track (median of runs)':<44}{'desc.':>9}{'HTTP ms':>10}{'selector':>10}{'SQL ms':>10}")
    for label, t in results.get("track", {}).items():
        out.append(
            f"  {label + ' ' + t['code']:<44}{t['descendants']:>9,}{fmt(t.get('http_median_ms')):>10}"
            f"{fmt(t.get('selector_median_ms')):>10}{fmt(t.get('sql_median_ms')):>10}"
        )
    if not results.get("http", {}).get("available"):
        out.append(f"  HTTP unavailable: {results['http'].get('reason')}")
    out.append("")
    out.append("  goals")
    for g in results["goals"]:
        met = {True: "MET", False: "NOT MET", None: "n/a"}[g["met"]]
        note = f"  ({g['note']})" if g.get("note") else ""
        out.append(f"    {met:<8} {g['goal']}: {fmt(g['value_ms'])} ms{note}")
    print("\n".join(out))


# --- main ----------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it already holds a line")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--track-runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=100, help="stacking operations per transaction.atomic block")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes for cutting and stacking (each its own database connection)",
    )
    parser.add_argument("--server-conn-max-age", type=int, default=60)
    parser.add_argument(
        "--skip-stock-server", action="store_true", help="do not also measure trace against the unmodified runserver"
    )
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    if args.cells < 1:
        parser.error("--cells must be positive")
    return args


def sizes_found() -> dict[str, int]:
    """The sizes of the line already in the database (--keep)."""
    from lots.models import Item

    return {
        "cells": Item.objects.filter(kind_id="cell").count(),
        "sheets": Item.objects.filter(kind_id="electrode_sheet").count(),
        "lanes": Item.objects.filter(kind_id="slit_roll").count(),
        "coated_rolls": Item.objects.filter(kind_id="coated_roll").count(),
    }


def line_generate(args: argparse.Namespace, sizes: Sizes) -> Generation:
    """Migrate the fresh database, generate the line as "bench-operator", VACUUM ANALYZE; the
    generation's figures."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    log(f"migrated in {time.perf_counter() - t0:.1f} s")
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    log(f"generating {sizes.as_dict()}")
    t0 = time.perf_counter()
    info = generate(sizes, chunk=args.chunk, workers=args.workers, actor=user)
    seconds = time.perf_counter() - t0
    log(f"generated in {seconds:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "seconds": round(seconds, 1),
        "stage_seconds": info["stage_seconds"],
        "workers": args.workers,
        "chunk": args.chunk,
    }


def counts() -> dict[str, int]:
    from lots.models import Item
    from traceability.models import LineageEdge, Operation

    return {
        "items": Item.objects.count(),
        "edges": LineageEdge.objects.count(),
        "operations": Operation.objects.count(),
    }


def main() -> None:
    args = parse_args()
    env = django_environment(args.database_url)
    sizes = Sizes(args.cells)
    results: Results = {
        "database": args.database_url,
        "sizes": sizes.as_dict(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "goals_spec": GOALS,
    }
    reuse = args.keep and database_has_line(args.database_url)
    if not reuse:
        log(f"recreating {args.database_url}")
        database_recreate(args.database_url)

    import django

    django.setup()
    if reuse:
        log("reusing the existing line (--keep)")
        results["generation"] = {"reused": True}
        results["sizes"] = sizes_found()
    else:
        results["generation"] = line_generate(args, sizes)
    results["counts"] = counts()
    print(
        f"generation: {results['generation'].get('seconds', 'reused')} s; items {results['counts']['items']:,}; "
        f"edges {results['counts']['edges']:,}",
        flush=True,
    )

    measure(args, env, results)
    results["goals"] = goals(results)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    Path(args.output).write_text(json.dumps(results, indent=2, default=str) + "\n")
    report(results)
    log(f"results written to {args.output}")


if __name__ == "__main__":
    main()
