"""One EPCIS 2.0 event per CellTrace row: the JSON-LD objects of the events query."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.urls import reverse

from lots.models import Item, ItemLevel
from measurements.models import Measurement
from traceability.models import Hold, Operation, OperationInput

from .units import rec20_code
from .vocabulary import (
    ACTIVE,
    HELD,
    HOLD_BIZ_STEP,
    MEASUREMENT_BIZ_STEP,
    RECALLED,
    REGISTRATION_BIZ_STEP,
    biz_step_of_step,
    event_id,
    item_uri,
    measurement_type,
    namespace_uri,
    station_uri,
)

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CT = "celltrace:"  # the prefix of CellTrace's own terms, declared in the document's @context


def EPCIS_CONTEXT() -> list[Any]:  # noqa: N802 - reads as the constant it is, but settings decide it
    return [EPCIS_CONTEXT_URL, {"celltrace": namespace_uri()}]


@dataclass
class PageRows:
    """What the page's events list, fetched for the whole page at once."""

    inputs: dict[int, list[OperationInput]] = field(default_factory=dict)
    outputs: dict[int, list[Item]] = field(default_factory=dict)
    caught: dict[int, list[Item]] = field(default_factory=dict)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _number(value: Decimal | float) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _uri(item: Item) -> str:
    return item_uri(code=item.code, gtin_item_reference=item.kind.gtin_item_reference, level=item.kind.level)


def _quantity(item: Item, quantity: Decimal | float | None, unit: str) -> dict[str, Any]:
    element: dict[str, Any] = {"epcClass": _uri(item)}
    if quantity is not None:
        element["quantity"] = _number(quantity)
        code = rec20_code(unit)
        if code is not None:
            element["uom"] = code
    return element


Amount = tuple[Item, Decimal | float | None, str]  # an item, how much of it, in what unit


def _what(items: list[Amount], epc_key: str, quantity_key: str) -> dict[str, list[Any]]:
    """Instances by EPC, batches by class and quantity: the two halves of an event's `what`."""
    epcs = list(dict.fromkeys(_uri(item) for item, _, _ in items if item.kind.level == ItemLevel.INSTANCE))
    quantities = [_quantity(item, qty, unit) for item, qty, unit in items if item.kind.level == ItemLevel.BATCH]
    found: dict[str, list[Any]] = {}
    if epcs:
        found[epc_key] = epcs
    if quantities:
        found[quantity_key] = quantities
    return found


def _head(kind: str, source: str, row_id: int, event_time: datetime, record_time: datetime) -> dict[str, Any]:
    return {
        "type": kind,
        "eventID": event_id(source, row_id),
        "eventTime": _time(event_time),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": _time(record_time),
    }


def _object_what(items: list[Item]) -> dict[str, list[Any]]:
    amounts: list[Amount] = [(item, None, item.unit) for item in items]
    what = _what(amounts, "epcList", "quantityList")
    return what or {"epcList": []}


