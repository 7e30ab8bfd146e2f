"""Writes of connector configurations: create, change (PATCH) and delete, each one transaction.

Every change bumps `Connector.revision` (run_connectors restarts a connector whose revision
moved) and is audited with the configuration before and after. A PATCH that gives `mappings`
replaces the whole list. The rules themselves are in connectors.validation.
"""

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from audit.services import Actor, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound

from .models import Connector, ConnectorKind, ConnectorMapping, ConnectorStatus
from .validation import (
    MASKED_OPTIONS,
    OPTION_MASK,
    MappingRow,
    Problem,
    code_problems,
    endpoint_problems,
    iter_kind_problems,
    mappings_check,
    options_problems,
    raise_problems,
)

FIELDS = ("kind", "endpoint", "enabled", "options", "mappings")
# Options never written into the audit trail as they were sent.
# The audit trail also leaves out where the private key lies.
SECRET_OPTIONS = MASKED_OPTIONS | {"private_key"}


def _redacted(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_OPTIONS and v else v) for k, v in options.items()}


def connector_values(connector: Connector) -> dict[str, Any]:
    """The configuration as the audit trail keeps it (secrets redacted)."""
    return {
        "code": connector.code,
        "kind": connector.kind,
        "endpoint": connector.endpoint,
        "enabled": connector.enabled,
        "options": _redacted(connector.options),
        "revision": connector.revision,
        "mappings": [
            {
                "source": m.source,
                "station": m.station.code if m.station else None,
                "room": m.room,
                "parameter": m.parameter.code,
                "unit": m.unit,
                "position_source": m.position_source,
                "data_type": m.data_type,
                "scale": m.scale,
            }
            for m in connector.mappings.select_related("station", "parameter").order_by("id")
        ],
    }


def _unmasked(options: object, stored: Mapping[str, Any]) -> object:
    """`options` with each secret sent back as the mask replaced by the stored value, so that a
    client that reads, edits and writes the whole object keeps the password. The mask with no
    stored value to keep is refused (it would become the password)."""
    if not isinstance(options, Mapping):
        return options  # the option rules name it
    kept = dict(options)
    for name in MASKED_OPTIONS:
        if kept.get(name) != OPTION_MASK:
            continue
        if not stored.get(name):
            message = f"{OPTION_MASK} stands for the stored {name}; there is none to keep. Send the {name} itself."
            raise InvalidInput(f"options.{name}: {message}", field=f"options.{name}", code=ErrorCode.BAD_OPTIONS)
        kept[name] = stored[name]
    return kept


def _check(values: Mapping[str, Any]) -> list[MappingRow]:
    """Every rule on a whole configuration; one InvalidInput names every bad field."""
    kind = values["kind"]
    problems: list[Problem] = list(iter_kind_problems(kind))
    if not problems:
        problems += endpoint_problems(kind, values["endpoint"])
        problems += options_problems(kind, values["options"])
    if not isinstance(values["enabled"], bool):
        problems.append(Problem("enabled", "true or false."))
    rows: list[MappingRow] = []
    if kind in ConnectorKind.values:  # sources are checked by the kind's rules
        found, rows = mappings_check(kind, values["mappings"])
        problems += found
    raise_problems(problems)
    return rows


def _row_values(row: MappingRow) -> dict[str, Any]:
    return {
        "source": row.source,
        "station": row.station.code if row.station else None,
        "room": row.room,
        "parameter": row.parameter.code,
        "unit": row.unit,
        "position_source": row.position_source,
        "data_type": row.data_type,
        "scale": row.scale,
    }


def _mappings_write(connector: Connector, rows: list[MappingRow]) -> None:
    ConnectorMapping.objects.bulk_create(
        ConnectorMapping(
            connector=connector,
            source=row.source,
            station=row.station,
            room=row.room,
            parameter=row.parameter,
            unit=row.unit,
            position_source=row.position_source,
            data_type=row.data_type,
            scale=row.scale,
        )
        for row in rows
    )


