from typing import Any

from django.apps import AppConfig


class MeasurementsConfig(AppConfig):
    name = "measurements"
    verbose_name = "Parameters and measurements"

    def ready(self) -> None:
        from traceability.signals import operation_recorded

        operation_recorded.connect(_parameters_record, dispatch_uid="measurements.operation_parameters")


def _parameters_record(sender: Any, *, operation: Any, actor: Any, **kwargs: Any) -> None:
    """Machine parameters sent with an operation become measurements of it."""
    from .services import operation_parameters_record

    if operation.parameters:
        operation_parameters_record(actor=actor, operation=operation)
