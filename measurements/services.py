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

from .assignment import Assignment, position_check, station_assign
from .files import upload_check
from .holds_limits import Violation, limit_holds_place, limit_subjects, limits_check
from .models import Measurement, Parameter, Scope, Source
from .selectors_limits import limit_book

MAX_SERIES_POINTS = 1_000_000
# What a series' x is, and the unit it is stored in (a cycle: the cycler's cycle number).
SERIES_X_UNITS = {"time": "s", "position": "m", "cycle": "dimensionless"}


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
class FileReading:
    """What a file was read as: its format and format version, and the reader and its version."""

    format: str
    reader: str


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
    """{"x": [...], "y": [...], "x_unit", "x_kind": "time"|"position"|"cycle", "y_unit"?} with y in
    the canonical unit and x in s (time), m (position) or cycle numbers (dimensionless)."""
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
    if kind not in SERIES_X_UNITS:
        raise InvalidInput("x_kind is time, position or cycle.", field=f"{field}.x_kind", code=ErrorCode.BAD_SERIES)
    target = SERIES_X_UNITS[kind]
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


@dataclass(frozen=True)
class Recorded:
    measurement: Measurement
    assignment: Assignment | None


@dataclass(frozen=True)
class _Subject:
    """What a value is about, as sent or assigned by station and time."""

    item: Item | None
    operation: Operation | None
    station: Station | None
    position_m: float | None
    assignment: Assignment | None


@dataclass(frozen=True)
class _Values:
    """The value or series in the canonical unit, its uncertainty and the typical-range flag."""

    value: float | None
    series: dict[str, Any] | None
    uncertainty: float | None
    out_of_range: bool


def _subject_resolve(data: MeasurementInput, parameter: Parameter, measured_at: datetime) -> _Subject:
    item = operation = station = assignment = None
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
    return _Subject(item=item, operation=operation, station=station, position_m=position, assignment=assignment)


def _values_convert(data: MeasurementInput, parameter: Parameter) -> _Values:
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
    return _Values(value=value, series=series, uncertainty=uncertainty, out_of_range=flagged)


def _record_audit(*, actor: Actor, measurement: Measurement, supersedes: Measurement | None) -> None:
    station = measurement.station
    audit_record(
        actor=actor,
        action="measurement.correct" if supersedes else "measurement.record",
        entity="measurement",
        entity_id=measurement.pk,
        station=station.code if station else "",
        before={"measurement": supersedes.pk} if supersedes else None,
        after={
            "parameter": measurement.parameter.code,
            "item": measurement.item.code if measurement.item else None,
            "value": measurement.value,
            "out_of_range": measurement.out_of_range,
            "out_of_limits": measurement.out_of_limits,
            "reason": measurement.correction_reason or None,
        },
    )


def _limits_check(parameter: Parameter, subject: _Subject, values: _Values) -> tuple[bool | None, list[Violation]]:
    """out_of_limits against the limit that applies to the subject, and the violations to hold."""
    value, series = values.value, values.series
    points = [value] if value is not None else (series["y"] if series is not None else [])
    subjects = limit_subjects(subject.item, subject.operation)
    book = limit_book([parameter.pk], subjects) if points else None
    return limits_check(book, parameter.pk, subjects, points, subject.position_m)


@transaction.atomic
def measurement_record(
    *,
    actor: Actor,
    data: MeasurementInput,
    file: UploadedFile | None = None,
    supersedes: Measurement | None = None,
    correction_reason: str = "",
    file_reading: FileReading | None = None,
    derived_from: Measurement | None = None,
) -> Recorded:
    """Record one value, series or file; convert it to the canonical unit; flag it when outside
    the typical range (it is stored all the same). `file_reading`: what read the file (a cycler
    file's format version and reader); `derived_from`: the file measurement a value comes from."""
    parameter = parameter_get(data.parameter)
    kinds = sum(x is not None for x in (data.value, data.series, file))
    if kinds != 1:
        raise InvalidInput("Send exactly one of value, series or file.", field="value")
    if data.source not in Source.values:
        raise InvalidInput("source is online or offline.", field="source")
    measured_at = moment_check(data.measured_at, field="measured_at") if data.measured_at else timezone.now()
    subject = _subject_resolve(data, parameter, measured_at)
    values = _values_convert(data, parameter)
    digest, size = (
        upload_check(parameter=parameter.code, file_types=parameter.file_types, upload=file)
        if file is not None
        else ("", None)
    )

    value, series = values.value, values.series
    out_of_limits, violations = _limits_check(parameter, subject, values)

    measurement = Measurement(
        parameter=parameter,
        item=subject.item,
        operation=subject.operation,
        station=subject.station,
        room=data.room,
        position_m=subject.position_m,
        measured_at=measured_at,
        source=data.source,
        instrument=data.instrument,
        method=data.method,
        uncertainty=values.uncertainty,
        value=value,
        sent_value=float(data.value) if data.value is not None else None,
        sent_unit=data.unit or "",
        series=series,
        file_sha256=digest,
        file_size=size,
        file_format=file_reading.format if file_reading and file is not None else "",
        file_reader=file_reading.reader if file_reading and file is not None else "",
        derived_from=derived_from,
        out_of_range=values.out_of_range,
        out_of_limits=out_of_limits,
        supersedes=supersedes,
        correction_reason=correction_reason,
        created_by=actor_user(actor),
    )
    if file is not None:
        measurement.file.save(file.name or "upload", file, save=False)
    measurement.save()
    _record_audit(actor=actor, measurement=measurement, supersedes=supersedes)
    station_code = subject.station.code if subject.station else ""
    limit_holds_place(actor=actor, violations=violations, from_station=station_code)
    return Recorded(measurement, subject.assignment)


@transaction.atomic
def measurement_correct(
    *,
    actor: Actor,
    measurement_id: int,
    reason: str,
    data: MeasurementInput,
    file: UploadedFile | None = None,
    file_reading: FileReading | None = None,
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
    return measurement_record(
        actor=actor, data=merged, file=file, supersedes=old, correction_reason=reason, file_reading=file_reading
    )


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
