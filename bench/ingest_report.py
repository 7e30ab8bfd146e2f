"""The bulk-ingest bench's figures (bench/ingest.py): rows/s of each load, the ratios, memory and
goals, into its results and printed."""

import argparse
import os
from dataclasses import dataclass
from typing import Any

GOALS = {"bulk_vs_lean_copy_min": 0.5, "bulk_vs_naive_min": 5.0, "preloaded_bulk_vs_lean_copy_min": 0.5}


@dataclass
class Loads:
    """Seconds (or the endpoint's outcome) of each load, the best of --repeat where repeated."""

    lean_s: float
    copy_s: float
    small: dict[str, Any]
    full: dict[str, Any]
    naive_s: float
    preloaded: dict[str, Any] | None


@dataclass
class Rates:
    """Rows per second of each load; the preloaded two only with --preload-rows."""

    lean: float
    copy: float
    bulk: float
    naive: float
    preloaded: float | None
    lean_preloaded: float | None

    @classmethod
    def of(cls, args: argparse.Namespace, loads: Loads) -> "Rates":
        preloaded = loads.preloaded
        return cls(
            lean=args.rows / loads.lean_s,
            copy=args.rows / loads.copy_s,
            bulk=args.rows / loads.full["seconds"],
            naive=args.naive_rows / loads.naive_s,
            preloaded=None if preloaded is None else args.rows / preloaded["seconds"],
            lean_preloaded=None if preloaded is None else args.rows / preloaded["lean_copy_seconds"],
        )


def results_record(args: argparse.Namespace, results: dict[str, Any], loads: Loads, rates: Rates) -> None:
    """The figures, ratios, memory and goals, added to `results` (bench/ingest-results.json)."""
    full, small = loads.full, loads.small
    results |= {
        "psql_copy_lean": {"rows": args.rows, "seconds": round(loads.lean_s, 3), "rows_per_s": round(rates.lean)},
        "psql_copy_table": {"rows": args.rows, "seconds": round(loads.copy_s, 3), "rows_per_s": round(rates.copy)},
        "bulk_endpoint": {
            "rows": args.rows,
            "seconds": round(full["seconds"], 3),
            "rows_per_s": round(rates.bulk),
            "response": full["response"],
            "body_bytes": full["body_bytes"],
        },
        "naive_serializer": {
            "rows_timed": args.naive_rows,
            "seconds": round(loads.naive_s, 3),
            "rows_per_s": round(rates.naive),
            "note": "in-process (no HTTP, no CSV parsing timed); the rate on rows_timed stands for the full size",
        },
        "ratios": {
            "bulk_vs_lean_copy": round(rates.bulk / rates.lean, 3),
            "bulk_vs_table_copy": round(rates.bulk / rates.copy, 3),
            "table_copy_vs_lean_copy": round(rates.copy / rates.lean, 3),
            "bulk_vs_naive": round(rates.bulk / rates.naive, 2),
        },
        "memory": {
            "note": "runserver process, fresh per upload; VmHWM after the upload, VmRSS after one warm-up GET",
            f"upload_{args.memory_rows}_rows": {k: v for k, v in small.items() if k != "response"},
            f"upload_{args.rows}_rows": {k: v for k, v in full.items() if k != "response"},
        },
    }
    results["memory"]["peak_rss_ratio_large_vs_small"] = round(
        full["server_peak_rss_kib"] / small["server_peak_rss_kib"], 3
    )
    results["goals_met"] = {
        "bulk_vs_lean_copy": results["ratios"]["bulk_vs_lean_copy"] >= GOALS["bulk_vs_lean_copy_min"],
        "bulk_vs_naive": results["ratios"]["bulk_vs_naive"] >= GOALS["bulk_vs_naive_min"],
    }
    if loads.preloaded is not None and rates.preloaded is not None and rates.lean_preloaded is not None:
        preloaded_record(args, results, loads.preloaded, rates)
    results["load_average_at_end"] = os.getloadavg()


