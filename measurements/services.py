"""Writes of measurements: one value, a correction, and the rules they share with bulk ingest."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.units import convert, ureg
from core.values import finite, finite_all, moment_check, number
from lots.models import Item
from lots.selectors import item_get
from traceability.models import Operation, Station
from traceability.services import station_get

from .files import upload_check
from .holds_limits import Violation, limit_holds_place, limit_subjects, limits_check
from .models import Measurement, Parameter, Scope, Source
from .selectors import InProcess, items_in_process
from .selectors_limits import limit_book

MAX_SERIES_POINTS = 1_000_000


@dataclass(frozen=True)
class MeasurementInput:
    parameter: str
    value: float | None = None
    unit: str | None = None
    series: dict[str, Any] | None = None
    item: str | None = None
    operation: int | None = None
    station: str | None = None
    room: str = ""
    position_m: float | None = None
    measured_at: datetime | None = None
    source: str = Source.OFFLINE
    instrument: str = ""
    method: str = ""
    uncertainty: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Linear:
    """value_in_canonical = scale * value + offset (offset only for degC-like units)."""

    scale: float
    offset: float

    def __call__(self, value: float) -> float:
        return self.scale * value + self.offset


def linear_to_canonical(unit: str | None, parameter: Parameter, *, field: str = "unit") -> Linear:
    """The conversion from `unit` to the parameter's canonical unit, checked once per unit."""
    if unit is None or unit == "":
        if ureg.Unit(parameter.unit).dimensionless:
            return Linear(1.0, 0.0)
        raise InvalidInput(
            f"A unit is required for {parameter.code} (canonical {parameter.unit}).",
            field=field,
            code=ErrorCode.BAD_UNIT,
        )
    zero = convert(0.0, unit, parameter.unit, field=field)
    one = convert(1.0, unit, parameter.unit, field=field)
    return Linear(one - zero, zero)


def parameter_get(code: object, *, field: str = "parameter") -> Parameter:
    try:
        return Parameter.objects.select_related("step").get(code=code)
    except (Parameter.DoesNotExist, ValueError, TypeError):
        raise InvalidInput(f"Unknown parameter {code!r}.", field=field, code=ErrorCode.UNKNOWN_PARAMETER) from None


def out_of_range(parameter: Parameter, values: Sequence[float]) -> bool:
    low, high = parameter.typical_min, parameter.typical_max
    return any((low is not None and v < low) or (high is not None and v > high) for v in values)


def series_to_canonical(series: object, parameter: Parameter, *, field: str = "series") -> dict[str, Any]:
    """{"x": [...], "y": [...], "x_unit", "x_kind": "time"|"position", "y_unit"?} with y in the
    canonical unit and x in s (time) or m (position)."""
    if not isinstance(series, dict):
        raise InvalidInput('series is {"x": [...], "y": [...], ...}.', field=field, code=ErrorCode.BAD_SERIES)
    x, y = series.get("x"), series.get("y")
    if not isinstance(x, list) or not isinstance(y, list) or not x:
        raise InvalidInput("series.x and series.y are non-empty lists.", field=f"{field}.x", code=ErrorCode.BAD_SERIES)
    if len(x) != len(y):
        raise InvalidInput(
            f"series.x has {len(x)} points and series.y {len(y)}.", field=f"{field}.y", code=ErrorCode.BAD_SERIES
        )
    if len(x) > MAX_SERIES_POINTS:
        raise InvalidInput(f"At most {MAX_SERIES_POINTS} points.", field=f"{field}.x", code=ErrorCode.BAD_SERIES)
    kind = series.get("x_kind", "time")
    if kind not in ("time", "position"):
        raise InvalidInput("x_kind is time or position.", field=f"{field}.x_kind", code=ErrorCode.BAD_SERIES)
    target = "s" if kind == "time" else "m"
    x_unit = series.get("x_unit") or target
    x_linear = Linear(
        convert(1.0, x_unit, target, field=f"{field}.x_unit") - convert(0.0, x_unit, target, field=f"{field}.x_unit"),
        0.0,
    )
    # Like a single value, a series of a dimensioned parameter says its unit (y_unit or unit).
    y_unit = series.get("y_unit")
    y_linear = linear_to_canonical(y_unit, parameter, field=f"{field}.y_unit" if y_unit else "unit")
    xs = [x_linear(_point(v, f"{field}.x[{i}]")) for i, v in enumerate(x)]
    ys = [y_linear(_point(v, f"{field}.y[{i}]")) for i, v in enumerate(y)]
    finite_all(xs, field=f"{field}.x")
    finite_all(ys, field=f"{field}.y")
    return {"x": xs, "y": ys, "x_unit": target, "x_kind": kind, "y_unit": parameter.unit}