def registration_event(item: Item, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    event = _head("ObjectEvent", "registration", item.pk, item.created_at, record_time)
    event |= {"action": "ADD", "bizStep": REGISTRATION_BIZ_STEP, "disposition": ACTIVE}
    amount: list[Amount] = [(item, item.initial_quantity, item.unit)]
    event |= _what(amount, "epcList", "quantityList")
    if item.station is not None:
        event["readPoint"] = {"id": station_uri(item.station.code)}
    event[f"{CT}kind"] = item.kind.code
    if item.supplier_lot:
        event[f"{CT}supplierLot"] = item.supplier_lot
    return event


def operation_event(operation: Operation, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    moment = operation.ended_at or operation.started_at
    event = _head("TransformationEvent", "operation", operation.pk, moment, record_time)
    inputs = rows.inputs.get(operation.pk, [])
    outputs = rows.outputs.get(operation.pk, [])
    taken: list[Amount] = [(i.item, i.quantity, i.unit) for i in inputs]
    event |= _what(taken, "inputEPCList", "inputQuantityList")
    # What passes through (a cell at formation) comes out of the step as it went in.
    through: list[Amount] = [(i.item, None, i.unit) for i in inputs if i.passes_through]
    made: list[Amount] = [(item, item.initial_quantity, item.unit) for item in outputs]
    event |= _what(through + made, "outputEPCList", "outputQuantityList")
    event |= {
        "transformationID": event_id("transformation", operation.pk),
        "bizStep": biz_step_of_step(operation.step_id),
        "disposition": ACTIVE,
        "readPoint": {"id": station_uri(operation.station.code)},
        f"{CT}step": operation.step_id,
        f"{CT}startedAt": _time(operation.started_at),
    }
    return event


def _hold_common(hold: Hold, event: dict[str, Any], rows: PageRows) -> dict[str, Any]:
    event |= {"action": "OBSERVE", "bizStep": HOLD_BIZ_STEP}
    event |= _object_what(rows.caught.get(hold.pk, []))
    if hold.station is not None:
        event["readPoint"] = {"id": station_uri(hold.station.code)}
    if hold.stretch:
        event[f"{CT}stretch"] = {"fromM": hold.from_m, "toM": hold.to_m}
    return event


def hold_event(hold: Hold, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    event = _hold_common(hold, _head("ObjectEvent", "hold", hold.pk, hold.created_at, record_time), rows)
    event["disposition"] = RECALLED if hold.downstream else HELD
    event[f"{CT}reason"] = hold.reason
    return event


def release_event(hold: Hold, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    assert hold.released_at is not None  # the source selects released holds only
    event = _hold_common(hold, _head("ObjectEvent", "release", hold.pk, hold.released_at, record_time), rows)
    event["disposition"] = ACTIVE
    event[f"{CT}reason"] = hold.release_reason
    event[f"{CT}hold"] = event_id("hold", hold.pk)
    return event


def _sensor_report(measurement: Measurement, is_series: bool, base_url: str) -> dict[str, Any]:
    parameter = measurement.parameter
    report: dict[str, Any] = {
        "type": measurement_type(unit=parameter.unit, parameter=parameter.code, ontology_iri=parameter.ontology_iri),
        f"{CT}parameter": parameter.code,
    }
    if measurement.value is not None:
        report["value"] = measurement.value
    code = rec20_code(parameter.unit)
    if code is not None:
        report["uom"] = code
    else:
        report[f"{CT}unit"] = parameter.unit
    if measurement.file:
        report["rawData"] = base_url + reverse("measurement-file", args=[measurement.pk])
    elif is_series:
        report["rawData"] = base_url + reverse("measurement-detail", args=[measurement.pk])
    if measurement.uncertainty is not None:
        report[f"{CT}uncertainty"] = measurement.uncertainty
    if measurement.position_m is not None:
        report[f"{CT}positionM"] = measurement.position_m
    if measurement.instrument:
        report[f"{CT}instrument"] = measurement.instrument
    return report


def _measurement_body(measurement: Measurement, is_series: bool, event: dict[str, Any], base_url: str) -> None:
    event |= {"action": "OBSERVE", "bizStep": MEASUREMENT_BIZ_STEP}
    event |= _object_what([measurement.item] if measurement.item is not None else [])
    if measurement.station is not None:
        event["readPoint"] = {"id": station_uri(measurement.station.code)}
    event["sensorElementList"] = [{"sensorReport": [_sensor_report(measurement, is_series, base_url)]}]
    if measurement.operation_id is not None:
        event[f"{CT}operation"] = event_id("operation", measurement.operation_id)
    if measurement.room:
        event[f"{CT}room"] = measurement.room


def measurement_event(measurement: Any, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    event = _head("ObjectEvent", "measurement", measurement.pk, measurement.measured_at, record_time)
    _measurement_body(measurement, bool(measurement.subject_is_series), event, base_url)
    return event


def correction_event(correction: Any, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    """The corrected measurement's event declared in error, pointing at the correction's event:
    EPCIS keeps the eventID of the event in error."""
    old = correction.supersedes
    event = _head("ObjectEvent", "measurement", old.pk, old.measured_at, record_time)
    event["errorDeclaration"] = {
        "declarationTime": _time(correction.created_at),
        "reason": "incorrect_data",
        "correctiveEventIDs": [event_id("measurement", correction.pk)],
        f"{CT}reason": correction.correction_reason,
    }
    _measurement_body(old, bool(correction.subject_is_series), event, base_url)
    return event