def _unknown_fields(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a field of a connector.", field=unknown[0][:200], code=ErrorCode.UNKNOWN_FIELD
        )


def connector_create(*, actor: Actor, data: Mapping[str, Any]) -> Connector:
    """A new connector with its mappings and its status row (state `stopped`, counts 0)."""
    _unknown_fields(data, ("code", *FIELDS))
    code = data.get("code")
    raise_problems(code_problems(code))
    assert isinstance(code, str)
    values = {
        "kind": data.get("kind"),
        "endpoint": data.get("endpoint"),
        "enabled": data.get("enabled", True),
        "options": _unmasked(data.get("options", {}), {}),
        "mappings": data.get("mappings", []),
    }
    rows = _check(values)
    try:
        # A savepoint: a concurrent create of the same code fails on the unique index, not the caller's transaction.
        with transaction.atomic():
            connector = Connector.objects.create(
                code=code,
                kind=values["kind"],
                endpoint=values["endpoint"],
                enabled=values["enabled"],
                options=dict(values["options"]),
            )
            _mappings_write(connector, rows)
            ConnectorStatus.objects.create(connector=connector)
            audit_record(
                actor=actor,
                action="connector.create",
                entity="connector",
                entity_id=connector.code,
                after=connector_values(connector),
            )
    except IntegrityError:
        if Connector.objects.filter(code=code).exists():
            raise Conflict(f"Connector {code!r} exists.", field="code", code=ErrorCode.DUPLICATE_CODE) from None
        raise
    return connector


def _locked(code: str) -> Connector:
    # order_by("pk") drops the default ordering; FOR UPDATE waits for a concurrent change.
    connector = Connector.objects.select_for_update().filter(code=code).order_by("pk").first()
    if connector is None:
        raise NotFound(f"No connector {code!r}.", field="code", code=ErrorCode.UNKNOWN_CONNECTOR)
    return connector


def connector_update(*, actor: Actor, code: str, data: Mapping[str, Any]) -> Connector:
    """Change the fields given; `mappings`, when given, replaces the whole list. A PATCH that
    changes nothing writes nothing and keeps the revision."""
    if "code" in data and data["code"] != code:
        raise InvalidInput("The code of a connector never changes.", field="code", code=ErrorCode.CODE_IMMUTABLE)
    _unknown_fields(data, ("code", *FIELDS))
    with transaction.atomic():
        connector = _locked(code)
        before = connector_values(connector)
        current = {
            "kind": connector.kind,
            "endpoint": connector.endpoint,
            "enabled": connector.enabled,
            "options": connector.options,
            "mappings": before["mappings"],
        }
        after = current | {k: v for k, v in data.items() if k in FIELDS}
        after["options"] = _unmasked(after["options"], connector.options)
        # A kind change checks the kept mappings and options against the new kind too.
        rows = _check(after)
        after["mappings"] = [_row_values(row) for row in rows]
        if after == current:
            return connector
        connector.kind = after["kind"]
        connector.endpoint = after["endpoint"]
        connector.enabled = after["enabled"]
        connector.options = dict(after["options"])
        connector.save(update_fields=["kind", "endpoint", "enabled", "options", "updated_at"])
        Connector.objects.filter(pk=connector.pk).update(revision=F("revision") + 1)
        if after["mappings"] != current["mappings"]:
            connector.mappings.all().delete()
            _mappings_write(connector, rows)
        connector.refresh_from_db()
        changed = connector_values(connector)
        audit_record(
            actor=actor,
            action="connector.update",
            entity="connector",
            entity_id=code,
            before={k: v for k, v in before.items() if changed[k] != v},
            after={k: v for k, v in changed.items() if before[k] != v},
        )
    return connector


def connector_delete(*, actor: Actor, code: str) -> None:
    """Delete the connector, its mappings, status and receipts; its measurements stay."""
    with transaction.atomic():
        connector = _locked(code)
        before = connector_values(connector)
        connector.delete()
        audit_record(actor=actor, action="connector.delete", entity="connector", entity_id=code, before=before)
