"""One of each record row: a lot taken by an open operation (so a lineage edge), a hold on the
lot, and a measurement of it."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User

from audit.models import AuditEvent
from lots.models import Item
from measurements.models import Measurement, Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import T0, register
from traceability.holds import hold_place
from traceability.models import Hold, LineageEdge, Operation
from traceability.services import InputSpec, OutputSpec, operation_record


@dataclass
class Record:
    lot: Item
    operation: Operation
    edge: LineageEdge
    hold: Hold
    measurement: Measurement


@pytest.fixture
def record(operator: User, engineer: User, stations: Any) -> Record:
    lot = register(operator, "binder", 5, "kg", code="BND-REC")
    mixing = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        started_at=T0,
        inputs=[InputSpec(lot.code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg")],
    )
    assert mixing.operation.ended_at is None  # open
    Parameter.objects.create(code="binder_moisture_t", name="moisture", category="SP", unit="%", step_id="mixing")
    measured = measurement_record(
        actor=operator, data=MeasurementInput(parameter="binder_moisture_t", value=0.1, unit="%", item=lot.code)
    )
    hold = hold_place(actor=engineer, reason="moisture check", item=lot).hold
    assert AuditEvent.objects.exists()
    return Record(lot, mixing.operation, LineageEdge.objects.get(child=mixing.outputs[0]), hold, measured.measurement)
