"""A cell export's cycling table as Battery Data Format (docs/api.md, Exports): pyarrow reads
the BDF labels, IRIs and units, the values are the native table's, the sidecar is JSON-LD."""

import hashlib
import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import rdflib
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone
from rdflib.namespace import RDF, SOSA

from lots.identifiers import digital_link
from lots.ontology_terms import BATTERY_CYCLER, CYCLING_TEST, KIND_IRIS
from measurements.models import Measurement, Parameter
from tests.factories import build_line

pytestmark = pytest.mark.django_db

URL = "/api/exports/"
BDF = "https://w3id.org/battery-data-alliance/ontology/battery-data-format#"
SPDX = rdflib.Namespace("http://spdx.org/rdf/terms#")
# One charge of 1 A for an hour, then a discharge of 0.9 A for an hour.
CYCLER_CSV = b"Test_Time,Current,Voltage,Cycle_Index\n0,1,3.6,1\n3600,1,4.1,1\n3600,-0.9,4.0,1\n7200,-0.9,3.0,1\n"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _export(client: Any, engineer: User, capture: Any, fmt: str) -> tuple[int, Any]:
    line = build_line(engineer)
    parameter, _ = Parameter.objects.get_or_create(
        code="formation_cycling", defaults={"name": "Formation cycling", "scope": "material", "category": "SP"}
    )
    cell = line.cells[0]
    measurement = Measurement(
        parameter=parameter, item=cell, measured_at=timezone.now(), source="offline", instrument="Arbin LBT21084 ch 3"
    )
    measurement.file.save("formation.csv", ContentFile(CYCLER_CSV), save=False)
    measurement.save()
    with capture(execute=True):
        export_id = client.post(URL, {"format": fmt}, format="json").json()["id"]
    assert client.get(f"{URL}{export_id}/").json()["status"] == "done"
    return export_id, cell


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_bdf_download_has_the_bdf_names_iris_units_and_native_values(
    engineer: User, engineer_client: Any, stations: Any, django_capture_on_commit_callbacks: Any, fmt: str
) -> None:
    export_id, cell = _export(engineer_client, engineer, django_capture_on_commit_callbacks, fmt)
    response = engineer_client.get(f"{URL}{export_id}/download/?table=cycling&format=bdf")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert response["Content-Disposition"].endswith('.bdf.parquet"')
    body = b"".join(response.streaming_content)
    assert response["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == ["Test Time / s", "Voltage / V", "Current / A", "Cycle Count / 1", "Step ID", "cell"]
    voltage = table.schema.field("Voltage / V").metadata
    assert voltage[b"iri"] == (BDF + "voltage_volt").encode()
    assert voltage[b"unit"] == b"http://qudt.org/vocab/unit/V"
    assert table.schema.field("Test Time / s").metadata[b"unit"] == b"http://qudt.org/vocab/unit/SEC"
    assert table.column("Current / A").to_pylist() == [1.0, 1.0, -0.9, -0.9]
    assert table.column("Test Time / s").to_pylist() == [0.0, 3600.0, 3600.0, 7200.0]
    assert table.column("Step ID").to_pylist() == [1, 1, 2, 2]
    assert table.column("cell").to_pylist() == [cell.code] * 4

    native = b"".join(engineer_client.get(f"{URL}{export_id}/download/?table=cycling").streaming_content)
    if fmt == "parquet":
        assert (
            pq.read_table(io.BytesIO(native)).column("voltage_volt").to_pylist()
            == table.column("Voltage / V").to_pylist()
        )


def test_the_sidecar_parses_and_names_the_file_cell_test_and_cycler(
    engineer: User, engineer_client: Any, stations: Any, django_capture_on_commit_callbacks: Any
) -> None:
    export_id, cell = _export(engineer_client, engineer, django_capture_on_commit_callbacks, "parquet")
    body = b"".join(engineer_client.get(f"{URL}{export_id}/download/?table=cycling&format=bdf").streaming_content)
    sidecar = engineer_client.get(f"{URL}{export_id}/download/?table=cycling&format=bdf-metadata")
    assert sidecar.status_code == 200
    assert sidecar["Content-Type"] == "application/ld+json"
    graph = rdflib.Graph()
    graph.parse(data=sidecar.content, format="json-ld")
    checksum = next(graph.objects(None, SPDX.checksum))
    assert str(graph.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()
    link = rdflib.URIRef(
        digital_link(code=cell.code, gtin_item_reference=cell.kind.gtin_item_reference, level=cell.kind.level)
    )
    assert (link, RDF.type, rdflib.URIRef(KIND_IRIS["cell"])) in graph
    test = next(graph.subjects(SOSA.hasFeatureOfInterest, link))
    assert (test, RDF.type, rdflib.URIRef(CYCLING_TEST)) in graph
    cycler = graph.value(test, SOSA.madeBySensor)
    assert (cycler, RDF.type, rdflib.URIRef(BATTERY_CYCLER)) in graph
    columns = {str(o) for o in graph.objects(None, rdflib.URIRef("http://www.w3.org/ns/csvw#propertyUrl"))}
    assert BDF + "current_ampere" in columns


@pytest.mark.parametrize(
    "query", ["table=cycles&format=bdf", "format=bdf", "table=cycling&format=xlsx", "format=", "table=cycling&format="]
)
def test_bdf_is_only_for_the_cycling_table(
    engineer: User, engineer_client: Any, stations: Any, django_capture_on_commit_callbacks: Any, query: str
) -> None:
    export_id, _ = _export(engineer_client, engineer, django_capture_on_commit_callbacks, "parquet")
    response = engineer_client.get(f"{URL}{export_id}/download/?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["format"]


def test_bdf_needs_authentication(anon_client: Any) -> None:
    assert anon_client.get(f"{URL}1/download/?table=cycling&format=bdf").status_code in (401, 403)
