"""`Accept: application/ld+json` on an item (docs/api.md, Interoperability): rdflib reads it and
finds the kind's class, the lineage and a measurement with its QUDT unit."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import rdflib
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rdflib.namespace import PROV, RDF, SOSA

from lots.identifiers import digital_link
from lots.models import ItemKind
from lots.ontology_terms import KIND_IRIS, STEP_IRIS, STEP_PROCESS_IRIS
from measurements.models import Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import build_line, register
from traceability.models import Step

pytestmark = pytest.mark.django_db

QUDT = rdflib.Namespace("http://qudt.org/schema/qudt/")
LD = "application/ld+json"
# CalenderedCoatingThickness, as the catalog names it
THICKNESS = "https://w3id.org/emmo/domain/electrochemistry#electrochemistry_f9e1c862_c510_4b11_9141_bc91045df817"


def _graph(client: Any, code: str) -> tuple[rdflib.Graph, Any]:
    response = client.get(f"/api/items/{quote(code, safe='')}/", HTTP_ACCEPT=LD)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith(LD)
    graph = rdflib.Graph()
    graph.parse(data=response.content, format="json-ld")
    return graph, response


def _link(item: Any) -> rdflib.URIRef:
    kind = item.kind
    return rdflib.URIRef(digital_link(code=item.code, gtin_item_reference=kind.gtin_item_reference, level=kind.level))


def test_kinds_and_steps_carry_the_seeded_classes() -> None:
    assert ItemKind.objects.get(code="cell").ontology_iri == KIND_IRIS["cell"]
    step = Step.objects.get(code="formation")
    assert (step.ontology_iri, step.process_iri) == (STEP_IRIS["formation"], STEP_PROCESS_IRIS["formation"])
    for iri in [*KIND_IRIS.values(), *STEP_IRIS.values(), *STEP_PROCESS_IRIS.values()]:
        assert iri == "" or iri.startswith(("https://w3id.org/emmo/domain/", "https://bvco.ontology.link/BVCO_"))


def test_a_roll_describes_its_class_lineage_and_a_measurement(
    operator: Any, operator_client: Any, stations: Any
) -> None:
    line = build_line(operator, lanes=1, sheets_per_lane=2, sheets_per_cell=2)
    roll = line.calendered_roll
    assert roll is not None and line.coated_roll is not None and line.slurry is not None
    Parameter.objects.create(
        code="calendered_coating_thickness",
        name="Calendered coating thickness",
        step_id="calendering",
        category="MP",
        unit="um",
        ontology_iri=THICKNESS,
    )
    measurement_record(
        actor=operator,
        data=MeasurementInput(
            parameter="calendered_coating_thickness",
            value=12.5,
            unit="um",
            item=roll.code,
            measured_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        ),
    )
    graph, _ = _graph(operator_client, roll.code)
    me = _link(roll)
    assert (me, RDF.type, rdflib.URIRef(KIND_IRIS["calendered_roll"])) in graph
    # direct parent, and upstream beyond it: the slurry the coated roll was made from
    assert (me, PROV.wasDerivedFrom, _link(line.coated_roll)) in graph
    assert (_link(line.coated_roll), PROV.wasDerivedFrom, _link(line.slurry)) in graph
    # a direct daughter (a lane)
    assert (_link(line.lanes[0]), PROV.wasDerivedFrom, me) in graph
    activities = set(graph.subjects(RDF.type, rdflib.URIRef(STEP_PROCESS_IRIS["calendering"])))
    assert len(activities) == 1
    assert (activities.pop(), PROV.used, _link(line.coated_roll)) in graph

    observation = next(graph.subjects(SOSA.hasFeatureOfInterest, me))
    assert (observation, RDF.type, SOSA.Observation) in graph
    assert graph.value(observation, SOSA.observedProperty) == rdflib.URIRef(THICKNESS)
    result = graph.value(observation, SOSA.hasResult)
    assert graph.value(result, QUDT.numericValue).toPython() == pytest.approx(12.5)
    assert graph.value(result, QUDT.hasUnit) == rdflib.URIRef("http://qudt.org/vocab/unit/MicroM")


def test_the_query_count_does_not_grow_with_the_lineage(operator: Any, operator_client: Any, stations: Any) -> None:
    small = build_line(operator, lanes=1, sheets_per_lane=2, sheets_per_cell=2)
    large = build_line(operator, lanes=2, sheets_per_lane=8, sheets_per_cell=2)
    counts = []
    for line in (small, large):
        with CaptureQueriesContext(connection) as queries:
            _graph(operator_client, line.cells[0].code)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 12


def test_default_json_is_unchanged(operator: Any, operator_client: Any) -> None:
    item = register(operator, "binder", 5, "kg")
    plain = operator_client.get(f"/api/items/{item.code}/")
    json_ = operator_client.get(f"/api/items/{item.code}/", HTTP_ACCEPT="application/json")
    assert plain["Content-Type"] == "application/json"
    assert plain.content == json_.content
    assert b"@context" not in plain.content and plain.json()["code"] == item.code


@pytest.mark.parametrize("code", ["LOT-ünï-€-λ", "LOT-A\x01B"])
def test_unusual_codes_round_trip(operator: Any, operator_client: Any, code: str) -> None:
    item = register(operator, "separator", 100, "m", code=code)
    graph, _ = _graph(operator_client, item.code)
    assert (_link(item), RDF.type, rdflib.URIRef(KIND_IRIS["separator"])) in graph
    identifiers = {str(o) for o in graph.objects(_link(item), rdflib.URIRef("http://purl.org/dc/terms/identifier"))}
    assert identifiers == {code}


def test_nul_in_the_code_is_not_a_500(operator_client: Any) -> None:
    response = operator_client.get("/api/items/A%00B/", HTTP_ACCEPT=LD)
    assert response.status_code in (400, 404)


def test_a_kind_without_a_class_has_no_type(operator: Any, operator_client: Any) -> None:
    item = register(operator, "solvent", 5, "L")
    graph, _ = _graph(operator_client, item.code)
    assert list(graph.objects(_link(item), RDF.type)) == []


def test_unknown_item_is_404(operator_client: Any) -> None:
    response = operator_client.get("/api/items/NO-SUCH-ITEM/", HTTP_ACCEPT=LD)
    assert response.status_code == 404


def test_authentication_required(anon_client: Any, operator: Any) -> None:
    item = register(operator, "binder", 5, "kg")
    response = anon_client.get(f"/api/items/{item.code}/", HTTP_ACCEPT=LD)
    assert response.status_code in (401, 403)


def test_kinds_and_steps_listings_carry_their_classes(operator_client: Any) -> None:
    kinds = {kind["code"]: kind for kind in operator_client.get("/api/kinds/").json()}
    assert kinds["separator"]["ontology_iri"] == KIND_IRIS["separator"]
    assert kinds["solvent"]["ontology_iri"] == ""
    steps = {step["code"]: step for step in operator_client.get("/api/steps/").json()}
    assert steps["coating"]["ontology_iri"] == STEP_IRIS["coating"]
    assert steps["degassing"]["process_iri"] == STEP_PROCESS_IRIS["degassing"]
