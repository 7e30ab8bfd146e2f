"""Lab files: engineers save a mapping per instrument layout; a file is checked (a dry run that
stores nothing) or imported, all or nothing.

Both go through the bulk path, measurements.ingest.measurements_ingest, which applies the rules of
every measurement (catalog, units, items, positions, times, ranges, limits and their holds): the
dry run runs it in a savepoint that is always rolled back, so that what it reports is what the
import would do. The ingest stops at its first bad row's chunk for writing but goes on checking,
up to `max_errors` (CELLTRACE_LAB_MAX_ERRORS); past that the check is incomplete (`complete`).
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from audit.services import Actor, actor_user, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from measurements.ingest import IngestResult, measurements_ingest
from measurements.ingest_rows import BulkInvalid

from .mappings import mapping_clean, mapping_values
from .models import ImportMapping, LabImport
from .readers import lab_file_open, refuse
from .rows import LabError, Reading, ingest_rows, sheet_errors, would_store


@dataclass(frozen=True)
class LabCheck:
    rows: int  # data rows read
    values: int  # values read (non-empty value cells)
    would_store: int  # values of rows without errors
    errors: list[LabError]
    complete: bool  # False: errors reached CELLTRACE_LAB_MAX_ERRORS and the rest was not checked


class LabFileInvalid(InvalidInput):
    """Bad rows (400, BAD_ROWS): `check` lists them by row and column; nothing was stored."""

    def __init__(self, check: LabCheck) -> None:
        first = check.errors[0]
        where = ", ".join(str(part) for part in (f"Row {first.row}" if first.row else None, first.column) if part)
        more = len(check.errors) - 1
        tail = f" (and {more} more error{'s' if more != 1 else ''})" if more else ""
        super().__init__(f"{where}: {first.message}{tail} Nothing was stored.", code=ErrorCode.BAD_ROWS)
        self.check = check


# --- Mappings ----------------------------------------------------------------------------------


def mapping_get(code: object, *, field: str = "mapping") -> ImportMapping:
    """The mapping of `code`; InvalidInput (UNKNOWN_MAPPING) naming `field` when there is none."""
    # A code with NUL cannot name a mapping (its text fields refuse it), and PostgreSQL cannot
    # even compare it: unknown without asking.
    known = isinstance(code, str) and "\x00" not in code
    found = ImportMapping.objects.filter(code=code).first() if known else None
    if found is None:
        raise InvalidInput(f"Unknown mapping {code!r}.", field=field, code=ErrorCode.UNKNOWN_MAPPING)
    return found


def _locked(code: str) -> ImportMapping:
    # Locked so that two engineers editing one mapping each audit what they really replaced.
    found = ImportMapping.objects.select_for_update().filter(code=code).first()
    if found is None:
        raise NotFound(f"No mapping {code!r}.", field="code", code=ErrorCode.UNKNOWN_MAPPING)
    return found


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name != "code"}


@transaction.atomic
def mapping_create(*, actor: Actor, data: dict[str, Any]) -> ImportMapping:
    clean = mapping_clean(data)
    if ImportMapping.objects.filter(code=clean["code"]).exists():
        raise Conflict(f"Mapping {clean['code']!r} exists.", field="code", code=ErrorCode.DUPLICATE_CODE)
    user = actor_user(actor)
    if user is None:
        raise InvalidInput("A mapping is saved by a signed-in engineer.", field="actor")
    try:
        with transaction.atomic():
            mapping = ImportMapping.objects.create(created_by=user, **clean)
    except IntegrityError:  # the same code saved at the same moment
        raise Conflict(f"Mapping {clean['code']!r} exists.", field="code", code=ErrorCode.DUPLICATE_CODE) from None
    audit_record(
        actor=actor, action="import_mapping.create", entity="import_mapping", entity_id=mapping.code, after=clean
    )
    return mapping


@transaction.atomic
def mapping_update(*, actor: Actor, code: str, data: dict[str, Any]) -> ImportMapping:
    """Change some fields; the whole mapping is checked again. The code never changes."""
    if "code" in data and data["code"] != code:
        raise InvalidInput("The code of a mapping never changes.", field="code", code=ErrorCode.CODE_IMMUTABLE)
    mapping = _locked(code)
    before = mapping_values(mapping)
    after = mapping_clean(before | dict(data))
    changed = [name for name in after if after[name] != before[name]]
    if not changed:
        return mapping
    for name in changed:
        setattr(mapping, name, after[name])
    mapping.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action="import_mapping.update",
        entity="import_mapping",
        entity_id=code,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )
    return mapping


@transaction.atomic
def mapping_delete(*, actor: Actor, code: str) -> None:
    """A mapping that imported files stays: its imports name it (409)."""
    mapping = _locked(code)
    if mapping.imports.exists():
        raise Conflict(
            f"Mapping {code!r} imported files; it stays so that they keep their layout.",
            field="code",
            code=ErrorCode.MAPPING_IN_USE,
        )
    before = _stored(mapping_values(mapping))
    mapping.delete()
    audit_record(actor=actor, action="import_mapping.delete", entity="import_mapping", entity_id=code, before=before)


# --- Files -------------------------------------------------------------------------------------


def _read(actor: Actor, mapping: ImportMapping, data: bytes) -> tuple[LabCheck, IngestResult | None]:
    """Read the file and hand its values to the ingest (inside the caller's transaction)."""
    columns = [mapping.item_column, mapping.time_column]
    columns += [mapping.position_column] if mapping.position_column else []
    columns += [entry["column"] for entry in mapping.values]
    sheet = lab_file_open(
        data=data,
        file_format=mapping.format,
        sheet=mapping.sheet,
        header_row=mapping.header_row,
        delimiter=mapping.delimiter,
        columns=columns,
    )
    reading = Reading()
    result: IngestResult | None = None
    ingest_errors: list[dict[str, Any]] = []
    complete = True
    try:
        result = measurements_ingest(
            actor=actor, rows=ingest_rows(mapping, sheet, reading), max_errors=settings.CELLTRACE_LAB_MAX_ERRORS
        )
    except BulkInvalid as exc:
        ingest_errors, complete = exc.rows, exc.complete
    except InvalidInput as exc:
        if "rows" not in exc.errors:  # not "the upload holds no measurements": the file's own fault
            raise
    errors = sheet_errors(mapping, reading, ingest_errors)
    check = LabCheck(
        rows=reading.rows,
        values=reading.values,
        would_store=would_store(reading, errors, complete=complete),
        errors=errors,
        complete=complete,
    )
    return check, result


def lab_file_check(*, actor: Actor, mapping: ImportMapping, data: bytes) -> LabCheck:
    """What an import of the file would store, and every error by row and column; stores nothing."""
    with transaction.atomic():
        check, _result = _read(actor, mapping, data)
        transaction.set_rollback(True)  # the savepoint goes, with the rows, holds and audit events
    return check


def _name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "").strip()
    return name[-200:] or "lab-file"


