"""Fixtures of the measurement tests: a small catalog of our own (not the catalog file), the
factory line, and cheaper subjects (one coated roll, one lone cell) where the line is not needed."""

import gc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from lots.models import Item
from lots.services import item_register
from measurements.models import Parameter
from tests.factories import T0, Line, build_line, register
from traceability.services import InputSpec, OutputSpec, operation_record


def parameter(code: str, **fields: Any) -> Parameter:
    """A step parameter of high ML criticality unless told otherwise."""
    defaults: dict[str, Any] = {
        "name": code.replace("_", " "),
        "scope": "step",
        "category": "SP",
        "criticality_ml": "high",
    }
    return Parameter.objects.create(code=code, **(defaults | fields))


@pytest.fixture
def catalog(db: Any) -> dict[str, Parameter]:
    """Parameters named after what they are, with `_t` so they cannot be mistaken for the
    catalog file's rows."""
    rows = [
        parameter(
            "mass_loading_t",
            step_id="coating",
            unit="mg/cm**2",
            typical_min=18,
            typical_max=24,
            file_types=["csv", "png"],
        ),
        parameter("coating_thickness_t", step_id="coating", unit="um", typical_min=50, typical_max=200),
        parameter("coating_speed_t", step_id="coating", category="MP", unit="m/min", typical_min=0.5, typical_max=5),
        parameter(
            "drying_temperature_t",
            step_id="drying",
            category="PP",
            unit="degC",
            typical_min=20,
            typical_max=150,
            criticality_ml="intermediate",
        ),
        parameter("sheet_mass_t", step_id="cutting", unit="mg", typical_min=10, typical_max=20),
        parameter("stack_pressure_t", step_id="stacking", category="MP", unit="kPa", criticality_ml="low"),
        parameter(
            "formation_capacity_t",
            step_id="formation",
            category="PP",
            unit="mA*h",
            typical_min=900,
            typical_max=1100,
            file_types=["csv"],
        ),
        parameter(
            "dew_point_t",
            scope="environment",
            step=None,
            category="PP",
            unit="degC",
            typical_min=-80,
            typical_max=-40,
        ),
        parameter("active_ratio_t", step_id="mixing", category="MP", unit="dimensionless"),
    ]
    return {p.code: p for p in rows}


@pytest.fixture
def line(engineer: User, stations: dict[str, Any]) -> Line:
    """The factory line: 2 lanes x 8 sheets, 4 cells of 4 sheets; every station in dry-room-1."""
    return build_line(engineer)


@pytest.fixture
def coated_roll(engineer: User, stations: dict[str, Any]) -> Item:
    """A 100 m cathode roll coated at COAT-01 from T0+2h to T0+3h (one operation: cheaper than
    the factory line where the genealogy below the roll does not matter)."""
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    return operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0 + timedelta(hours=2),
        ended_at=T0 + timedelta(hours=3),
        inputs=[InputSpec(slurry.code, 8, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    ).outputs[0]


@pytest.fixture
def cell(engineer: User) -> Item:
    """A cell registered on its own: an instance item without a length."""
    return item_register(actor=engineer, kind="cell")


@pytest.fixture
def gc_collections() -> Iterator[list[int]]:
    """The generations collected while the test runs (gc's own callback)."""
    seen: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    yield seen
    gc.callbacks.remove(record)
