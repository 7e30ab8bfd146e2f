"""Loading the parameter catalog (`catalog.csv`) into the database.

`catalog_read` parses and checks the whole file, naming every bad row by its line; `catalog_load`
then upserts the parameters by code in one transaction, auditing each one it creates or changes.
Parameters the file does not list are kept: engineers add their own.
"""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record_many
from core.errors import Conflict, ErrorCode, InvalidInput
from traceability.models import Step

from .models import Measurement, Parameter
from .services_catalog import CATALOG_FIELDS, parameter_validate, parameter_values

DEFAULT_PATH = Path(__file__).with_name("catalog.csv")
# The file sets every catalog field but file_types, which engineers set on the parameters they upload files for.
CSV_FIELDS: tuple[str, ...] = tuple(name for name in CATALOG_FIELDS if name != "file_types")
COLUMNS: tuple[str, ...] = ("code", *CSV_FIELDS)
_VERSION = re.compile(r"^#\s*catalog_version:\s*(\S+)\s*$")
_FLOATS = ("typical_min", "typical_max")


@dataclass(frozen=True)
class CatalogRow:
    line: int
    code: str
    values: dict[str, Any]  # keyed by CSV_FIELDS, typed as the model stores them


@dataclass(frozen=True)
class Catalog:
    version: str
    rows: list[CatalogRow]


@dataclass(frozen=True)
class CatalogLoadResult:
    version: str
    created: int
    updated: int
    unchanged: int
    not_in_file: int  # parameters in the database the file does not list (kept)
    created_codes: list[str] = field(default_factory=list)
    updated_codes: list[str] = field(default_factory=list)


def _data_lines(lines: list[str], numbers: list[int]) -> Iterator[str]:
    """The lines that are not comments or blank; `numbers` records the file line of each one read."""
    for number, line in enumerate(lines, start=1):
        if line.startswith("#") or not line.strip():
            continue
        numbers.append(number)
        yield line