def _point(value: object, field: str) -> float:
    """A JSON number (a series point in text would hide a typo)."""
    if isinstance(value, str):
        raise InvalidInput("A number is required.", field=field, code=ErrorCode.BAD_QUANTITY)
    return number(value, field=field)


def position_check(item: Item | None, position_m: object, *, field: str = "position_m") -> float | None:
    if position_m is None:
        return None
    position = number(position_m, field=field)
    if position < 0:
        raise InvalidInput("position_m cannot be negative.", field=field, code=ErrorCode.BAD_POSITION)
    if item is not None:
        if item.length_m is None:
            raise InvalidInput(
                f"{item.code} has no length; position_m does not apply.", field=field, code=ErrorCode.BAD_POSITION
            )
        if position > item.length_m + 1e-9:
            raise InvalidInput(
                f"position_m {position:g} is beyond the {item.length_m:g} m of {item.code}.",
                field=field,
                code=ErrorCode.BAD_POSITION,
            )
    return position


@dataclass(frozen=True)
class Assignment:
    item: Item
    operation: Operation
    position_m: float | None
    how: str  # "encoder", "line_speed" or "whole"


def in_process_error(found: InProcess, *, station: str, at: datetime) -> Conflict | None:
    """Why nothing can be assigned by station and time (None when an item was found)."""
    if found.reason == "no_operation":
        return Conflict(
            f"No operation ran at {station} at {at.isoformat()}.",
            field="measured_at",
            code=ErrorCode.NO_OPERATION_AT_STATION,
        )
    if found.reason == "several_items":
        return Conflict(
            f"Operation {found.operation_id} at {station} has several items in process; send the item.",
            field="item",
            code=ErrorCode.AMBIGUOUS_ITEM,
        )
    if found.reason:
        return Conflict(
            f"No item was in process at {station} at {at.isoformat()}; send the item.",
            field="item",
            code=ErrorCode.AMBIGUOUS_ITEM,
        )
    return None


def item_in_process(*, station: Station, at: datetime, step: str | None = None) -> tuple[Operation, Item]:
    """The item a station was working on at `at` (the rule: selectors.items_in_process)."""
    [found] = items_in_process([(station.pk, at, step)])
    error = in_process_error(found, station=station.code, at=at)
    if error is not None:
        raise error
    operation = Operation.objects.get(pk=found.operation_id or 0)
    return operation, Item.objects.select_related("kind").get(pk=found.item_id or 0)


def line_speed_m_per_s(operation: Operation) -> float | None:
    """The operation's line speed, from the first machine parameter that is a velocity."""
    velocity = ureg.Unit("m/s").dimensionality
    for entry in (operation.parameters or {}).values():
        unit = entry.get("unit") if isinstance(entry, dict) else None
        value = entry.get("value") if isinstance(entry, dict) else None
        if unit and isinstance(value, int | float):
            try:
                if ureg.Unit(unit).dimensionality == velocity:
                    return float(ureg.Quantity(value, unit).to("m/s").magnitude)
            except Exception:  # a free-form unit in an old operation: not a speed
                continue
    return None


def station_assign(*, station: Station, at: datetime, position_m: float | None, step: str | None = None) -> Assignment:
    operation, item = item_in_process(station=station, at=at, step=step)
    return assigned_position(operation, item, at, position_m)


def assigned_position(operation: Operation, item: Item, at: datetime, position_m: object) -> Assignment:
    """Where on `item` a value at `at` lies: the sent position, else the line speed's, else none."""
    if position_m is not None:
        return Assignment(item, operation, position_check(item, position_m), "encoder")
    speed = line_speed_m_per_s(operation)
    if item.length_m is not None and speed is not None:
        position = speed * (at - operation.started_at).total_seconds()
        if position > item.length_m + 1e-9:
            raise InvalidInput(
                f"At {speed * 60:g} m/min, {at.isoformat()} is {position:g} m into {item.code}, beyond its "
                f"{item.length_m:g} m.",
                field="measured_at",
                code=ErrorCode.BAD_POSITION,
            )
        return Assignment(item, operation, round(position, 6), "line_speed")
    return Assignment(item, operation, None, "whole")


