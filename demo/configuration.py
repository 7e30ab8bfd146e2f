"""The demo's configuration: saved lab-file mappings and a (disabled) connector.

Written through the services the API calls (labfiles.services.mapping_create,
connectors.services.connector_create), so they are checked and audited like any other, from
demo/data/lab_mappings.toml and demo/data/connectors.toml (table name: the code).
"""

from dataclasses import dataclass

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


def demo_configuration_record(*, actor: Actor) -> DemoConfiguration:
    mappings = [
        mapping_create(actor=actor, data={"code": code, **fields})
        for code, fields in read_toml("lab_mappings.toml").items()
    ]
    connectors = [
        connector_create(actor=actor, data={"code": code, **fields})
        for code, fields in read_toml("connectors.toml").items()
    ]
    return DemoConfiguration(mappings=mappings, connectors=connectors)
