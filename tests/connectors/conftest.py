"""Fixtures of the connector tests: two parameters of our own and the line's stations."""

from typing import Any

import pytest

from measurements.models import Parameter


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
