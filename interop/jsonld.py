"""An item as JSON-LD: its kind's EMMO / BattINFO class, its lineage and its measurements.

Lineage is PROV-O (each edge's operation a prov:Activity typed by its step's EMMO and Battery
Value Chain Ontology classes; a daughter prov:wasDerivedFrom its parent), measurements SOSA
observations whose results carry a QUDT unit. Everything upstream of the item and its direct
daughters are described; a fixed number of queries whatever of the lineage's size.
"""

from typing import Any

from core.routing import replica_safe
from lots.identifiers import digital_link
from lots.models import Item, ItemKind
from measurements.selectors import measurement_queryset
from traceability.models import Step
from traceability.selectors import GenealogyEdge, lineage_walk

from .qudt import qudt_unit

# The newest measurements of the item described (a coated roll can carry thousands).
MEASUREMENTS_DESCRIBED = 1000

CONTEXT: dict[str, Any] = {
    "prov": "http://www.w3.org/ns/prov#",
    "sosa": "http://www.w3.org/ns/sosa/",
    "qudt": "http://qudt.org/schema/qudt/",
    "dcterms": "http://purl.org/dc/terms/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "schema": "https://schema.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "identifier": "dcterms:identifier",
    "label": "rdfs:label",
    "wasDerivedFrom": {"@id": "prov:wasDerivedFrom", "@type": "@id"},
    "wasGeneratedBy": {"@id": "prov:wasGeneratedBy", "@type": "@id"},
    "used": {"@id": "prov:used", "@type": "@id"},
    "hasFeatureOfInterest": {"@id": "sosa:hasFeatureOfInterest", "@type": "@id"},
    "observedProperty": {"@id": "sosa:observedProperty", "@type": "@id"},
    "resultTime": {"@id": "sosa:resultTime", "@type": "xsd:dateTime"},
    "hasResult": {"@id": "sosa:hasResult"},
    "numericValue": {"@id": "qudt:numericValue", "@type": "xsd:double"},
    "hasUnit": {"@id": "qudt:hasUnit", "@type": "@id"},
    "unitText": "schema:unitText",
}


def operation_iri(operation_id: int) -> str:
    return f"urn:celltrace:operation:{operation_id}"


def measurement_iri(measurement_id: int) -> str:
    return f"urn:celltrace:measurement:{measurement_id}"


def _item_node(code: str, kind: ItemKind) -> dict[str, Any]:
    link = digital_link(code=code, gtin_item_reference=kind.gtin_item_reference, level=kind.level)
    node: dict[str, Any] = {"@id": link, "identifier": code}
    if kind.ontology_iri:
        node["@type"] = kind.ontology_iri
    return node


def _operation_nodes(edges: list[GenealogyEdge], links: dict[str, str], steps: dict[str, Step]) -> list[dict[str, Any]]:
    """One prov:Activity per operation: the parents it used, typed by its step's classes."""
    used: dict[int, set[str]] = {}
    step_of: dict[int, str] = {}
    for edge in edges:
        used.setdefault(edge.operation, set()).add(links[edge.parent])
        step_of[edge.operation] = edge.step
    nodes = []
    for operation_id in sorted(used):
        step = steps[step_of[operation_id]]
        types = ["prov:Activity"] + [iri for iri in (step.ontology_iri, step.process_iri) if iri]
        nodes.append(
            {"@id": operation_iri(operation_id), "@type": types, "label": step.code, "used": sorted(used[operation_id])}
        )
    return nodes


def _observation(measurement: Any, item_link: str) -> dict[str, Any]:
    parameter = measurement.parameter
    node: dict[str, Any] = {
        "@id": measurement_iri(measurement.pk),
        "@type": "sosa:Observation",
        "label": parameter.code,
        "hasFeatureOfInterest": item_link,
        "resultTime": measurement.measured_at.isoformat(),
    }
    if parameter.ontology_iri:
        node["observedProperty"] = parameter.ontology_iri
    if measurement.value is not None:
        result: dict[str, Any] = {"@type": "qudt:QuantityValue", "numericValue": measurement.value}
        unit_iri = qudt_unit(parameter.unit)
        if unit_iri:
            result["hasUnit"] = unit_iri
        result["unitText"] = parameter.unit
        node["hasResult"] = result
    if measurement.operation_id:
        node["prov:wasGeneratedBy"] = {"@id": operation_iri(measurement.operation_id)}
    return node


@replica_safe
def item_jsonld(item: Item) -> dict[str, Any]:
    """The item, everything upstream of it, its direct daughters and its newest measurements."""
    kinds = {kind.code: kind for kind in ItemKind.objects.all()}
    steps = {step.code: step for step in Step.objects.all()}
    upstream = lineage_walk(item=item, direction="upstream")
    downstream = lineage_walk(item=item, direction="downstream", depth=1)

    links: dict[str, str] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for genealogy_node in [*upstream.nodes, *downstream.nodes]:
        if genealogy_node.code not in nodes:
            node = _item_node(genealogy_node.code, kinds[genealogy_node.kind])
            nodes[genealogy_node.code] = node
            links[genealogy_node.code] = node["@id"]
    edges = [*upstream.edges, *downstream.edges]
    for edge in edges:
        child = nodes[edge.child]
        child.setdefault("wasDerivedFrom", []).append(links[edge.parent])
        child.setdefault("wasGeneratedBy", []).append(operation_iri(edge.operation))
    for node in nodes.values():
        for key in ("wasDerivedFrom", "wasGeneratedBy"):
            if key in node:
                node[key] = sorted(set(node[key]))

    root = nodes[item.code]
    root["label"] = item.kind.name
    measurements = measurement_queryset().filter(item=item).order_by("-measured_at", "-id")[:MEASUREMENTS_DESCRIBED]
    observations = [_observation(m, root["@id"]) for m in measurements]
    graph = [root, *(n for code, n in nodes.items() if code != item.code)]
    return {"@context": CONTEXT, "@graph": graph + _operation_nodes(edges, links, steps) + observations}
