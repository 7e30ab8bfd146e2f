"""Runs that are open while the machine streams.

A coating or calendering run is recorded when it starts, without `ended_at` (open), so that the
values the machine sends by station and time during the run find the roll being made; it is
finished when it ends. Finishing is the only change an operation ever takes: the append-only
trigger (audit.append_only, `once`) lets `ended_at` go from empty to a value once.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import Actor, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.values import moment_check

from .models import Operation, Station
from .services import OperationResult, operation_record
from .signals import operation_finishing

# A run ends now or before: a clock a little ahead (a machine's, a tablet's) is allowed, a typo
# of the year is not (a run finished in 2062 would catch the station's values for decades).
CLOCK_AHEAD = timedelta(minutes=5)


def runs_open(*, station: Station, step: str | None = None) -> QuerySet[Operation]:
    """The operations open at `station` (of `step`), the latest started first."""
    runs = Operation.objects.select_related("step", "station").filter(station=station, ended_at__isnull=True)
    return runs.filter(step_id=step) if step else runs


def _end_check(operation: Operation, ended_at: datetime | None) -> datetime:
    if ended_at is None:
        raise InvalidInput("ended_at is required: when the run ended.", field="ended_at")
    moment_check(ended_at, field="ended_at")
    if ended_at < operation.started_at:
        raise InvalidInput(
            f"ended_at is before the run started ({operation.started_at.isoformat()}).", field="ended_at"
        )
    if ended_at > timezone.now() + CLOCK_AHEAD:
        raise InvalidInput("ended_at is in the future: a run is finished when it has ended.", field="ended_at")
    return ended_at


def operation_finish(
    *, actor: Actor, operation_id: int, ended_at: datetime | None, from_station: str = ""
) -> Operation:
    """Close an open operation at `ended_at`: 404 unknown, 409 `operation_finished` when it has an
    end already, 400 on `ended_at` when it is missing, out of range, before the start, in the
    future, or before a value the station already sent into the run (measurements says which)."""
    with transaction.atomic():
        # Locked so that of two finishes of one run exactly one writes: the second waits for the
        # first to commit, then reads the end it wrote and is refused.
        operation = (
            Operation.objects.select_for_update(of=("self",))
            .select_related("step", "station")
            .filter(pk=operation_id)
            .first()
        )
        if operation is None:
            raise NotFound(f"No operation {operation_id}.")
        if operation.ended_at is not None:
            raise Conflict(
                f"Operation {operation.pk} was finished at {operation.ended_at.isoformat()}.",
                code=ErrorCode.OPERATION_FINISHED,
            )
        operation.ended_at = _end_check(operation, ended_at)
        operation_finishing.send(sender=Operation, operation=operation, ended_at=operation.ended_at)
        operation.save(update_fields=["ended_at"])
        audit_record(
            actor=actor,
            action="operation.finish",
            entity="operation",
            entity_id=operation.pk,
            station=from_station or operation.station.code,
            before={"ended_at": None},
            after={"ended_at": operation.ended_at.isoformat()},
        )
        return operation


def run_start(*, actor: Actor, step: str, station: str, **operation: Any) -> OperationResult:
    """Record an open run (operation_record without `ended_at`), refused (409 `run_open`) while a
    run of the same step is open at the station: the values sent by station and time would go
    to the later one only, and the first would stay open, forgotten. Another step at the same
    station (a coater's inline dryer) may run alongside: a value names its parameter's step."""
    with transaction.atomic():
        # The station row is locked so that two operators starting at once do not both pass.
        locked = Station.objects.select_for_update().filter(code=station).first()
        running = runs_open(station=locked, step=step).first() if locked is not None else None
        if running is not None:
            raise Conflict(
                f"Run {running.pk} of {step} is open at {station} since {running.started_at.isoformat()}: "
                "finish it first.",
                field="step",
                code=ErrorCode.RUN_OPEN,
            )
        return operation_record(actor=actor, step=step, station=station, ended_at=None, **operation)