@dataclass(frozen=True)
class Recorded:
    measurement: Measurement
    assignment: Assignment | None


@transaction.atomic
def measurement_record(
    *,
    actor: Actor,
    data: MeasurementInput,
    file: UploadedFile | None = None,
    supersedes: Measurement | None = None,
    correction_reason: str = "",
) -> Recorded:
    """Record one value, series or file; convert it to the canonical unit; flag it when outside
    the typical range (it is stored all the same)."""
    parameter = parameter_get(data.parameter)
    kinds = sum(x is not None for x in (data.value, data.series, file))
    if kinds != 1:
        raise InvalidInput("Send exactly one of value, series or file.", field="value")
    if data.source not in Source.values:
        raise InvalidInput("source is online or offline.", field="source")
    measured_at = moment_check(data.measured_at, field="measured_at") if data.measured_at else timezone.now()

    item = None
    operation = None
    station = None
    assignment = None
    if data.item:
        try:
            item = item_get(data.item)
        except NotFound:
            raise InvalidInput(f"Unknown item {data.item!r}.", field="item", code=ErrorCode.UNKNOWN_ITEM) from None
    if data.operation is not None:
        operation = Operation.objects.filter(pk=data.operation).first()
        if operation is None:
            raise InvalidInput(f"Unknown operation {data.operation!r}.", field="operation")
    if data.station:
        station = station_get(data.station)
    position = position_check(item, data.position_m)
    if station is not None and item is None and operation is None and parameter.scope != Scope.ENVIRONMENT:
        if data.measured_at is None:
            raise InvalidInput("measured_at is required to assign a value by station.", field="measured_at")
        assignment = station_assign(station=station, at=measured_at, position_m=data.position_m, step=parameter.step_id)
        item, operation, position = assignment.item, assignment.operation, assignment.position_m
    if item is None and operation is None and station is None and not data.room:
        raise InvalidInput("Say what was measured: item, operation, station or room.", field="item")

    linear = linear_to_canonical(data.unit, parameter) if data.value is not None else None
    value = series = None
    flagged = False
    if data.value is not None and linear is not None:
        value = finite(linear(number(data.value, field="value")), field="value")
        flagged = out_of_range(parameter, [value])
    elif data.series is not None:
        raw_series = data.series
        if data.unit and isinstance(raw_series, dict) and not raw_series.get("y_unit"):
            # API.md's series has no y_unit: its y values are in the measurement's `unit`.
            linear_to_canonical(data.unit, parameter)  # a wrong unit is refused on "unit"
            raw_series = raw_series | {"y_unit": data.unit}
        series = series_to_canonical(raw_series, parameter)
        flagged = out_of_range(parameter, series["y"])
        if isinstance(raw_series, dict) and raw_series.get("y_unit"):
            # The uncertainty is in the unit of y and converts like the points.
            linear = linear_to_canonical(raw_series["y_unit"], parameter, field="series.y_unit")
    uncertainty = None
    if data.uncertainty is not None:
        raw = number(data.uncertainty, field="uncertainty")
        if raw < 0:
            raise InvalidInput("uncertainty cannot be negative.", field="uncertainty")
        uncertainty = finite(abs(linear.scale) * raw if linear is not None else raw, field="uncertainty")
    digest, size = (
        upload_check(parameter=parameter.code, file_types=parameter.file_types, upload=file)
        if file is not None
        else ("", None)
    )

    points = [value] if value is not None else (series["y"] if series is not None else [])
    subjects = limit_subjects(item, operation)
    book = limit_book([parameter.pk], subjects) if points else None
    out_of_limits, violations = limits_check(book, parameter.pk, subjects, points, position)

    measurement = Measurement(
        parameter=parameter,
        item=item,
        operation=operation,
        station=station,
        room=data.room,
        position_m=position,
        measured_at=measured_at,
        source=data.source,
        instrument=data.instrument,
        method=data.method,
        uncertainty=uncertainty,
        value=value,
        sent_value=float(data.value) if data.value is not None else None,
        sent_unit=data.unit or "",
        series=series,
        file_sha256=digest,
        file_size=size,
        out_of_range=flagged,
        out_of_limits=out_of_limits,
        supersedes=supersedes,
        correction_reason=correction_reason,
        created_by=actor_user(actor),
    )
    if file is not None:
        measurement.file.save(file.name or "upload", file, save=False)
    measurement.save()
    audit_record(
        actor=actor,
        action="measurement.correct" if supersedes else "measurement.record",
        entity="measurement",
        entity_id=measurement.pk,
        station=station.code if station else "",
        before={"measurement": supersedes.pk} if supersedes else None,
        after={
            "parameter": parameter.code,
            "item": item.code if item else None,
            "value": value,
            "out_of_range": flagged,
            "out_of_limits": out_of_limits,
            "reason": correction_reason or None,
        },
    )
    limit_holds_place(actor=actor, violations=violations, from_station=station.code if station else "")
    return Recorded(measurement, assignment)


