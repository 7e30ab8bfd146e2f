"""A scan reads twice at most, and what changes between the reads is a clean answer, not a 500:
a station created after it was looked up is still unknown to that scan (400), a run finished
after it was found open is a 409 asking to scan again."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from tests.factories import register
from traceability.models import Operation, Station
from traceability.runs import run_start
from traceability.services import InputSpec, OutputSpec

pytestmark = pytest.mark.django_db

SCAN = "/api/scan/"
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@contextmanager
def after_query(marker: str, write: Callable[[], object]) -> Iterator[None]:
    """Run `write` once, right after the first query whose SQL holds `marker`: another terminal
    changing the line between two reads of one scan."""
    done = False

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal done
        result = execute(sql, params, many, context)
        if not done and marker in sql:
            done = True
            write()
        return result

    with connection.execute_wrapper(wrapper):
        yield
    assert done, f"no query held {marker!r}"


def test_an_unknown_station_is_one_read_and_a_400(operator_client, stations, django_assert_num_queries):
    with django_assert_num_queries(2):  # the token with its user and role; the station
        response = operator_client.post(SCAN, {"code": "ANY", "station": "NOPE-01"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unknown_station" and "station" in response.json()["errors"]


def test_a_station_created_between_reads_is_still_unknown_to_that_scan(operator, operator_client, stations):
    roll = register(operator, "coated_roll", 100, "m", polarity="cathode")
    with after_query("scan_step", lambda: Station.objects.create(code="NEW-01", name="New")):
        response = operator_client.post(SCAN, {"code": roll.code, "station": "NEW-01"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unknown_station"
    # the next scan finds it
    assert operator_client.post(SCAN, {"code": roll.code, "station": "NEW-01"}, format="json").status_code == 200


def _open_coating(actor: Any) -> tuple[Operation, str]:
    slurry = register(actor, "slurry", 10, "kg", polarity="cathode")
    result = run_start(
        actor=actor,
        step="coating",
        station="COAT-01",
        started_at=START,
        inputs=[InputSpec(slurry.code, 1, "kg", consume=False)],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    )
    return result.operation, slurry.code


def test_a_run_finished_between_reads_is_a_409_to_scan_again(operator, operator_client, stations):
    run, slurry = _open_coating(operator)
    finish = lambda: Operation.objects.filter(pk=run.pk).update(ended_at=START)  # noqa: E731
    with after_query("scan_elsewhere", finish):
        response = operator_client.post(SCAN, {"code": slurry, "station": "COAT-01"}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "operation_finished" and "code" in response.json()["errors"]
    again = operator_client.post(SCAN, {"code": slurry, "station": "COAT-01"}, format="json")
    assert again.status_code == 200 and again.json()["open_operation"] is None
