#!/usr/bin/env python
"""The bulk endpoint's CSV path under cProfile, in-process: the view's own CSV reading
(api.views_bulk) and measurements.ingest.measurements_ingest on the bench's rows, in one
transaction rolled back at the end, so the figures show where the endpoint's time goes.

    .venv/bin/python bench/ingest_profile.py [--rows 200000] [--database-url URL] [--top 30]

The database (name containing "bench") is dropped, recreated and migrated, as bench/ingest.py does.
"""

import argparse
import cProfile
import gc
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from support import database_recreate, django_environment, log

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/celltrace_bench_ingest"


class _Raw:
    """A file, shaped as the view's request: `read(n)` of the body."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true", help="time only")
    parser.add_argument("--gc-off", action="store_true", help="the cycle collector off while timed")
    args = parser.parse_args()
    django_environment(args.database_url)
    database_recreate(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    from ingest_data import Setup, tables_prepare, write_csvs

    from api import views_bulk
    from measurements.ingest import measurements_ingest

    tables_prepare()
    setup = Setup()
    directory = Path(tempfile.mkdtemp(prefix="ingest-profile-"))
    api_csv, _ = write_csvs(setup, args.rows, directory)

    class _Request:
        _request = _Raw(api_csv)

    def run() -> int:
        body = views_bulk._Body(_Request())  # type: ignore[arg-type]
        header, rows = views_bulk._csv_rows(body, None)
        return measurements_ingest(actor=setup.user, rows=rows, header=header).count

    profile = None if args.no_profile else cProfile.Profile()
    with transaction.atomic():
        if args.gc_off:
            gc.disable()
        started, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        count = run()
        if profile is not None:
            profile.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        gc.enable()
        transaction.set_rollback(True)
    log(
        f"{count} rows in {seconds:.2f} s = {count / seconds:,.0f} rows/s; this process's CPU {cpu:.2f} s = "
        f"{count / cpu:,.0f} rows per CPU second{'' if profile is None else ' (profiled)'}"
    )
    if profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
