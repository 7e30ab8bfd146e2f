"""The OpenAPI document tells the truth about the answers: every operation's error responses in
the API's one error shape, the export download's types, the dictionary's rows; and what the
schema calls invalid (an unreadable page_size, an empty choice, a boolean that is not one) the
API refuses with a 400 naming it."""

from typing import Any

import pytest

from measurements.models import Measurement, Parameter

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(operator_client: Any) -> dict[str, Any]:
    response = operator_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _error_ref(response: dict[str, Any], components: dict[str, Any] | None = None) -> str:
    """The response's Error reference, also where it is one of several shapes (the lab file
    import's 400 is an Error, or the rows refused with their counts)."""
    ref = str(response["content"]["application/json"]["schema"]["$ref"])
    shapes = (components or {}).get(ref.rsplit("/", 1)[-1], {}).get("oneOf")
    if shapes and any(shape.get("$ref") == ERROR_REF for shape in shapes):
        return ERROR_REF
    return ref


@pytest.mark.django_db
def test_every_operation_documents_the_error_answers(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"400", "401", "403", "404"}
            if method in ("post", "put", "patch"):
                expected |= {"409", "413", "415"}
            responses = operation["responses"]
            assert expected <= set(responses), (method, path)
            components = schema["components"]["schemas"]
            assert all(_error_ref(responses[code], components) == ERROR_REF for code in expected), (method, path)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail", "errors"]
    assert error["properties"]["errors"]["additionalProperties"]["items"] == {"type": "string"}


@pytest.mark.django_db
def test_the_views_own_responses_are_kept(schema):
    export = schema["paths"]["/api/exports/"]["post"]["responses"]
    assert "202" in export and "200" not in export
    download = schema["paths"]["/api/exports/{id}/download/"]["get"]["responses"]
    # the export's own format, or with table=cycling&format=bdf-metadata the BDF file's JSON-LD sidecar
    assert set(download["200"]["content"]) == {
        "application/vnd.apache.parquet",
        "text/csv",
        "application/x-ndjson",
        "application/ld+json",
    }
    assert _error_ref(download["410"]) == ERROR_REF
    events = schema["paths"]["/api/epcis/events/"]["get"]["responses"]["200"]["content"]
    assert set(events) == {"application/ld+json", "application/json"}  # ?format=json answers JSON


@pytest.mark.django_db
def test_an_iri_left_blank_is_not_documented_as_a_uri(schema):
    """Kinds and steps with no ontology term answer "": a "uri" format would make that a violation."""
    components = schema["components"]["schemas"]
    for name, field in [("Kind", "ontology_iri"), ("Step", "ontology_iri"), ("Step", "process_iri")]:
        assert components[name]["properties"][field]["type"] == "string"
        assert "format" not in components[name]["properties"][field], (name, field)


@pytest.mark.django_db
def test_the_dictionary_is_documented_as_its_rows_and_the_audit_actor_as_nullable(schema):
    dictionary = schema["paths"]["/api/exports/{id}/dictionary/"]["get"]["responses"]["200"]["content"]
    rows = dictionary["application/json"]["schema"]
    assert rows["type"] == "array"
    entry = schema["components"]["schemas"][rows["items"]["$ref"].rsplit("/", 1)[-1]]
    assert {"name", "parameter", "coverage", "criticality_ml"} <= set(entry["properties"])
    assert entry["properties"]["parameter"]["nullable"] is True
    assert schema["components"]["schemas"]["AuditEvent"]["properties"]["actor"]["nullable"] is True


@pytest.mark.django_db
def test_the_bulk_body_is_required(schema):
    assert schema["paths"]["/api/measurements/bulk/"]["post"]["requestBody"]["required"] is True


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", ["", "null", "0", "-3", "2.5", "٣"])
def test_a_page_size_that_is_not_a_whole_number_of_at_least_one_is_400(operator_client, page_size):
    _refused(operator_client.get("/api/measurements/", {"page_size": page_size}), "page_size")


@pytest.mark.django_db
def test_a_page_size_above_the_limit_is_capped_not_refused(operator_client):
    assert operator_client.get("/api/measurements/", {"page_size": 10**9}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field", "value"),
    [
        ("/api/measurements/", "source", ""),
        ("/api/measurements/", "out_of_range", ""),
        ("/api/measurements/", "out_of_range", "74574"),
        ("/api/parameters/", "scope", ""),
        ("/api/parameters/", "online", "yes"),
        ("/api/operations/", "started_after", ""),
    ],
)
def test_an_empty_or_unreadable_filter_that_is_not_free_text_is_400(operator_client, url, field, value):
    _refused(operator_client.get(url, {field: value}), field)


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [("station", ""), ("online", "True"), ("online", "false")])
def test_free_text_filters_may_be_empty_and_booleans_are_read(operator_client, field, value):
    url = "/api/measurements/" if field == "station" else "/api/parameters/"
    assert operator_client.get(url, {field: value}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["station", "item", "parameter"])
def test_a_bulk_row_code_sent_as_an_object_is_400_not_500(operator_client, stations, field):
    Parameter.objects.create(code="dew_point_t", name="Dew point", scope="environment", category="PP", unit="degC")
    row = {"parameter": "dew_point_t", "value": 1, "unit": "degC", "measured_at": "2026-03-02T08:00:00Z"}
    response = operator_client.post("/api/measurements/bulk/", [row | {field: {}}], format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [f"rows[0].{field}"]
    assert Measurement.objects.count() == 0


def test_reading_an_export_that_is_not_done_documents_its_409(schema):
    paths = schema["paths"]
    for path in ("/api/exports/{id}/download/", "/api/exports/{id}/dictionary/"):
        assert "409" in paths[path]["get"]["responses"], path
    assert "409" not in paths["/api/exports/{id}/"]["get"]["responses"]
