"""The CBV 2.0 words CellTrace's history is exported in: bizSteps, dispositions, event ids,
the Digital Link of an item and the URIs of stations and CellTrace's own extension terms."""

import uuid
from urllib.parse import quote

from django.conf import settings

from lots.identifiers import digital_link

# Every step is a TransformationEvent (inputs in, outputs out); the bizStep says what kind of
# work it was. Steps that make a cell out of parts assemble; formation and the tests inspect;
# filling dispenses electrolyte; the rest make new material (commissioning its identifiers).
BIZ_STEP_BY_STEP: dict[str, str] = {
    "mixing": "commissioning",
    "coating": "commissioning",
    "drying": "commissioning",
    "calendering": "commissioning",
    "slitting": "commissioning",
    "post_drying": "commissioning",
    "cutting": "commissioning",
    "stacking": "assembling",
    "winding": "assembling",
    "tab_welding": "assembling",
    "packaging": "packing",
    "electrolyte_filling": "dispensing",
    "wetting": "storing",
    "sealing": "assembling",
    "formation": "inspecting",
    "degassing": "repairing",
    "aging": "storing",
    "eol_test": "inspecting",
}
DEFAULT_OPERATION_BIZ_STEP = "commissioning"

REGISTRATION_BIZ_STEP = "commissioning"
HOLD_BIZ_STEP = "holding"
MEASUREMENT_BIZ_STEP = "sensor_reporting"

ACTIVE = "active"
HELD = "non_sellable_other"
RECALLED = "recalled"  # a downstream hold: everything made from the item is called back

# The event types the export writes; the query's eventType must name one of the standard's.
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")

CBV_BIZ_STEP_PREFIXES = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")

# Event ids are name-based UUIDs of (source, row id) in a namespace of this site: the same row
# always exports under the same eventID, and no two rows share one.
_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ref.gs1.org/standards/epcis/")


def biz_step_of_step(step: str) -> str:
    return BIZ_STEP_BY_STEP.get(step, DEFAULT_OPERATION_BIZ_STEP)


def bare_biz_step(value: str) -> str:
    """`holding` from `holding`, `https://ref.gs1.org/cbv/BizStep-holding` or the URN form."""
    for prefix in CBV_BIZ_STEP_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def steps_with_biz_step(biz_steps: set[str], all_steps: list[str]) -> list[str]:
    return [step for step in all_steps if biz_step_of_step(step) in biz_steps]


def event_id(source: str, row_id: int) -> str:
    namespace = uuid.uuid5(_EVENT_NAMESPACE, settings.CELLTRACE_RESOLVER)
    return f"urn:uuid:{uuid.uuid5(namespace, f'{source}:{row_id}')}"


def item_uri(*, code: str, gtin_item_reference: int, level: str) -> str:
    """An item's GS1 Digital Link: the lot (LGTIN) of a batch item, the serial (SGTIN) of an instance."""
    return digital_link(code=code, gtin_item_reference=gtin_item_reference, level=level)


def station_uri(code: str) -> str:
    """A station has no GLN: it is named by a URI on this site's resolver."""
    return f"https://{settings.CELLTRACE_RESOLVER}/stations/{_safe(code)}"


def namespace_uri() -> str:
    """CellTrace's own terms (step, parameter, measurement, reason) inside exported events."""
    return f"https://{settings.CELLTRACE_RESOLVER}/epcis/"


def _safe(text: str) -> str:
    return quote(text, safe="")


# The CBV measurementType of a parameter, by its canonical unit (an EPCIS sensor report must
# name one); a parameter whose unit says nothing certain is named by its ontology IRI instead.
MEASUREMENT_TYPE_BY_UNIT: dict[str, str] = {
    "kg": "Mass",
    "g": "Mass",
    "mg": "Mass",
    "m": "Length",
    "mm": "Length",
    "um": "Length",
    "nm": "Length",
    "cm**2": "Area",
    "m**2": "Area",
    "L": "Volume",
    "ml": "Volume",
    "Pa": "Pressure",
    "kPa": "Pressure",
    "MPa": "Pressure",
    "mbar": "Pressure",
    "N": "Force",
    "V": "Voltage",
    "mV": "Voltage",
    "A": "ElectricCurrent",
    "Ah": "ElectricCharge",
    "Wh": "Energy",
    "kWh": "Energy",
    "ohm": "Resistance",
    "degC": "Temperature",
    "K": "Temperature",
    "s": "Time",
    "min": "Time",
    "h": "Time",
    "m/s": "Speed",
    "Pa*s": "DynamicViscosity",
    "percent": "Dimensionless",
    "ppm": "Dimensionless",
    "dimensionless": "Dimensionless",
    "count": "Count",
}


def measurement_type(*, unit: str, parameter: str, ontology_iri: str) -> str:
    found = MEASUREMENT_TYPE_BY_UNIT.get(unit)
    if found is not None:
        return found
    return ontology_iri or f"{namespace_uri()}parameters/{_safe(parameter)}"
