"""Cycler files of cells as measurements: checked for a format version the readers know, stored
with what read them, and turned into the formation and end-of-line values of their cell in the
same transaction (`cycler_metrics`), so that they reach datasets and completeness like any value.

Which metrics a file gives follows the step of the parameter it is recorded on (`STEP_METRICS`).
Derived values point at their file (`derived_from`); deriving again (`cycler_file_derive`, the
`derive_cycler_metrics` command) records nothing when the values are the same, and a new version
(`supersedes`) of a value that changed.
"""

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from audit.services import Actor
from core.errors import ErrorCode, InvalidInput
from core.units import convert
from measurements.files import public_message, upload_type_check
from measurements.models import Measurement, Parameter
from measurements.services import (
    FileReading,
    MeasurementInput,
    Recorded,
    measurement_correct,
    measurement_record,
    parameter_get,
)

from .cycler_files import HEAD_BYTES, cycler_read, detect_format
from .cycler_metrics import CyclerMetrics, cycler_metrics
from .cycler_versions import CyclerFileVersion, UnsupportedCyclerFile, cycler_version, is_cycler_name, supported

# Steps whose CSV and text files must be cycler files (a photo or a PDF report is still taken).
CYCLER_STEPS = ("formation", "aging", "eol_test")
_TEXT = (".csv", ".txt")


@dataclass(frozen=True)
class Metric:
    """One value a cycler file gives its cell: a scalar in `unit`, or a series over cycles."""

    parameter: str
    unit: str
    value: Callable[[CyclerMetrics], float | None] | None = None
    series: Callable[[CyclerMetrics], list[float]] | None = None


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100.0


def _per_day(volt_per_second: float | None) -> float | None:
    return None if volt_per_second is None else volt_per_second * 86400.0


STEP_METRICS: dict[str, tuple[Metric, ...]] = {
    "formation": (
        Metric("formation_charge_capacity", "A*h", lambda m: m.first_charge_capacity),
        Metric("formation_discharge_capacity", "A*h", lambda m: m.first_discharge_capacity),
        Metric("formation_coulombic_efficiency", "percent", lambda m: _percent(m.first_coulombic_efficiency)),
        Metric("formation_internal_resistance", "ohm", lambda m: m.dcir_ohm),
        Metric("formation_ocv_drop", "V", lambda m: m.ocv_drop_volt),
        Metric("formation_charge_capacity_cycles", "A*h", series=lambda m: m.charge_capacity),
        Metric("formation_discharge_capacity_cycles", "A*h", series=lambda m: m.discharge_capacity),
    ),
    "aging": (
        Metric("ocv_drop", "V", lambda m: m.ocv_drop_volt),
        Metric("k_value", "V/day", lambda m: _per_day(m.ocv_drop_volt_per_second)),
    ),
    "eol_test": (
        Metric("eol_capacity", "A*h", lambda m: m.last_discharge_capacity),
        Metric("eol_dcir", "ohm", lambda m: m.dcir_ohm),
        Metric("eol_ocv", "V", lambda m: m.rest_end_voltage),
        Metric("eol_ocv_drop", "V", lambda m: m.ocv_drop_volt),
    ),
}


@dataclass(frozen=True)
class CyclerFileRead:
    version: CyclerFileVersion
    table: pa.Table

    @property
    def reading(self) -> FileReading:
        return FileReading(format=self.version.format, reader=self.version.reader)


def _refuse(name: str, message: str) -> InvalidInput:
    text = f"{name}: {message}. Supported cycler files: {supported()}."
    return InvalidInput(text, field="file", code=ErrorCode.CYCLER_FILE_UNSUPPORTED)


def is_cycler_file(name: str, head: bytes, *, step: str | None) -> bool:
    """Whether a file must be read as a cycler file: by its name, by a cycler header, or as a CSV
    or text file of a cycler step."""
    if is_cycler_name(name) or detect_format(name, head) is not None:
        return True
    return step in CYCLER_STEPS and Path(name).suffix.lower() in _TEXT


