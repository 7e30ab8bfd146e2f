"""A cell for the passport tests: active-material lots, slurries, packaging, formation and
end-of-line values, built through the services."""

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User

from lots.models import Item
from measurements.models import Measurement
from measurements.services import MeasurementInput, measurement_record
from tests.factories import T0, register
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

TECH = ("performanceAndDurability", "batteryTechicalProperties")
SITE = {
    "CELLTRACE_SITE_COUNTRY": "DE",
    "CELLTRACE_SITE_POSTAL_CODE": "89081",
    "CELLTRACE_SITE_STREET": "Helmholtzstrasse 8",
}


def url(code: str) -> str:
    return f"/api/items/{code}/passport/"


def passport_cell(engineer: User, *, extra_lots: int = 0, **attributes: Any) -> Item:
    """Active-material lots -> slurries -> a packaged cell (attributes as recorded at packaging)."""
    cam = register(
        engineer, "cathode_active_material", 10, "kg", supplier_lot="NMC-24-1", attributes={"material": "NMC811"}
    )
    aam = register(
        engineer, "anode_active_material", 10, "kg", supplier_lot="G-24-7", attributes={"material": "graphite"}
    )
    extra = [register(engineer, "conductive_additive", 1, "kg") for _ in range(extra_lots)]
    slurries = []
    for hour, (lot, polarity) in enumerate([(cam, "cathode"), (aam, "anode")]):
        mixing = operation_record(
            actor=engineer,
            step="mixing",
            station="MIX-01",
            started_at=T0 + timedelta(hours=hour),
            inputs=[InputSpec(lot.code, 1, "kg")] + [InputSpec(x.code, 0.01, "kg") for x in extra],
            outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg", polarity=polarity)],
        )
        slurries.append(mixing.outputs[0])
    packaging = operation_record(
        actor=engineer,
        step="packaging",
        station="STK-01",
        started_at=T0 + timedelta(hours=3),
        ended_at=T0 + timedelta(hours=3, minutes=5),
        inputs=[InputSpec(s.code, 0.1, "kg") for s in slurries],
        outputs=[OutputSpec(kind="cell", attributes=attributes, made_from=[StretchSpec(s.code) for s in slurries])],
    )
    return packaging.outputs[0]


def measure(engineer: User, cell: Item, parameter: str, value: float, unit: str, hours: float = 30) -> Measurement:
    data = MeasurementInput(
        parameter=parameter, value=value, unit=unit, item=cell.code, measured_at=T0 + timedelta(hours=hours)
    )
    return measurement_record(actor=engineer, data=data).measurement


def formed_and_tested(engineer: User, cell: Item) -> None:
    operation_record(
        actor=engineer,
        step="formation",
        station="FORM-01",
        started_at=T0 + timedelta(hours=5),
        inputs=[InputSpec(cell.code, consume=False)],
        outputs=[],
        parameters={
            "formation_upper_cutoff_voltage": {"value": 4200, "unit": "mV"},
            "formation_lower_cutoff_voltage": {"value": 2.8, "unit": "V"},
        },
    )
    measure(engineer, cell, "formation_discharge_capacity", 4.61, "Ah", hours=25)
    measure(engineer, cell, "formation_internal_resistance", 16.4, "mohm", hours=25)
    measure(engineer, cell, "eol_capacity", 4630, "mAh")
    measure(engineer, cell, "eol_discharge_energy", 16.9, "Wh")
    measure(engineer, cell, "eol_dcir", 17.2, "mohm")
    measure(engineer, cell, "eol_cell_mass", 91.5, "g")
    measure(engineer, cell, "self_discharge_rate", 2.5, "percent/month", hours=28)
