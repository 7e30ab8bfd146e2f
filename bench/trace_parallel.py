"""Progress lines and the forked workers that record the line's cutting and stacking
operations for bench/trace.py (each worker its own database connection)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from support import log

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

Job = TypeVar("Job")


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


def _run_serial(jobs: Sequence[Job], run_one: Callable[[Job], int], chunk: int, progress: Progress) -> None:
    from django.db import transaction

    for start in range(0, len(jobs), chunk):
        with transaction.atomic():
            for job in jobs[start : start + chunk]:
                progress.add(run_one(job))


def _worker(part: Sequence[Job], run_one: Callable[[Job], int], chunk: int, done: Synchronized[int]) -> None:
    """A forked child: `chunk` jobs per transaction.atomic block, the count of recorded units
    added to the shared `done` after each block; exits the process (1 on any failure)."""
    from django.db import connections, transaction

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


def run_parallel(label: str, jobs: Sequence[Job], run_one: Callable[[Job], int], workers: int, *, chunk: int) -> None:
    """Run `jobs` through `run_one` (which calls operation_record) in `workers` forked
    processes, each with its own database connection, `chunk` jobs per transaction.atomic
    block. Returns when all are done; raises if a worker failed."""
    import multiprocessing as mp

    from django.db import connections

    progress = Progress(label, sum(getattr(job, "units", 1) for job in jobs))
    if workers <= 1 or len(jobs) < 2:
        _run_serial(jobs, run_one, chunk, progress)
        return

    ctx = mp.get_context("fork")
    done = ctx.Value("q", 0)
    connections.close_all()  # each child opens its own
    # Interleaved, so each worker gets a share of every part of the month.
    procs = [
        ctx.Process(target=_worker, args=(jobs[i::workers], run_one, chunk, done), daemon=True) for i in range(workers)
    ]
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