def cycler_file_read(name: str, handle: IO[bytes]) -> CyclerFileRead:
    """A cycler file's format version and table; InvalidInput naming `file`
    (cycler_file_unsupported) for a version the readers do not know or a file they cannot read."""
    data = handle.read()
    try:
        version = cycler_version(name, data)
    except UnsupportedCyclerFile as error:
        raise _refuse(Path(name).name, str(error)) from None
    try:
        table = cycler_read(io.BytesIO(data), name=name)
    except Exception as error:  # whatever a reader raises on a bad file: the upload is refused
        raise _refuse(Path(name).name, f"{version.format} could not be read ({public_message(error)})") from None
    if table.num_rows == 0:
        raise _refuse(Path(name).name, f"{version.format} without a single sample (truncated?)")
    return CyclerFileRead(version=version, table=table)


def _upload_read(parameter: Parameter, file: UploadedFile) -> CyclerFileRead | None:
    # The type first, so a wrong file is refused as such; measurement_record hashes it.
    upload_type_check(parameter=parameter.code, file_types=parameter.file_types, upload=file)
    name = file.name or ""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if not is_cycler_file(name, head, step=parameter.step_id):
        return None
    read = cycler_file_read(name, file)  # type: ignore[arg-type]
    file.seek(0)
    return read


@transaction.atomic
def file_measurement_record(*, actor: Actor, data: MeasurementInput, file: UploadedFile | None = None) -> Recorded:
    """measurement_record, and for a cycler file of a cell also its metrics: all or nothing."""
    alone = file is not None and data.value is None and data.series is None  # else measurement_record refuses
    parameter = parameter_get(data.parameter)
    read = _upload_read(parameter, file) if alone and file is not None else None
    planned = metrics_plan(parameter.step_id, read) if read is not None else []
    recorded = measurement_record(actor=actor, data=data, file=file, file_reading=read.reading if read else None)
    if read is not None:
        metrics_record(actor=actor, file_measurement=recorded.measurement, read=read, planned=planned)
    return recorded


@transaction.atomic
def file_measurement_correct(
    *, actor: Actor, measurement_id: int, reason: str, data: MeasurementInput, file: UploadedFile | None = None
) -> Recorded:
    """measurement_correct, and for a cycler file the metrics of the new file, each a new
    version of the value the old file gave."""
    old = Measurement.objects.select_related("parameter").filter(pk=measurement_id).first()
    alone = file is not None and data.value is None and data.series is None
    read = _upload_read(old.parameter, file) if alone and file is not None and old is not None else None
    planned = metrics_plan(old.parameter.step_id, read) if read is not None and old is not None else []
    recorded = measurement_correct(
        actor=actor,
        measurement_id=measurement_id,
        reason=reason,
        data=data,
        file=file,
        file_reading=read.reading if read else None,
    )
    if read is not None:
        metrics_record(actor=actor, file_measurement=recorded.measurement, read=read, planned=planned)
    return recorded


def _lineage(file_measurement: Measurement) -> list[int]:
    """The file measurement and every version it corrects."""
    ids, current = [], file_measurement
    while current is not None:
        ids.append(current.pk)
        current = current.supersedes  # type: ignore[assignment]
    return ids


def _same(old: Measurement, value: float | None, series: dict[str, Any] | None) -> bool:
    if value is not None:
        return old.value is not None and math.isclose(old.value, value, rel_tol=1e-9, abs_tol=1e-12)
    if series is None or old.series is None:
        return False
    pairs = zip(old.series.get("y", []), series["y"], strict=False)
    return (
        old.series.get("x") == series["x"]
        and len(old.series.get("y", [])) == len(series["y"])
        and all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs)
    )


@dataclass(frozen=True)
class _Planned:
    parameter: Parameter
    value: float | None
    series: dict[str, Any] | None


def metrics_plan(step: str | None, read: CyclerFileRead) -> list[_Planned]:
    """The values a cycler file of `step` gives, in their parameters' canonical units (those the
    catalog has); InvalidInput naming `file` for one that cannot be stored. Made before the file
    is stored, so that a refusal leaves no file behind."""
    metrics = STEP_METRICS.get(step or "", ())
    if not metrics:
        return []
    parameters = {p.code: p for p in Parameter.objects.filter(code__in=[m.parameter for m in metrics])}
    values = cycler_metrics(read.table)
    planned = []
    for metric in metrics:
        parameter = parameters.get(metric.parameter)
        if parameter is None:
            continue
        value, series = _metric_value(metric, values, parameter)
        if value is not None or series is not None:
            planned.append(_Planned(parameter, value, series))
    return planned