@transaction.atomic
def measurement_correct(
    *, actor: Actor, measurement_id: int, reason: str, data: MeasurementInput, file: UploadedFile | None = None
) -> Recorded:
    """A correction is a new version pointing at the old one; the old one stays as it was."""
    if not reason or not reason.strip():
        raise InvalidInput("A correction needs a reason.", field="reason")
    # Locked so two corrections of one value cannot both become its latest version.
    old = (
        Measurement.objects.select_for_update(of=("self",))
        .select_related("parameter", "item", "station")
        .filter(pk=measurement_id)
        .first()
    )
    if old is None:
        raise NotFound(f"No measurement {measurement_id}.")
    if Measurement.objects.filter(supersedes=old).exists():
        raise Conflict(
            f"Measurement {old.pk} was already corrected; correct its latest version.",
            code=ErrorCode.ALREADY_CORRECTED,
        )
    merged = MeasurementInput(
        parameter=old.parameter.code,
        value=data.value,
        unit=data.unit,
        series=data.series,
        item=old.item.code if old.item else None,
        operation=old.operation_id,
        station=old.station.code if old.station else None,  # with the item kept, nothing is reassigned
        room=old.room,
        position_m=data.position_m if data.position_m is not None else old.position_m,
        measured_at=old.measured_at,
        source=old.source,
        instrument=data.instrument or old.instrument,
        method=data.method or old.method,
        uncertainty=data.uncertainty,
    )
    return measurement_record(actor=actor, data=merged, file=file, supersedes=old, correction_reason=reason)


def operation_parameters_record(*, actor: Actor, operation: Operation) -> list[Measurement]:
    """Machine parameters sent with an operation become measurements of it, in canonical units
    and range-checked, when the catalog knows them; unknown codes stay in operation.parameters."""
    entries = operation.parameters or {}
    known = {p.code: p for p in Parameter.objects.filter(code__in=list(entries))}
    subjects = limit_subjects(None, operation)
    book = limit_book([p.pk for p in known.values()], subjects)
    violations: list[Violation] = []
    rows = []
    for code, parameter in known.items():
        entry = entries[code]
        if not isinstance(entry.get("value"), int | float):
            continue  # a text setting ("program": "F-12") has no canonical value
        where = f"parameters.{code}"
        linear = linear_to_canonical(entry.get("unit"), parameter, field=f"{where}.unit")
        value = finite(linear(number(entry["value"], field=f"{where}.value")), field=f"{where}.value")
        out_of_limits, due = limits_check(book, parameter.pk, subjects, [value], None)
        violations += due
        rows.append(
            Measurement(
                parameter=parameter,
                operation=operation,
                station=operation.station,
                measured_at=operation.started_at,
                source=Source.ONLINE,
                value=value,
                sent_value=float(entry["value"]),
                sent_unit=entry.get("unit") or "",
                out_of_range=out_of_range(parameter, [value]),
                out_of_limits=out_of_limits,
                created_by=actor_user(actor),
            )
        )
    created = Measurement.objects.bulk_create(rows)
    limit_holds_place(actor=actor, violations=violations, from_station=operation.station.code)
    return created
