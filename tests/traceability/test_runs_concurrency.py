"""Two operators finishing (or starting) the same run at once, each in its own thread and
database connection: exactly one wins (real PostgreSQL row locks)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode
from tests.factories import register
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from tests.traceability.test_concurrency import _race, _seeded  # noqa: F401
from traceability.models import Operation
from traceability.runs import operation_finish, run_start
from traceability.services import InputSpec, OutputSpec

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def _open_run(actor: Any) -> Operation:
    slurry = register(actor, "slurry", 10, "kg", polarity="cathode")
    return run_start(
        actor=actor,
        step="coating",
        station="COAT-01",
        started_at=START,
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    ).operation


@pytest.mark.parametrize("operators", [2, 8])
def test_of_parallel_finishes_of_one_run_exactly_one_wins(operator, stations, operators):
    run = _open_run(operator)
    ends = [START + timedelta(minutes=30 + n) for n in range(operators)]

    outcomes = _race(
        *(lambda end=end: operation_finish(actor=operator, operation_id=run.pk, ended_at=end) for end in ends)
    )

    won = [value for kind, value in outcomes if kind == "ok"]
    lost = [value for kind, value in outcomes if kind == "error"]
    assert len(won) == 1, outcomes
    assert len(lost) == operators - 1
    assert all(isinstance(e, Conflict) and e.code == ErrorCode.OPERATION_FINISHED for e in lost), lost
    assert Operation.objects.get(pk=run.pk).ended_at == won[0].ended_at
    assert AuditEvent.objects.filter(action="operation.finish").count() == 1


def test_of_parallel_starts_at_one_station_exactly_one_opens_a_run(operator, stations):
    slurries = [register(operator, "slurry", 10, "kg", polarity="cathode").code for _ in range(4)]

    def start(code: str) -> Any:
        return lambda: run_start(
            actor=operator,
            step="coating",
            station="COAT-01",
            started_at=START,
            inputs=[InputSpec(code, 1, "kg", consume=False)],
            outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
        )

    outcomes = _race(*(start(code) for code in slurries))

    assert [kind for kind, _ in outcomes].count("ok") == 1, outcomes
    lost = [value for kind, value in outcomes if kind == "error"]
    assert all(isinstance(e, Conflict) and e.code == ErrorCode.RUN_OPEN for e in lost), lost
    assert Operation.objects.filter(station__code="COAT-01", ended_at__isnull=True).count() == 1
