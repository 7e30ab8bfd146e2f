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
import http.client
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from support import Server, database_recreate, django_environment, dsn, log

RESULTS = Path(__file__).resolve().parent / "trace-results.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench"

SHEETS_PER_LANE = 1250
LANES_PER_ROLL = 4
SHEET_M = 0.8
COATED_M = 1000.0
CALENDERED_M = 1040.0
HEAD_M = 20.0  # metres of each lane left before the first sheet (head; the tail is the rest)
SLURRIES_PER_CAM_LOT = 6
SHEETS_PER_CELL_PER_POLARITY = 10
BASE_TIME = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
MONTH = timedelta(days=30)

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


# --- the line ------------------------------------------------------------------------------------


class Sizes:
    def __init__(self, cells: int) -> None:
        self.cells = cells
        self.sheets_per_polarity = SHEETS_PER_CELL_PER_POLARITY * cells
        self.lanes_per_polarity = math.ceil(self.sheets_per_polarity / SHEETS_PER_LANE)
        self.rolls_per_polarity = math.ceil(self.lanes_per_polarity / LANES_PER_ROLL)
        self.cam_lots = math.ceil(self.rolls_per_polarity / SLURRIES_PER_CAM_LOT)

    def as_dict(self) -> dict[str, int]:
        return {
            "cells": self.cells,
            "sheets": 2 * self.sheets_per_polarity,
            "lanes": 2 * self.lanes_per_polarity,
            "coated_rolls": 2 * self.rolls_per_polarity,
            "active_material_lots_per_polarity": self.cam_lots,
        }


# Per polarity: the active-material kind, the materials (supplier lot names), and the recipe of
# one 100 kg slurry (what each mixing takes from its lots) and what coating takes of it.
POLARITY = {
    "cathode": {
        "am": "cathode_active_material",
        "am_name": "NMC811",
        "carbon": "Super C65",
        "binder": "PVDF 5130",
        "solvent": "NMP",
        "foil": "Al 15 um",
        "recipe": {"am": 62.0, "carbon": 2.0, "binder": 2.0, "solvent_l": 33.0},
        "slurry_kg": 100.0,
        "coat_kg": 92.0,
        "loading": 21.5,
    },
    "anode": {
        "am": "anode_active_material",
        "am_name": "Graphite SMG",
        "carbon": "Super C45",
        "binder": "CMC/SBR",
        "solvent": "DI water",
        "foil": "Cu 10 um",
        "recipe": {"am": 48.0, "carbon": 1.0, "binder": 1.5, "solvent_l": 50.0},
        "slurry_kg": 100.0,
        "coat_kg": 92.0,
        "loading": 11.8,
    },
}


class Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = self.last = time.perf_counter()
        self.reported_end = False

    def set(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        tty = sys.stderr.isatty()
        finished = self.done >= self.total
        if now - self.last >= (1.0 if tty else 10.0) or (finished and not self.reported_end):
            self.last = now
            self.reported_end = finished
            rate = self.done / max(now - self.started, 1e-9)
            line = f"  {self.label}: {self.done:,}/{self.total:,} ({rate:,.0f}/s, {now - self.started:,.1f} s)"
            if tty:
                log(f"\r{line}   ", end="" if not finished else "\n")
            else:
                log(line)

    def add(self, n: int = 1) -> None:
        self.set(self.done + n)


class Schedule:
    """When each operation happened: the month is cut into one window per pair of coated rolls
    (one cathode, one anode); a window's electrode steps come first, its cells are stacked over
    the following window, so the line runs as a pipeline."""

    def __init__(self, sizes: Sizes) -> None:
        self.window = MONTH / sizes.rolls_per_polarity
        self.cells_per_window = LANES_PER_ROLL * SHEETS_PER_LANE // SHEETS_PER_CELL_PER_POLARITY

    def electrode(self, roll: int, polarity: str, step: int) -> tuple[datetime, datetime]:
        """step: 0 mixing, 1 coating, 2 calendering, 3 slitting, 4+k cutting lane k."""
        start = BASE_TIME + roll * self.window + timedelta(hours=3 * step + (1 if polarity == "anode" else 0))
        return start, start + timedelta(minutes=150)

    def cell(self, index: int) -> tuple[datetime, datetime]:
        roll, k = divmod(index, self.cells_per_window)
        start = BASE_TIME + roll * self.window + timedelta(hours=24) + self.window * (k / self.cells_per_window)
        return start, start + timedelta(seconds=150)


def _run_parallel(
    label: str, jobs: list[object], run_one: Callable[[object], int], workers: int, *, chunk: int
) -> None:
    """Run `jobs` through `run_one` (which calls operation_record) in `workers` forked
    processes, each with its own database connection, `chunk` jobs per transaction.atomic
    block. Returns when all are done; raises if a worker failed."""
    import multiprocessing as mp

    from django.db import connections, transaction

    total_units = sum(getattr(job, "units", 1) for job in jobs)
    progress = Progress(label, total_units)
    if workers <= 1 or len(jobs) < 2:
        for start in range(0, len(jobs), chunk):
            with transaction.atomic():
                for job in jobs[start : start + chunk]:
                    progress.add(run_one(job))
        return

    ctx = mp.get_context("fork")
    done = ctx.Value("q", 0)
    connections.close_all()  # each child opens its own

    def worker(part: list[object]) -> None:
        try:
            for start in range(0, len(part), chunk):
                units = 0
                with transaction.atomic():
                    for job in part[start : start + chunk]:
                        units += run_one(job)
                with done.get_lock():
                    done.value += units
        except BaseException:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        connections.close_all()
        os._exit(0)

    # Interleaved, so each worker gets a share of every part of the month.
    procs = [ctx.Process(target=worker, args=(jobs[i::workers],), daemon=True) for i in range(workers)]
    for proc in procs:
        proc.start()
    try:
        while any(proc.is_alive() for proc in procs):
            time.sleep(0.5)
            progress.set(done.value)
    finally:
        for proc in procs:
            proc.join()
    progress.set(done.value)
    failed = [proc.exitcode for proc in procs if proc.exitcode != 0]
    if failed:
        raise SystemExit(f"{label}: a worker failed (exit codes {failed}); see the traceback above.")


class CutJob(NamedTuple):
    lane: str
    sheet_codes: list[str]
    started: datetime
    ended: datetime

    @property
    def units(self) -> int:
        return 1


class StackJob(NamedTuple):
    station: str
    cathode: list[str]
    anode: list[str]
    code: str
    started: datetime
    ended: datetime

    @property
    def units(self) -> int:
        return 1


def generate(sizes: Sizes, *, chunk: int, workers: int, actor: object) -> dict[str, object]:
    from django.db import transaction

    from lots.models import ItemKind
    from lots.services import codes_allocate, item_register
    from traceability.services import InputSpec, OutputSpec, ScrapSpec, StretchSpec, operation_record, station_create

    stage_times: dict[str, float] = {}
    t = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stage_times[name] = round(now - t, 2)
        t = now

    stations = {
        "MIX-01": ("Planetary mixer 1", ["mixing"], "mixing-room"),
        "COAT-01": ("Coater-dryer 1", ["coating", "drying"], "coating-hall"),
        "CAL-01": ("Calender 1", ["calendering"], "coating-hall"),
        "SLT-01": ("Slitter 1", ["slitting"], "dry-room-1"),
        "CUT-01": ("Sheet cutter 1", ["cutting"], "dry-room-1"),
        "STK-01": ("Z-stacker 1", ["stacking"], "dry-room-1"),
        "STK-02": ("Z-stacker 2", ["stacking"], "dry-room-1"),
    }
    rolls = sizes.rolls_per_polarity
    schedule = Schedule(sizes)
    received = BASE_TIME - timedelta(days=2)

    # 1. Stations and raw material (goods receipt before the month starts).
    lots: dict[str, dict[str, list[str]]] = {}
    with transaction.atomic():
        for code, (name, steps, room) in stations.items():
            station_create(actor=actor, code=code, name=name, steps=steps, room=room)

        def register(pol: str, key: str, kind: str, count: int, quantity: float, unit: str) -> list[str]:
            material = POLARITY[pol][key]
            return [
                item_register(
                    actor=actor,
                    kind=kind,
                    quantity=quantity,
                    unit=unit,
                    supplier_lot=f"{material}-{i + 1:03d}",
                    created_at=received,
                    attributes={"material": material},
                ).code
                for i in range(count)
            ]

        for pol, p in POLARITY.items():
            r = p["recipe"]
            lots[pol] = {
                "am": register(pol, "am_name", p["am"], sizes.cam_lots, SLURRIES_PER_CAM_LOT * r["am"] + 20, "kg"),
                "carbon": register(pol, "carbon", "conductive_additive", 1, rolls * r["carbon"] + 5, "kg"),
                "binder": register(pol, "binder", "binder", math.ceil(rolls / 10), 10 * r["binder"] + 5, "kg"),
                "solvent": register(pol, "solvent", "solvent", math.ceil(rolls / 5), 5 * r["solvent_l"] + 20, "L"),
                "foil": register(pol, "foil", "current_collector_foil", math.ceil(rolls / 5), 5 * COATED_M + 200, "m"),
            }
    stage("stations and supplier lots")

    def electrode_step(r: int, pol: str, stage: int, step: str, station: str, **specs: Any) -> list[Any]:
        """The outputs of roll `r`'s `stage`-th electrode step, recorded in its slot of the schedule."""
        start, end = schedule.electrode(r, pol, stage)
        return operation_record(
            actor=actor, step=step, station=station, started_at=start, ended_at=end, **specs
        ).outputs

    # 2. Electrode steps per coated roll: mixing, coating, calendering, slitting (serial: few).
    lanes: dict[str, list[tuple[int, str]]] = {"cathode": [], "anode": []}
    progress = Progress("mixing, coating, calendering, slitting", 2 * rolls)
    for r in range(rolls):
        for pol, p in POLARITY.items():
            recipe, pol_lots = p["recipe"], lots[pol]
            with transaction.atomic():
                (slurry,) = electrode_step(
                    r,
                    pol,
                    0,
                    "mixing",
                    "MIX-01",
                    inputs=[
                        InputSpec(pol_lots["am"][r // SLURRIES_PER_CAM_LOT], recipe["am"], "kg"),
                        InputSpec(pol_lots["carbon"][0], recipe["carbon"], "kg"),
                        InputSpec(pol_lots["binder"][r // 10], recipe["binder"], "kg"),
                        InputSpec(pol_lots["solvent"][r // 5], recipe["solvent_l"], "L"),
                    ],
                    outputs=[OutputSpec(kind="slurry", quantity=p["slurry_kg"], unit="kg", polarity=pol)],
                    parameters={
                        "mixing_speed": {"value": 1500, "unit": "rpm"},
                        "mixing_time": {"value": 120, "unit": "min"},
                    },
                )

                # Part of the slurry on a 1000 m stretch of a foil roll.
                foil = pol_lots["foil"][r // 5]
                a = (r % 5) * COATED_M
                (coated,) = electrode_step(
                    r,
                    pol,
                    1,
                    "coating",
                    "COAT-01",
                    inputs=[InputSpec(slurry.code, p["coat_kg"], "kg"), InputSpec(foil, COATED_M, "m")],
                    outputs=[
                        OutputSpec(
                            kind="coated_roll",
                            quantity=COATED_M,
                            unit="m",
                            made_from=[StretchSpec(slurry.code), StretchSpec(foil, a, a + COATED_M)],
                        )
                    ],
                    parameters={
                        "coating_speed": {"value": 5, "unit": "m/min"},
                        "mass_loading": {"value": p["loading"], "unit": "mg/cm**2"},
                    },
                )

                # Unwound from its outer end; 1000 m become 1040 m.
                (calendered,) = electrode_step(
                    r,
                    pol,
                    2,
                    "calendering",
                    "CAL-01",
                    inputs=[InputSpec(coated.code)],
                    outputs=[
                        OutputSpec(
                            kind="calendered_roll",
                            quantity=CALENDERED_M,
                            unit="m",
                            made_from=[StretchSpec(coated.code, 0.0, COATED_M, reversed=True)],
                        )
                    ],
                    parameters={
                        "line_load": {"value": 1.2, "unit": "kN/mm"},
                        "roll_temperature": {"value": 80, "unit": "degC"},
                    },
                )

                made = electrode_step(
                    r,
                    pol,
                    3,
                    "slitting",
                    "SLT-01",
                    inputs=[InputSpec(calendered.code)],
                    outputs=[
                        OutputSpec(
                            kind="slit_roll",
                            quantity=CALENDERED_M,
                            unit="m",
                            lane=k,
                            made_from=[StretchSpec(calendered.code, 0.0, CALENDERED_M)],
                        )
                        for k in range(1, LANES_PER_ROLL + 1)
                    ],
                    parameters={"slitting_speed": {"value": 100, "unit": "m/min"}},
                )
                lanes[pol].extend((r, item.code) for item in made)
            progress.add()
    stage("mixing, coating, calendering, slitting")

    # 3. Cutting: one operation per lane, up to 1250 sheets of 0.8 m, codes taken up front in
    # one codes_allocate call so that parallel workers do not queue on the code sequence.
    sheet_prefix = ItemKind.objects.get(code="electrode_sheet").code_prefix
    cell_prefix = ItemKind.objects.get(code="cell").code_prefix
    sheet_codes = iter(codes_allocate(prefix=sheet_prefix, count=2 * sizes.sheets_per_polarity))
    sheets: dict[str, list[str]] = {"cathode": [], "anode": []}
    cut_jobs: list[CutJob] = []
    for pol in POLARITY:
        left = sizes.sheets_per_polarity
        for index, (r, lane) in enumerate(lanes[pol]):
            count = min(SHEETS_PER_LANE, left)
            if count <= 0:
                break
            codes = [next(sheet_codes) for _ in range(count)]
            start, end = schedule.electrode(r, pol, 4 + index % LANES_PER_ROLL)
            cut_jobs.append(CutJob(lane, codes, start, end))
            sheets[pol].extend(codes)
            left -= count
    cut_jobs.sort(key=lambda job: job.started)

    def cut(job: CutJob) -> int:
        used = len(job.sheet_codes) * SHEET_M
        operation_record(
            actor=actor,
            step="cutting",
            station="CUT-01",
            started_at=job.started,
            ended_at=job.ended,
            inputs=[InputSpec(job.lane)],
            outputs=[
                OutputSpec(
                    kind="electrode_sheet",
                    code=code,
                    made_from=[
                        StretchSpec(job.lane, round(HEAD_M + i * SHEET_M, 4), round(HEAD_M + (i + 1) * SHEET_M, 4))
                    ],
                )
                for i, code in enumerate(job.sheet_codes)
            ],
            parameters={"cutting_speed": {"value": 60, "unit": "1/min"}},
            scrap=[ScrapSpec(job.lane, CALENDERED_M - used, "m", "head, tail and unused length")],
        )
        return 1

    _run_parallel("cutting (one operation per lane)", cut_jobs, cut, workers, chunk=1)  # type: ignore[arg-type]
    stage("cutting")

    # 4. Stacking: one operation per cell, 10 cathode + 10 anode sheets in, the cell out.
    n = SHEETS_PER_CELL_PER_POLARITY
    cell_codes = codes_allocate(prefix=cell_prefix, count=sizes.cells)
    stack_jobs = [
        StackJob(
            ("STK-01", "STK-02")[i % 2],
            sheets["cathode"][i * n : (i + 1) * n],
            sheets["anode"][i * n : (i + 1) * n],
            cell_codes[i],
            *schedule.cell(i),
        )
        for i in range(sizes.cells)
    ]

    def stack(job: StackJob) -> int:
        operation_record(
            actor=actor,
            step="stacking",
            station=job.station,
            started_at=job.started,
            ended_at=job.ended,
            inputs=[InputSpec(code) for code in job.cathode + job.anode],
            outputs=[OutputSpec(kind="cell", code=job.code)],
            parameters={"stacking_speed": {"value": 0.8, "unit": "1/s"}},
        )
        return 1

    _run_parallel("stacking (one operation per cell)", stack_jobs, stack, workers, chunk=chunk)  # type: ignore[arg-type]
    stage("stacking")
    return {"stage_seconds": stage_times}


# --- measurement ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values_s: list[float]) -> dict[str, float]:
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


def measure(args: argparse.Namespace, env: dict[str, str], results: dict[str, object]) -> None:
    import psycopg
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from lots.models import Item
    from traceability.selectors import MAX_DEPTH, lineage_trace, lineage_track, walk_sql

    rng = random.Random(args.seed)
    cells = list(Item.objects.filter(kind_id="cell").order_by("id").values_list("id", "code"))
    sample = rng.sample(cells, min(args.samples, len(cells)))
    warm = rng.sample(cells, min(args.warmup, len(cells)))
    log(f"measuring trace over {len(sample)} random cells (of {len(cells)}), {len(warm)} warm-up calls")

    # The lots to track: the active-material lot with the most descendants, and the cathode carbon
    # lot that feeds every cathode slurry (the worst case of the line).
    up_sql = walk_sql("upstream", edges=True)
    down_sql = walk_sql("downstream", edges=True)
    raw = psycopg.connect(dsn(env["DATABASE_URL"]), autocommit=True)

    def raw_walk(sql: str, pk: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        with raw.cursor() as cur:
            cur.execute(sql, {"item": pk, "max_depth": MAX_DEPTH})
            rows = cur.fetchall()
        return len(rows), time.perf_counter() - t0

    def descendants(pk: int) -> int:
        # Rows whose first column is 0 are the walk's nodes, the start item among them.
        with raw.cursor() as cur:
            cur.execute(down_sql, {"item": pk, "max_depth": MAX_DEPTH})
            return sum(1 for row in cur.fetchall() if row[0] == 0) - 1

    am_lots = list(Item.objects.filter(kind_id="cathode_active_material").order_by("id").values_list("id", "code"))
    carbon = list(
        Item.objects.filter(kind_id="conductive_additive", supplier_lot__startswith=POLARITY["cathode"]["carbon"])
        .order_by("id")
        .values_list("id", "code")
    )
    # The first of the lots with the most descendants.
    counted = sorted((-descendants(pk), pk, code) for pk, code in am_lots)
    track_targets: list[tuple[str, int, str, int]] = []
    if counted:
        n, pk, code = -counted[0][0], counted[0][1], counted[0][2]
        track_targets.append(("active_material_lot", pk, code, n))
    if carbon:
        pk, code = carbon[0]
        track_targets.append(("carbon_lot_all_cathode", pk, code, descendants(pk)))

    # b. raw SQL
    for pk, _ in warm:
        raw_walk(up_sql, pk)
    raw_times, raw_rows = [], []
    for pk, _ in sample:
        n_rows, elapsed = raw_walk(up_sql, pk)
        raw_times.append(elapsed)
        raw_rows.append(n_rows)
    results["trace_sql"] = summary(raw_times) | {"rows_mean": round(statistics.fmean(raw_rows), 1)}

    # In-process selector (ORM item lookup + the walk + Python shaping), for the breakdown.
    for _, code in warm:
        lineage_trace(item=Item.objects.get(code=code))
    sel_times, sel_nodes = [], []
    for _, code in sample:
        t0 = time.perf_counter()
        g = lineage_trace(item=Item.objects.get(code=code))
        sel_times.append(time.perf_counter() - t0)
        sel_nodes.append(len(g.nodes))
    results["trace_selector"] = summary(sel_times) | {"nodes_mean": round(statistics.fmean(sel_nodes), 1)}

    # d. track through the selector and raw SQL
    tracks: dict[str, dict[str, object]] = {}
    for label, pk, code, n in track_targets:
        log(f"measuring track of {code} ({n} descendants)")
        sel, sql_t = [], []
        nodes = 0
        lineage_track(item=Item.objects.get(code=code))  # warm-up
        for _ in range(args.track_runs):
            t0 = time.perf_counter()
            g = lineage_track(item=Item.objects.get(code=code))
            sel.append(time.perf_counter() - t0)
            nodes = len(g.nodes)
        for _ in range(args.track_runs):
            sql_t.append(raw_walk(down_sql, pk)[1])
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + down_sql, {"item": pk, "max_depth": MAX_DEPTH})
            plan = [row[0] for row in cur.fetchall()]
        tracks[label] = {
            "code": code,
            "descendants": n,
            "selector_nodes": nodes,
            "sql_plan": plan,
            "selector_median_ms": round(statistics.median(sel) * 1000, 1),
            "sql_median_ms": round(statistics.median(sql_t) * 1000, 1),
        }
    raw.close()

    # a. HTTP
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    token, _ = Token.objects.get_or_create(user=user)
    server_env = dict(env) | {"DATABASE_CONN_MAX_AGE": str(args.server_conn_max_age)}
    http_info: dict[str, object] = {
        "available": False,
        "conn_max_age": args.server_conn_max_age,
        "server": "manage.py runserver --noreload, TCP_NODELAY on accepted sockets",
    }

    def trace_over_http(client: Client) -> dict[str, object]:
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
        return summary(times) | {
            "errors": bad,
            "bytes_mean": round(statistics.fmean(sizes)),
            "nodes_last": len(doc.get("nodes", [])),
            "edges_last": len(doc.get("edges", [])),
        }

    server = Server(server_env, nodelay=True)
    try:
        if not server.wait():
            http_info["reason"] = f"runserver did not start; see {server.log.name}"
        else:
            client = Client(server.port, token.key)
            status, body, _ = client.get(f"/api/items/{sample[0][1]}/trace/")
            if status != 200:
                http_info["reason"] = f"GET /api/items/{{code}}/trace/ answered {status}: {body[:200]!r}"
            else:
                http_info["available"] = True
                log("measuring trace over HTTP")
                results["trace_http"] = trace_over_http(client)
                for label, _pk, code, _n in track_targets:
                    log(f"measuring track of {code} over HTTP")
                    status, body, _ = client.get(f"/api/items/{code}/track/")
                    if status != 200:
                        tracks[label]["http_error"] = f"{status}: {body[:200]!r}"
                        continue
                    times = []
                    for _ in range(args.track_runs):
                        status, body, elapsed = client.get(f"/api/items/{code}/track/")
                        times.append(elapsed)
                    doc = json.loads(body)
                    tracks[label] |= {
                        "http_median_ms": round(statistics.median(times) * 1000, 1),
                        "http_nodes": len(doc.get("nodes", [])),
                        "http_bytes": len(body),
                    }
                    # "Which cells contain this lot?": the cells only, without the edges.
                    cells_url = f"/api/items/{code}/track/?kind=cell&edges=false"
                    client.get(cells_url)
                    times = []
                    for _ in range(args.track_runs):
                        status, body, elapsed = client.get(cells_url)
                        times.append(elapsed)
                    tracks[label] |= {
                        "cells_http_median_ms": round(statistics.median(times) * 1000, 1),
                        "cells_http_nodes": len(json.loads(body).get("nodes", [])),
                    }
    finally:
        server.stop()
    if http_info["available"] and not args.skip_stock_server:
        # The same trace against the unmodified runserver, to show the Nagle/delayed-ACK cost.
        server = Server(server_env, nodelay=False)
        try:
            if server.wait():
                log("measuring trace over HTTP against the stock runserver")
                results["trace_http_stock_runserver"] = trace_over_http(Client(server.port, token.key))
        finally:
            server.stop()
    if not http_info["available"]:
        log(f"HTTP unavailable: {http_info.get('reason')}")
    results["http"] = http_info
    results["track"] = tracks
    if "trace_http" in results:
        results["trace_ratio_http_over_sql_p50"] = round(
            results["trace_http"]["p50_ms"] / results["trace_sql"]["p50_ms"],
            2,  # type: ignore[index]
        )


def goals(results: dict[str, object]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    http = results.get("trace_http")
    rows.append(
        {
            "goal": f"trace p50 over HTTP <= {GOALS['trace_p50_ms']:g} ms",
            "value_ms": http["p50_ms"] if http else None,  # type: ignore[index]
            "met": (http["p50_ms"] <= GOALS["trace_p50_ms"]) if http else None,  # type: ignore[index]
        }
    )
    rows.append(
        {
            "goal": f"trace p99 over HTTP <= {GOALS['trace_p99_ms']:g} ms",
            "value_ms": http["p99_ms"] if http else None,  # type: ignore[index]
            "met": (http["p99_ms"] <= GOALS["trace_p99_ms"]) if http else None,  # type: ignore[index]
        }
    )
    for label, t in results.get("track", {}).items():  # type: ignore[union-attr]
        big_enough = t["descendants"] >= GOALS["track_min_descendants"]
        for how in ("http", "selector", "cells_http"):
            value = t.get(f"{how}_median_ms")
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


def report(results: dict[str, object]) -> None:
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
    for key, label in (
        ("trace_http", "HTTP GET .../trace/"),
        ("trace_http_stock_runserver", "  same, stock runserver (Nagle)"),
        ("trace_selector", "lineage_trace (in-process)"),
        ("trace_sql", "raw walk SQL (psycopg)"),
    ):
        s = results.get(key)
        if s:
            out.append(f"  {label:<34}" + "".join(f"{s[k]:>10.2f}" for k in ("p50_ms", "p99_ms", "mean_ms", "max_ms")))
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


def main() -> None:
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

    env = django_environment(args.database_url)

    sizes = Sizes(args.cells)
    results: dict[str, object] = {
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
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from lots.models import Item
    from traceability.models import LineageEdge, Operation

    if reuse:
        log("reusing the existing line (--keep)")
        results["generation"] = {"reused": True}
        results["sizes"] = {
            "cells": Item.objects.filter(kind_id="cell").count(),
            "sheets": Item.objects.filter(kind_id="electrode_sheet").count(),
            "lanes": Item.objects.filter(kind_id="slit_roll").count(),
            "coated_rolls": Item.objects.filter(kind_id="coated_roll").count(),
        }
    else:
        t0 = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        log(f"migrated in {time.perf_counter() - t0:.1f} s")
        user, _ = get_user_model().objects.get_or_create(username="bench-operator")
        user.groups.add(Group.objects.get_or_create(name="operator")[0])
        log(f"generating {sizes.as_dict()}")
        t0 = time.perf_counter()
        info = generate(sizes, chunk=args.chunk, workers=args.workers, actor=user)
        seconds = time.perf_counter() - t0
        results["generation"] = {
            "seconds": round(seconds, 1),
            "stage_seconds": info["stage_seconds"],
            "workers": args.workers,
            "chunk": args.chunk,
        }
        log(f"generated in {seconds:.1f} s")
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    results["counts"] = {
        "items": Item.objects.count(),
        "edges": LineageEdge.objects.count(),
        "operations": Operation.objects.count(),
    }
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
