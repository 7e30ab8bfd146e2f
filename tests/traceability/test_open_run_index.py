"""A year of closed runs: the scan's open-run query reads the partial index of open runs, not
the whole operation table."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from lots.models import Item
from tests.factories import register
from traceability.models import Operation, Station
from traceability.runs import run_start
from traceability.scanning import _open_operation_sql, open_operation_of
from traceability.services import InputSpec, OutputSpec

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db]

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
CLOSED_RUNS = 20_000


def _open_coating(actor: Any) -> tuple[Operation, Item]:
    slurry = register(actor, "slurry", 10, "kg", polarity="cathode")
    result = run_start(
        actor=actor,
        step="coating",
        station="COAT-01",
        started_at=START + timedelta(days=400),
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    )
    return result.operation, slurry


def test_open_run_query_uses_the_open_runs_index(engineer: Any, stations: dict[str, Station]) -> None:
    coat = stations["COAT-01"]
    Operation.objects.bulk_create(
        Operation(
            step_id="coating",
            station=coat,
            started_at=START + timedelta(minutes=20 * n),
            ended_at=START + timedelta(minutes=20 * n + 15),
        )
        for n in range(CLOSED_RUNS)
    )
    run, slurry = _open_coating(engineer)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Operation._meta.db_table}")
        params = [slurry.produced_by_id, slurry.pk, coat.pk, coat.pk, slurry.produced_by_id, slurry.pk]
        cursor.execute("EXPLAIN " + _open_operation_sql(), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "operation_open_idx" in plan, plan
    assert f"Seq Scan on {Operation._meta.db_table}" not in plan, plan
    # The index changes the path, not the answer.
    assert open_operation_of(slurry, coat) == run