@transaction.atomic
def lab_file_import(*, actor: Actor, mapping: ImportMapping, name: str, data: bytes) -> LabImport:
    """Store every value of the file or none: LabFileInvalid (400) lists the bad rows."""
    user = actor_user(actor)
    if user is None:
        raise InvalidInput("A lab file is imported by a signed-in user.", field="actor")
    sha256 = hashlib.sha256(data).hexdigest()
    earlier = LabImport.objects.filter(mapping=mapping, file_sha256=sha256).first()
    if earlier is not None:
        raise _imported_before(earlier)
    check, result = _read(actor, mapping, data)
    if check.errors:
        raise LabFileInvalid(check)
    if result is None:
        raise refuse("The file holds no values in the mapped columns.")
    record = LabImport(
        mapping=mapping,
        file_name=_name(name),
        file_sha256=sha256,
        size=len(data),
        rows=check.rows,
        stored=result.count,
        created_by=user,
    )
    try:
        with transaction.atomic():
            record.file.save(record.file_name, ContentFile(data), save=True)
    except IntegrityError:  # the same file, imported at the same moment by someone else
        record.file.delete(save=False)
        earlier = LabImport.objects.filter(mapping=mapping, file_sha256=sha256).first()
        if earlier is None:
            raise
        raise _imported_before(earlier) from None
    audit_record(
        actor=actor,
        action="lab_file.import",
        entity="lab_import",
        entity_id=record.pk,
        after={
            "mapping": mapping.code,
            "file": record.file_name,
            "sha256": sha256,
            "rows": check.rows,
            "stored": result.count,
        },
    )
    return record


def _imported_before(earlier: LabImport) -> Conflict:
    return Conflict(
        f"This file was imported with mapping {earlier.mapping.code!r} already (import {earlier.pk}, "
        f"{earlier.created_at:%Y-%m-%d %H:%M} UTC); its values are stored once.",
        field="file",
        code=ErrorCode.ALREADY_IMPORTED,
    )
