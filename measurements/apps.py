from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


class MeasurementsConfig(AppConfig):
    name = "measurements"
    verbose_name = "Parameters and measurements"

    def ready(self) -> None:
        from traceability.signals import operation_finishing, operation_recorded

        operation_recorded.connect(_parameters_record, dispatch_uid="measurements.operation_parameters")
        operation_finishing.connect(_run_end_check, dispatch_uid="measurements.run_end")
        post_migrate.connect(_partitions_ensure, sender=self, dispatch_uid="measurements.partitions")


def _parameters_record(sender: Any, *, operation: Any, actor: Any, **kwargs: Any) -> None:
    """Machine parameters sent with an operation become measurements of it."""
    from .services import operation_parameters_record

    if operation.parameters:
        operation_parameters_record(actor=actor, operation=operation)


def _run_end_check(sender: Any, *, operation: Any, ended_at: Any, **kwargs: Any) -> None:
    """A run does not end before a value its station already sent into it."""
    from .assignment import run_end_check

    run_end_check(operation=operation, ended_at=ended_at)


def _partitions_ensure(sender: Any, *, using: str = "default", **kwargs: Any) -> None:
    """Every migrate moves the partition horizon on (measurements.partitioning)."""
    from .partitioning import partitions_ensure

    partitions_ensure(connection=connections[using])
