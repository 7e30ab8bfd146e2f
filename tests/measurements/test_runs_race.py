"""Finishing a run while its station's values arrive, each in its own thread and connection (real
PostgreSQL locks): afterwards no value assigned to the run lies after its end. A value holds its
run (FOR SHARE) until it commits, so a finish waits for it and sees it; a value read while a
finish was under way waits for that finish and finds the run ended."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from core.errors import InvalidInput
from measurements.models import Measurement, Parameter
from tests.factories import register
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from tests.traceability.test_concurrency import _race, _seeded  # noqa: F401
from traceability.models import Operation
from traceability.runs import operation_finish, run_start
from traceability.services import InputSpec, OutputSpec

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)


@pytest.fixture
def thickness(db: Any) -> Parameter:
    return Parameter.objects.create(
        code="race_thickness", name="Coating thickness", scope="step", step_id="coating", category="SP", unit="um"
    )


@pytest.fixture
def run(operator: Any, stations: Any, thickness: Parameter) -> Operation:
    slurry = register(operator, "slurry", 10, "kg", polarity="cathode")
    return run_start(
        actor=operator,
        step="coating",
        station="COAT-01",
        started_at=START,
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    ).operation


def _value(minutes: float) -> dict[str, Any]:
    at = (START + timedelta(minutes=minutes)).isoformat()
    return {"parameter": "race_thickness", "value": 100, "unit": "um", "station": "COAT-01", "measured_at": at}


def _after_the_end(run: Operation) -> list[Any]:
    ended_at = Operation.objects.get(pk=run.pk).ended_at
    assert ended_at is not None
    return list(Measurement.objects.filter(operation=run, measured_at__gt=ended_at).values_list("measured_at"))


def _send(client: APIClient, bulk: bool, minutes: list[float]) -> Any:
    if bulk:
        body = json.dumps([_value(m) for m in minutes])
        return client.post("/api/measurements/bulk/", body, content_type="application/json")
    [one] = minutes
    return client.post("/api/measurements/", _value(one), format="json")


@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
def test_a_value_read_while_a_finish_is_under_way_waits_and_finds_the_run_ended(operator, operator_client, run, bulk):
    """The finish holds the run (FOR UPDATE) and commits a second later; the value, sent in
    between, read the run as open. Without its share lock it was stored after the end."""
    finished = threading.Event()

    def finish() -> Any:
        with transaction.atomic():
            operation_finish(actor=operator, operation_id=run.pk, ended_at=END)
            finished.set()
            time.sleep(1.0)  # the value's request reads the run as open meanwhile
        return "finished"

    def value() -> Any:
        assert finished.wait(timeout=10)
        return _send(operator_client, bulk, [45] if not bulk else [10, 45]).status_code

    outcomes = _race(finish, value)
    assert outcomes[0] == ("ok", "finished"), outcomes
    assert outcomes[1] == ("ok", 400 if bulk else 409), outcomes
    assert _after_the_end(run) == []
    assert not Measurement.objects.filter(parameter__code="race_thickness").exists()  # the bulk stored no row


@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
def test_a_finish_waits_for_a_value_not_yet_committed_and_is_refused_before_it(operator, run, bulk):
    stored = threading.Event()

    def value() -> Any:
        client = APIClient()
        client.force_authenticate(operator)
        with transaction.atomic():
            # The request's own transaction is this one (atomic nests as a savepoint): it commits
            # a second after the value was assigned.
            status = _send(client, bulk, [45]).status_code
            stored.set()
            time.sleep(1.0)
        return status

    def finish() -> Any:
        assert stored.wait(timeout=10)
        return operation_finish(actor=operator, operation_id=run.pk, ended_at=END)

    outcomes = _race(value, finish)
    assert outcomes[0] == ("ok", 201), outcomes
    kind, error = outcomes[1]
    assert kind == "error" and isinstance(error, InvalidInput) and "ended_at" in error.errors, outcomes
    assert Operation.objects.get(pk=run.pk).ended_at is None


def test_values_racing_a_finish_never_lie_after_its_end(operator, run):
    """Many values around the end at once, one finish among them: whichever wins, none of the
    run's values is after the end it got (the finish is refused when a value beat it)."""
    clients = []
    for _ in range(8):
        client = APIClient()
        client.force_authenticate(operator)
        clients.append(client)
    minutes = [20, 25, 29, 31, 35, 40, 45, 50]
    calls: list[Any] = [
        lambda c=c, m=m: _send(c, False, [m]).status_code for c, m in zip(clients, minutes, strict=True)
    ]
    calls.append(lambda: operation_finish(actor=operator, operation_id=run.pk, ended_at=END))
    outcomes = _race(*calls)
    assert all(kind == "ok" or isinstance(value, InvalidInput) for kind, value in outcomes), outcomes
    assert all(value in (201, 409) for _, value in outcomes[:8]), outcomes
    if Operation.objects.get(pk=run.pk).ended_at is not None:
        assert _after_the_end(run) == []
    else:  # a value after 30 min committed first: the finish was refused
        assert isinstance(outcomes[8][1], InvalidInput)