def _typed(raw: dict[str, str], problems: dict[str, list[str]], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {name: raw[name].strip() for name in CSV_FIELDS}
    values["step"] = values["step"] or None
    online = values["online"].lower()
    if online in ("true", "false", ""):
        values["online"] = {"true": True, "false": False, "": None}[online]
    else:
        problems.setdefault(f"{where}.online", []).append(f"{values['online']!r} is not true, false or empty.")
        values["online"] = None
    values["techniques"] = [t.strip() for t in values["techniques"].split(";") if t.strip()]
    for name in _FLOATS:
        text = values[name]
        try:
            values[name] = float(text) if text else None
        except ValueError:
            problems.setdefault(f"{where}.{name}", []).append(f"{text!r} is not a number.")
            values[name] = None
    return values


def _records(reader: "csv.DictReader[str]", numbers: list[int], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each record with the file line it ends on; a quoting error names its line too."""
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = numbers[-1] if numbers else 0
            raise InvalidInput(f"{path.name} line {line}: {exc}", field=f"line {line}") from None
        yield numbers[-1], raw


def catalog_read(path: Path = DEFAULT_PATH) -> Catalog:
    """Parse and check the catalog file; one InvalidInput lists every problem as `line N (code).field`."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    version = next((m.group(1) for line in lines if (m := _VERSION.match(line))), None)
    problems: dict[str, list[str]] = {}
    if version is None:
        problems["catalog_version"] = ["The header has no '# catalog_version: N' comment."]
    numbers: list[int] = []
    reader = csv.DictReader(_data_lines(lines, numbers), strict=True)
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        raise InvalidInput(
            f"The header of {path.name} is not the catalog's columns (missing {missing}, unknown {extra}).",
            field="header",
        )
    step_codes = set(Step.objects.values_list("code", flat=True))
    rows: list[CatalogRow] = []
    lines_of: dict[str, int] = {}
    for line, raw in _records(reader, numbers, path):
        code = (raw.get("code") or "").strip()
        where = f"line {line} ({code})"
        if None in raw or any(value is None for value in raw.values()):
            problems.setdefault(where, []).append(f"{len(COLUMNS)} columns expected.")
            continue
        values = _typed(raw, problems, where)
        try:
            parameter_validate({"code": code, **values, "file_types": []}, steps=step_codes)
        except InvalidInput as exc:
            for name, messages in exc.errors.items():
                problems.setdefault(f"{where}.{name}", []).extend(messages)
        if code in lines_of:
            problems.setdefault(f"{where}.code", []).append(f"Duplicate of line {lines_of[code]}.")
        lines_of.setdefault(code, line)
        rows.append(CatalogRow(line=line, code=code, values=values))
    if problems:
        first, messages = next(iter(problems.items()))
        raise InvalidInput(f"{path.name}: {len(problems)} problem(s); {first}: {messages[0]}", errors=problems)
    assert version is not None
    return Catalog(version=version, rows=rows)


@dataclass
class _Changes:
    """What loading the file does: the parameters to create and to update, with their audit rows
    (code, before, after), the fields updated and the parameters whose unit changes (pk: code)."""

    created: list[Parameter] = field(default_factory=list)
    created_rows: list[tuple[str, Any, Any]] = field(default_factory=list)
    updated: list[Parameter] = field(default_factory=list)
    updated_rows: list[tuple[str, Any, Any]] = field(default_factory=list)
    changed_fields: set[str] = field(default_factory=set)
    unit_changed: dict[int, str] = field(default_factory=dict)


def _changes_plan(rows: list[CatalogRow], existing: dict[str, Parameter], now: datetime) -> _Changes:
    changes = _Changes()
    for row in rows:
        parameter = existing.get(row.code)
        if parameter is None:
            fields = {k: v for k, v in row.values.items() if k != "step"}
            changes.created.append(Parameter(code=row.code, step_id=row.values["step"], **fields))
            changes.created_rows.append((row.code, None, row.values | {"file_types": []}))
            continue
        before = parameter_values(parameter)
        changed = [name for name in CSV_FIELDS if row.values[name] != before[name]]
        if not changed:
            continue
        if "unit" in changed:
            changes.unit_changed[parameter.pk] = parameter.code
        for name in changed:
            setattr(parameter, "step_id" if name == "step" else name, row.values[name])
        parameter.updated_at = now
        changes.changed_fields.update(changed)
        changes.updated.append(parameter)
        changes.updated_rows.append(
            (row.code, {n: before[n] for n in changed}, {n: row.values[n] for n in changed}),
        )
    return changes


def _unit_in_use_check(unit_changed: dict[int, str]) -> None:
    """A unit may change only while the parameter has no measurements (they are stored in it)."""
    in_use = (
        set(Measurement.objects.filter(parameter_id__in=unit_changed).values_list("parameter_id", flat=True))
        if unit_changed
        else set()
    )
    if in_use:
        names = sorted(unit_changed[pk] for pk in in_use)
        raise Conflict(
            f"The file changes the unit of parameters with measurements: {', '.join(names)}.",
            errors={f"{code}.unit": ["Has measurements in its stored unit."] for code in names},
            code=ErrorCode.UNIT_IN_USE,
        )


def catalog_load(*, path: Path = DEFAULT_PATH, actor: Actor = None) -> CatalogLoadResult:
    """Upsert the file's parameters by code; running it again changes nothing and audits nothing."""
    catalog = catalog_read(path)
    codes = [row.code for row in catalog.rows]
    with transaction.atomic():
        # Locked (in pk order, like any other writer) so that an API edit between our read and our write
        # cannot be overwritten with an audit row whose "before" is not what we replaced.
        existing = {p.code: p for p in Parameter.objects.select_for_update().filter(code__in=codes).order_by("pk")}
        changes = _changes_plan(catalog.rows, existing, timezone.now())
        _unit_in_use_check(changes.unit_changed)
        created, updated = changes.created, changes.updated
        Parameter.objects.bulk_create(created)
        if updated:
            Parameter.objects.bulk_update(updated, fields=[*sorted(changes.changed_fields), "updated_at"])
        audit_record_many(actor=actor, action="parameter.create", entity="parameter", rows=changes.created_rows)
        audit_record_many(actor=actor, action="parameter.update", entity="parameter", rows=changes.updated_rows)
        not_in_file = Parameter.objects.exclude(code__in=codes).count()
    return CatalogLoadResult(
        version=catalog.version,
        created=len(created),
        updated=len(updated),
        unchanged=len(catalog.rows) - len(created) - len(updated),
        not_in_file=not_in_file,
        created_codes=[p.code for p in created],
        updated_codes=[p.code for p in updated],
    )
