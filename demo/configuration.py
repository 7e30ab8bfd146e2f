"""The demo's configuration: saved lab-file mappings and a (disabled) connector.

Written through the services the API calls (labfiles.services.mapping_create,
connectors.services.connector_create), so they are checked and audited like any other, from
demo/data/lab_mappings.toml and demo/data/connectors.toml (table name: the code). load_demo
also adds them to a demo loaded before these files existed (`make run` on an old db.sqlite3):
a code saved once (it exists, or the audit trail has its creation) is never saved again, so a
second run adds nothing and a mapping the user deleted stays deleted.
"""

from dataclasses import dataclass

from audit.models import AuditEvent
from audit.services import Actor
from connectors.models import Connector
from connectors.services import connector_create
from labfiles.models import ImportMapping
from labfiles.services import mapping_create

from .readers import read_toml


@dataclass(frozen=True)
class DemoConfiguration:
    mappings: list[ImportMapping]
    connectors: list[Connector]


def _saved_once(model: type[ImportMapping] | type[Connector], entity: str) -> set[str]:
    """The codes that exist, and those created once and deleted since (audit.services writes both)."""
    created = AuditEvent.objects.filter(entity=entity, action=f"{entity}.create").values_list("entity_id", flat=True)
    return {*model.objects.values_list("code", flat=True), *created}


def demo_configuration_record(*, actor: Actor) -> DemoConfiguration:
    """Save the mappings and connectors never saved before; returns those it saved."""
    saved_mappings = _saved_once(ImportMapping, "import_mapping")
    mappings = [
        mapping_create(actor=actor, data={"code": code, **fields})
        for code, fields in read_toml("lab_mappings.toml").items()
        if code not in saved_mappings
    ]
    saved_connectors = _saved_once(Connector, "connector")
    connectors = [
        connector_create(actor=actor, data={"code": code, **fields})
        for code, fields in read_toml("connectors.toml").items()
        if code not in saved_connectors
    ]
    return DemoConfiguration(mappings=mappings, connectors=connectors)


def demo_configuration_report(configuration: DemoConfiguration) -> list[str]:
    lines = []
    if configuration.mappings:
        codes = ", ".join(m.code for m in configuration.mappings)
        lines.append(f"Lab-file mappings: {codes} (try examples/lab/balance.csv with balance-csv).")
    if configuration.connectors:
        described = ", ".join(
            f"{c.code} ({c.kind} {c.endpoint}, {'enabled' if c.enabled else 'disabled'})"
            for c in configuration.connectors
        )
        lines.append(f"Connectors: {described}.")
    return lines
