"""Fixtures of the connector tests: two parameters of our own for the API tests; a coating run
at COAT-01 (07:00-08:00 at 1 m/min), the parameters it feeds, and connectors made straight in
the database (the API has its own tests)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from connectors.models import Connector, ConnectorMapping, ConnectorStatus
from lots.models import Item
from measurements.models import Parameter
from tests.faults.services import cluster  # noqa: F401  (the private PostgreSQL of the spool's fault tests)
from tests.support import seed_kinds_and_steps
from traceability.services import OutputSpec, operation_record

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
BROKER = "mqtt://127.0.0.1:1883"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def coating(engineer: User, request: pytest.FixtureRequest) -> Item:
    """The roll coated at COAT-01 from 07:00 to 08:00 at 1 m/min, and the parameters."""
    seed_kinds_and_steps()  # a transactional test before this one truncated the seeds
    request.getfixturevalue("stations")
    Parameter.objects.create(
        code="ct_thickness", name="Coating thickness", scope="step", step_id="coating", category="SP", unit="um"
    )
    Parameter.objects.create(
        code="ct_dew_point", name="Dew point", scope="environment", step=None, category="PP", unit="degC"
    )
    result = operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        inputs=[],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m", code="CR-conn", polarity="cathode")],
        parameters={"coating_speed": {"value": 1, "unit": "m/min"}},
    )
    return result.outputs[0]


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test alone: tests share the broker."""
    return f"ct-test/{uuid.uuid4().hex[:12]}"


ConnectorMake = Callable[..., Connector]


@pytest.fixture
def connector_make(coating: Item) -> ConnectorMake:
    def make(code: str, mappings: list[dict[str, Any]], *, kind: str = "mqtt", **fields: Any) -> Connector:
        connector = Connector.objects.create(
            code=code, kind=kind, endpoint=fields.pop("endpoint", BROKER), options=fields.pop("options", {}), **fields
        )
        for m in mappings:
            station = m.pop("station", None)
            ConnectorMapping.objects.create(
                connector=connector,
                station_id=None if station is None else _station_id(station),
                parameter=Parameter.objects.get(code=m.pop("parameter")),
                **m,
            )
        ConnectorStatus.objects.create(connector=connector)
        return connector

    return make


def _station_id(code: str) -> int:
    from traceability.models import Station

    return Station.objects.get(code=code).pk


@pytest.fixture
def parameters(db: Any) -> dict[str, Parameter]:
    rows = [
        Parameter(
            code="mass_loading_c", name="mass loading", scope="step", step_id="coating", category="SP", unit="mg/cm**2"
        ),
        Parameter(code="dew_point_c", name="dew point", scope="room", category="PP", unit="degC"),
        Parameter(
            code="rpm_c", name="mixer speed", scope="step", step_id="mixing", category="MP", unit="dimensionless"
        ),
    ]
    return {p.code: Parameter.objects.bulk_create([p])[0] for p in rows}