def preloaded_record(
    args: argparse.Namespace, results: dict[str, Any], preloaded: dict[str, Any], rates: Rates
) -> None:
    """(d)'s figures: the upload into the preloaded table and the lean \\copy holding the same rows."""
    assert rates.preloaded is not None and rates.lean_preloaded is not None
    results["bulk_endpoint_preloaded"] = {
        "preload_rows": args.preload_rows,
        "preload_seconds": round(preloaded["preload_seconds"], 1),
        "rows": args.rows,
        "seconds": round(preloaded["seconds"], 3),
        "rows_per_s": round(rates.preloaded),
    }
    results["psql_copy_lean_preloaded"] = {
        "rows_before": args.preload_rows + args.rows,
        "seconds": round(preloaded["lean_copy_seconds"], 3),
        "rows_per_s": round(rates.lean_preloaded),
    }
    results["ratios"]["preloaded_bulk_vs_lean_copy"] = round(rates.preloaded / rates.lean, 3)
    results["ratios"]["preloaded_bulk_vs_preloaded_lean_copy"] = round(rates.preloaded / rates.lean_preloaded, 3)
    results["ratios"]["preloaded_bulk_vs_empty_bulk"] = round(rates.preloaded / rates.bulk, 3)
    results["goals_met"]["preloaded_bulk_vs_lean_copy"] = (
        results["ratios"]["preloaded_bulk_vs_lean_copy"] >= GOALS["preloaded_bulk_vs_lean_copy_min"]
    )


def summary_print(args: argparse.Namespace, results: dict[str, Any], loads: Loads, rates: Rates) -> None:
    mib = 1024.0
    full, small, preloaded = loads.full, loads.small, loads.preloaded
    size = f"{results['csv_bytes'] / 2**20:,.0f} MiB of CSV"
    print(f"{args.rows:,} measurements, {size}, PostgreSQL {results['postgresql']}, {os.cpu_count()} CPUs")
    print(f"  load average at start {results['load_average_at_start']}, at end {results['load_average_at_end']}")
    print(f"  psql \\copy, lean table (ceiling) {rates.lean:>10,.0f} rows/s  ({loads.lean_s:.1f} s)")
    print(f"  psql \\copy, measurement table   {rates.copy:>10,.0f} rows/s  ({loads.copy_s:.1f} s)")
    print(f"  bulk endpoint (HTTP, CSV)        {rates.bulk:>10,.0f} rows/s  ({full['seconds']:.1f} s)")
    print(f"  naive serializer (in-proc)       {rates.naive:>10,.0f} rows/s  ({args.naive_rows:,} rows)")
    if preloaded is not None and rates.preloaded is not None:
        print(
            f"  bulk endpoint, {args.preload_rows:,} rows already in  {rates.preloaded:>10,.0f} rows/s  "
            f"({preloaded['seconds']:.1f} s; preload {preloaded['preload_seconds']:.0f} s)"
        )
    print(f"  bulk / lean \\copy   {rates.bulk / rates.lean:6.2f}   (goal >= {GOALS['bulk_vs_lean_copy_min']})")
    print(f"  table \\copy / lean  {rates.copy / rates.lean:6.2f}")
    if rates.preloaded is not None:
        print(f"  preloaded bulk / lean \\copy {rates.preloaded / rates.lean:6.2f}   (goal >= 0.5)")
    if rates.preloaded is not None and rates.lean_preloaded is not None:
        print(
            f"  psql \\copy, lean table holding the same rows {rates.lean_preloaded:,.0f} rows/s; "
            f"preloaded bulk / it {rates.preloaded / rates.lean_preloaded:6.2f}"
        )
    print(f"  bulk / naive         {rates.bulk / rates.naive:6.2f}   (goal >= {GOALS['bulk_vs_naive_min']})")
    print(
        f"  server peak RSS: {small['server_peak_rss_kib'] / mib:.0f} MiB after {args.memory_rows:,} rows, "
        f"{full['server_peak_rss_kib'] / mib:.0f} MiB after {args.rows:,} rows "
        f"(before upload {small['server_rss_before_kib'] / mib:.0f} / {full['server_rss_before_kib'] / mib:.0f} MiB)"
    )
    print(f"results: {args.output}")