def metrics_record(
    *, actor: Actor, file_measurement: Measurement, read: CyclerFileRead, planned: list[_Planned] | None = None
) -> list[Measurement]:
    """The metrics of a cell's cycler file as measurements of its step's parameters (`planned`,
    else planned here): none for a file without a cell or of a step without metrics; a value equal
    to the one its file (or a version of it) gave is not recorded again, a changed one supersedes it."""
    if file_measurement.item is None:
        return []
    if planned is None:
        planned = metrics_plan(file_measurement.parameter.step_id, read)
    if not planned:
        return []
    # One derivation of a file at a time, so that two cannot both find no values and record a set each.
    Measurement.objects.select_for_update().filter(pk=file_measurement.pk).first()
    current = {
        m.parameter.code: m
        for m in Measurement.objects.select_for_update(of=("self",))
        .select_related("parameter")
        .filter(derived_from__in=_lineage(file_measurement), superseded_by__isnull=True)
    }
    method = f"from cycler file #{file_measurement.pk} ({read.version.format}, {read.version.reader})"
    recorded: list[Measurement] = []
    for plan in planned:
        old = current.get(plan.parameter.code)
        if old is not None and _same(old, plan.value, plan.series):
            continue
        data = MeasurementInput(
            parameter=plan.parameter.code,
            value=plan.value,
            unit=plan.parameter.unit,
            series=plan.series,
            item=file_measurement.item.code,
            measured_at=file_measurement.measured_at,
            source=file_measurement.source,
            instrument=file_measurement.instrument,
            method=method[:200],
        )
        reason = f"recomputed from cycler file #{file_measurement.pk}" if old is not None else ""
        result = measurement_record(
            actor=actor, data=data, supersedes=old, correction_reason=reason, derived_from=file_measurement
        )
        recorded.append(result.measurement)
    return recorded


def _metric_value(
    metric: Metric, values: CyclerMetrics, parameter: Parameter
) -> tuple[float | None, dict[str, Any] | None]:
    """The metric in the parameter's canonical unit (so that it compares with a stored one)."""
    if metric.series is not None:
        ys = metric.series(values)
        if not ys:
            return None, None
        y = [_finite(convert(v, metric.unit, parameter.unit, field="file"), parameter) for v in ys]
        x = [float(c) for c in values.cycles]
        return None, {"x": x, "y": y, "x_kind": "cycle", "x_unit": "dimensionless", "y_unit": parameter.unit}
    raw = metric.value(values) if metric.value is not None else None
    if raw is None:
        return None, None
    return _finite(convert(raw, metric.unit, parameter.unit, field="file"), parameter), None


def _finite(value: float, parameter: Parameter) -> float:
    """A file whose numbers integrate to infinity (or NaN) is refused, not stored in part."""
    if not math.isfinite(value):
        raise InvalidInput(
            f"The file gives a {parameter.code} of {value}: its numbers are out of any range.",
            field="file",
            code=ErrorCode.NOT_FINITE,
        )
    return value


@dataclass
class Derived:
    files: int = 0
    recorded: int = 0
    problems: list[str] = field(default_factory=list)


def cycler_files_derive(*, actor: Actor) -> Derived:
    """The metrics of every current cycler file of a cell already stored (idempotent): each file
    in a transaction of its own; a file that cannot be read is reported, the others go on."""
    result = Derived()
    steps = list(STEP_METRICS)
    files = (
        Measurement.objects.filter(
            superseded_by__isnull=True, item__isnull=False, parameter__step_id__in=steps, value__isnull=True
        )
        .exclude(file="")
        .select_related("parameter", "item", "supersedes")
        .order_by("id")
    )
    for measurement in files.iterator(chunk_size=200):
        name = Path(measurement.file.name).name
        try:
            with measurement.file.open("rb") as handle:
                head = handle.read(HEAD_BYTES)
                handle.seek(0)
                if not is_cycler_file(name, head, step=measurement.parameter.step_id):
                    continue
                read = cycler_file_read(name, handle)
        except (InvalidInput, OSError) as error:
            result.problems.append(f"measurement {measurement.pk}: {public_message(error)}")
            continue
        try:
            with transaction.atomic():
                result.recorded += len(metrics_record(actor=actor, file_measurement=measurement, read=read))
        except InvalidInput as error:
            result.problems.append(f"measurement {measurement.pk}: {error}")
            continue
        result.files += 1
    return result
