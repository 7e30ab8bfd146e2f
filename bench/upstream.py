"""Time GET /api/measurements/?item=<cell>&upstream=true with 2,000,000 measurements stored.

Uses the line that bench/trace.py generates (database celltrace_bench; run that first). Loads
online profiles along every coated and calendered roll with COPY (set-up, not measured), then
times the upstream roll map of random cells in-process and over HTTP, against the raw walk SQL
of the same cells as the baseline of the same run.

    .venv/bin/python bench/upstream.py [--measurements 2000000] [--samples 50]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from support import MEASUREMENT_COPY_COLUMNS, percentile  # noqa: E402 - bench/ is on sys.path from here

if TYPE_CHECKING:
    from measurements.models import Parameter

PARAMETERS = (  # code, step, unit, typical range
    ("mass_loading", "coating", "mg/cm**2", 18.0, 24.0),
    ("coating_thickness", "coating", "um", 60.0, 90.0),
    ("electrode_thickness_calendered", "calendering", "um", 50.0, 80.0),
)


def parameters_ensure() -> list[Parameter]:
    """The three online parameters of the profiles, with their typical ranges."""
    from measurements.models import Parameter

    return [
        Parameter.objects.update_or_create(
            code=code,
            defaults={
                "name": code,
                "scope": "step",
                "step_id": step,
                "category": "SP",
                "unit": unit,
                "typical_min": low,
                "typical_max": high,
            },
        )[0]
        for code, step, unit, low, high in PARAMETERS
    ]


def profiles_load(rolls: list[tuple[int, float | None]], params: list[Parameter], need: int) -> int:
    """`need` online values along the rolls, evenly spaced on each, with COPY; returns the count."""
    from django.db import connection, transaction

    per_roll = need // len(rolls) + 1
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rng = random.Random(7)
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY measurements_measurement ({MEASUREMENT_COPY_COLUMNS}) FROM STDIN") as copy:
            for roll_id, length in rolls:
                step = (length or 1000.0) / per_roll
                for i in range(per_roll):
                    if written >= need:
                        break
                    parameter = params[i % len(params)]
                    value = rng.gauss(((parameter.typical_min or 0) + (parameter.typical_max or 0)) / 2, 0.5)
                    when = start + timedelta(seconds=i)
                    row = (parameter.pk, roll_id, round(i * step, 4), when, "online", "gauge", "", value, value)
                    copy.write_row((*row, parameter.unit, "", "", "", False, "", when))
                    written += 1
    return written


def roll_map_time(sample: list[tuple[int, str]]) -> dict[str, list[Any]]:
    """Per cell: the raw SQL, the selector and the request (seconds), and the values listed."""
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from lots.models import Item
    from measurements.selectors import measurements_upstream, upstream_rows

    timed: dict[str, list[Any]] = {"raw": [], "selector": [], "http": [], "counts": []}
    user, _ = User.objects.get_or_create(username="bench-upstream")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    for pk, code in sample[:5]:  # warm-up: the selector, and the first request's URL and view set-up
        measurements_upstream(item=Item.objects.get(pk=pk))
        client.get(f"/api/measurements/?item={code}&upstream=true")
    for pk, code in sample:
        item = Item.objects.get(pk=pk)
        t0 = time.perf_counter()
        upstream_rows(item)  # the two SQL statements alone: the baseline
        timed["raw"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        values = measurements_upstream(item=Item.objects.get(pk=pk))
        timed["selector"].append(time.perf_counter() - t0)
        timed["counts"].append(len(values))
        t0 = time.perf_counter()
        response = client.get(f"/api/measurements/?item={code}&upstream=true")
        timed["http"].append(time.perf_counter() - t0)
        assert response.status_code == 200, response.content[:200]
    return timed


def ms(values: list[float], q: float) -> float:
    return percentile(sorted(values), q) * 1000


def summary_print(total: int, cells: int, timed: dict[str, list[Any]]) -> None:
    raw, selector, http = timed["raw"], timed["selector"], timed["http"]
    print(f"\nupstream roll map of a cell, {total:,} measurements stored, {cells} cells")
    print(f"  values per cell (mean)            {statistics.fmean(timed['counts']):,.0f}")
    print(f"  {'':34}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"  {'raw SQL (walk, then values)':34}{ms(raw, 0.5):>10.1f}{ms(raw, 0.99):>10.1f}")
    print(f"  {'measurements_upstream (selector)':34}{ms(selector, 0.5):>10.1f}{ms(selector, 0.99):>10.1f}")
    print(f"  {'GET ...&upstream=true (in-process)':34}{ms(http, 0.5):>10.1f}{ms(http, 0.99):>10.1f}")
    r50, r99 = ms(http, 0.5) / ms(raw, 0.5), ms(http, 0.99) / ms(raw, 0.99)
    print(f"  ratio request / raw SQL           p50 {r50:.2f}  p99 {r99:.2f}", end="")
    print(f"  ceiling 2 x (issue 14): {'MET' if max(r50, r99) <= 2 else 'NOT MET'}; load average {os.getloadavg()}")
    met = ms(http, 0.5) <= 100
    print(f"  goal <= 100 ms: {'MET' if met else 'NOT MET'} ({ms(http, 0.5):.1f} ms p50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/celltrace_bench")
    parser.add_argument("--measurements", type=int, default=2_000_000)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_CONN_MAX_AGE"] = "60"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from lots.models import Item
    from measurements.models import Measurement

    call_command("migrate", verbosity=0)
    rolls = list(Item.objects.filter(kind_id__in=["coated_roll", "calendered_roll"]).values_list("id", "length_m"))
    cells = list(Item.objects.filter(kind_id="cell").values_list("id", "code"))
    if not rolls or not cells:
        sys.exit("No line in the database: run bench/trace.py first.")
    params = parameters_ensure()
    need = args.measurements - Measurement.objects.count()
    if need > 0:
        t0 = time.perf_counter()
        written = profiles_load(rolls, params, need)
        print(f"loaded {written:,} measurements with COPY in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        with connection.cursor() as cursor:  # what autovacuum would do (CI's PostgreSQL runs without it)
            cursor.execute(f"ANALYZE {Measurement._meta.db_table}")
    total = Measurement.objects.count()
    sample = random.Random(11).sample(cells, min(args.samples, len(cells)))
    summary_print(total, len(sample), roll_map_time(sample))


if __name__ == "__main__":
    main()
