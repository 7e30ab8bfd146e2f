"""The parameter catalog through HTTP: list and filter, read one, create and edit (engineers)."""

from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ErrorCode
from lots.services import item_register
from measurements.catalog import catalog_load
from measurements.models import Measurement, Parameter
from measurements.services_catalog import parameter_create

URL = "/api/parameters/"
PARAMETER_FIELDS = frozenset(
    {
        "code",
        "name",
        "step",
        "category",
        "unit",
        "criticality",
        "measurability",
        "online",
        "techniques",
        "typical_min",
        "typical_max",
        "ontology_iri",
        # beyond the contract
        "scope",
        "accuracy",
        "source",
        "file_types",
    }
)
NEW = {
    "code": "slurry_ph",
    "name": "Slurry pH",
    "step": "mixing",
    "category": "PP",
    "unit": "dimensionless",
    "criticality": {"empirical": "high", "ml": None},
    "online": False,
    "techniques": ["pH meter"],
    "typical_min": 7,
    "typical_max": 12,
}


def _assert_error(response: Any, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["code"] == code
    assert field in body["errors"], body


@pytest.fixture
def small_catalog(engineer) -> dict[str, Parameter]:
    """Six parameters over three steps, three categories and all scopes."""
    rows: list[dict[str, Any]] = [
        {"code": "mixing_speed", "step": "mixing", "category": "MP", "unit": "rpm", "online": True,
         "criticality_continuum": "high", "criticality_discrete": "low", "typical_min": 1000, "typical_max": 4000},
        {"code": "slurry_viscosity", "step": "mixing", "category": "PP", "unit": "Pa*s", "online": False,
         "techniques": ["rheometer"]},
        {"code": "coating_speed", "step": "coating", "category": "MP", "unit": "m/min", "online": True,
         "criticality_empirical": "high", "criticality_ml": "high", "measurability": "intermediate"},
        {"code": "mass_loading", "step": "coating", "category": "SP", "unit": "mg/cm**2", "online": True,
         "ontology_iri": "https://w3id.org/emmo/domain/electrochemistry#electrochemistry_8541f8b7"},
        {"code": "am_density", "scope": "material", "step": "mixing", "category": "MP", "unit": "g/cm**3"},
        {"code": "dry_room_dew_point", "scope": "environment", "category": "PP", "unit": "degC", "online": True},
    ]  # fmt: skip
    return {
        row["code"]: parameter_create(actor=engineer, name=row["code"].replace("_", " ").capitalize(), **row)
        for row in rows
    }


def _codes(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["code"] for p in response.json()]


# --- List -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["am_density", "mixing_speed", "slurry_viscosity", "coating_speed", "mass_loading", "dry_room_dew_point"]),
        ({"step": "coating"}, ["coating_speed", "mass_loading"]),
        ({"category": "MP"}, ["am_density", "mixing_speed", "coating_speed"]),
        ({"online": "true"}, ["mixing_speed", "coating_speed", "mass_loading", "dry_room_dew_point"]),
        ({"online": "false"}, ["slurry_viscosity"]),
        ({"scope": "environment"}, ["dry_room_dew_point"]),
        ({"step": "mixing", "category": "PP"}, ["slurry_viscosity"]),
        ({"q": "SPEED"}, ["mixing_speed", "coating_speed"]),
        ({"step": "eol_test"}, []),
    ],
)
def test_list_filters_in_line_order_with_a_constant_query_count(
    operator_client, small_catalog, django_assert_num_queries, query, expected
):
    # 1 token + user with the user's groups (role), 2 the parameters joined to their step for
    # the line order (no pagination, no COUNT).
    with django_assert_num_queries(2):
        response = operator_client.get(URL, query)
    # Line order: the step's sequence, then the code; environment parameters (no step) last.
    assert _codes(response) == expected


@pytest.mark.django_db
def test_the_whole_loaded_catalog_comes_in_one_response(operator_client, django_assert_num_queries):
    result = catalog_load()
    # Same two queries for the ~190 rows of the real catalog.
    with django_assert_num_queries(2):
        response = operator_client.get(URL)
    assert len(_codes(response)) == result.created == Parameter.objects.count()


@pytest.mark.django_db
def test_a_bad_category_is_a_400_naming_it(operator_client, small_catalog):
    _assert_error(operator_client.get(URL, {"category": "XX"}), 400, "invalid", "category")


@pytest.mark.django_db
def test_the_contract_shape_with_null_criticality(operator_client, small_catalog):
    speed = operator_client.get(f"{URL}mixing_speed/").json()
    assert set(speed) == PARAMETER_FIELDS
    assert speed == {
        "code": "mixing_speed",
        "name": "Mixing speed",
        "scope": "step",
        "step": "mixing",
        "category": "MP",
        "unit": "rpm",
        "criticality": {"empirical": None, "continuum": "high", "discrete": "low", "ml": None},
        "measurability": None,
        "online": True,
        "techniques": [],
        "typical_min": 1000.0,
        "typical_max": 4000.0,
        "accuracy": "",
        "ontology_iri": "",
        "source": "",
        "file_types": [],
    }
    dew = operator_client.get(f"{URL}dry_room_dew_point/").json()
    assert (dew["step"], dew["scope"], dew["typical_min"]) == (None, "environment", None)
    assert dew["criticality"] == {"empirical": None, "continuum": None, "discrete": None, "ml": None}
    listed = {p["code"]: p for p in operator_client.get(URL).json()}
    assert listed["coating_speed"]["criticality"]["ml"] == "high"
    assert listed["coating_speed"]["measurability"] == "intermediate"


@pytest.mark.django_db
def test_detail_query_count_and_unknown_code(operator_client, small_catalog, django_assert_num_queries):
    # 1 token + user with the user's groups (role), 2 the parameter.
    with django_assert_num_queries(2):
        response = operator_client.get(f"{URL}mass_loading/")
    assert response.status_code == 200
    assert response.json()["unit"] == "mg/cm**2"
    assert operator_client.get(f"{URL}no_such_thing/").status_code == 404


# --- Permissions ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reads_need_a_user_writes_need_an_engineer(anon_client, operator_client, small_catalog):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.get(f"{URL}mixing_speed/").status_code == 401
    assert anon_client.post(URL, NEW, format="json").status_code == 401
    assert anon_client.patch(f"{URL}mixing_speed/", {"unit": "1/s"}, format="json").status_code == 401
    assert operator_client.get(URL).status_code == 200
    assert operator_client.post(URL, NEW, format="json").status_code == 403
    assert operator_client.patch(f"{URL}mixing_speed/", {"unit": "1/s"}, format="json").status_code == 403
    assert not Parameter.objects.filter(code="slurry_ph").exists()
    assert Parameter.objects.get(code="mixing_speed").unit == "rpm"


# --- Create -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_engineer_creates_a_parameter_and_it_is_audited(engineer, engineer_client):
    response = engineer_client.post(URL, NEW, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == PARAMETER_FIELDS
    assert body["criticality"] == {"empirical": "high", "continuum": None, "discrete": None, "ml": None}
    assert (body["scope"], body["step"], body["typical_min"], body["typical_max"]) == ("step", "mixing", 7.0, 12.0)
    event = AuditEvent.objects.get(action="parameter.create", entity_id="slurry_ph")
    assert event.actor == engineer
    assert event.before is None
    assert event.after["unit"] == "dimensionless"
    assert event.after["criticality_empirical"] == "high"
    assert event.after["step"] == "mixing"


@pytest.mark.django_db
def test_an_admin_creates_too(admin_client_api):
    assert admin_client_api.post(URL, NEW, format="json").status_code == 201


@pytest.mark.django_db
def test_create_replays_with_the_same_idempotency_key(engineer_client):
    first = engineer_client.post(URL, NEW, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    again = engineer_client.post(URL, NEW, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replay"] == "true"
    assert AuditEvent.objects.filter(action="parameter.create", entity_id="slurry_ph").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"unit": "bananas"}, 400, ErrorCode.BAD_UNIT, "unit"),
        ({"unit": "kg("}, 400, ErrorCode.BAD_UNIT, "unit"),
        ({"step": "baking"}, 400, ErrorCode.UNKNOWN_STEP, "step"),
        ({"step": None}, 400, ErrorCode.UNKNOWN_STEP, "step"),  # scope "step" needs one
        ({"typical_min": 12, "typical_max": 7}, 400, ErrorCode.BAD_RANGE, "typical_max"),
        ({"category": "XP"}, 400, "invalid", "category"),
        ({"criticality": {"ml": "extreme"}}, 400, "invalid", "criticality.ml"),
        ({"code": "Not a slug!"}, 400, "invalid", "code"),
        ({"ontology_iri": "not a url"}, 400, "invalid", "ontology_iri"),
        ({"ontology_iri": "ftp://example.org/x"}, 400, "invalid", "ontology_iri"),
        ({"code": "mixing_speed"}, 409, ErrorCode.DUPLICATE_CODE, "code"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(engineer_client, small_catalog, change, status, code, field):
    audits = AuditEvent.objects.count()
    _assert_error(engineer_client.post(URL, NEW | change, format="json"), status, code, field)
    assert AuditEvent.objects.count() == audits


# --- Edit -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_engineer_edits_a_parameter_and_the_change_is_audited(engineer, engineer_client, small_catalog):
    response = engineer_client.patch(
        f"{URL}mixing_speed/",
        {"typical_max": 5000, "criticality": {"ml": "intermediate"}, "techniques": ["tachometer"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["typical_max"] == 5000.0
    assert body["criticality"] == {"empirical": None, "continuum": "high", "discrete": "low", "ml": "intermediate"}
    assert body["techniques"] == ["tachometer"]
    event = AuditEvent.objects.get(action="parameter.update", entity_id="mixing_speed")
    assert event.actor == engineer
    assert event.before == {"criticality_ml": "", "techniques": [], "typical_max": 4000.0}
    assert event.after == {"criticality_ml": "intermediate", "techniques": ["tachometer"], "typical_max": 5000}


@pytest.mark.django_db
def test_an_edit_that_changes_nothing_writes_no_audit_row(engineer_client, small_catalog):
    response = engineer_client.patch(f"{URL}mixing_speed/", {"unit": "rpm", "typical_min": 1000}, format="json")
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="parameter.update").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"unit": "bananas"}, 400, ErrorCode.BAD_UNIT, "unit"),
        ({"step": "baking"}, 400, ErrorCode.UNKNOWN_STEP, "step"),
        ({"typical_min": 4500}, 400, ErrorCode.BAD_RANGE, "typical_max"),  # against the stored max
        ({"code": "spin_speed"}, 400, ErrorCode.CODE_IMMUTABLE, "code"),
    ],
)
def test_edit_refuses_bad_input_naming_the_field(engineer_client, small_catalog, change, status, code, field):
    _assert_error(engineer_client.patch(f"{URL}mixing_speed/", change, format="json"), status, code, field)
    assert not AuditEvent.objects.filter(action="parameter.update").exists()


@pytest.mark.django_db
def test_edit_of_an_unknown_parameter_is_a_404(engineer_client):
    response = engineer_client.patch(f"{URL}no_such_thing/", {"unit": "s"}, format="json")
    _assert_error(response, 404, ErrorCode.UNKNOWN_PARAMETER, "code")


@pytest.mark.django_db
def test_the_unit_of_a_parameter_with_measurements_cannot_change(engineer, engineer_client, small_catalog):
    speed = small_catalog["mixing_speed"]
    # Without measurements the unit may change.
    assert engineer_client.patch(f"{URL}mixing_speed/", {"unit": "1/s"}, format="json").status_code == 200
    item = item_register(actor=engineer, kind="cathode_active_material", quantity=25, unit="kg")
    Measurement.objects.create(parameter=speed, item=item, measured_at=timezone.now(), source="offline", value=1.0)
    response = engineer_client.patch(f"{URL}mixing_speed/", {"unit": "rpm"}, format="json")
    _assert_error(response, 409, ErrorCode.UNIT_IN_USE, "unit")
    assert Parameter.objects.get(pk=speed.pk).unit == "1/s"
    # Other fields still change.
    assert engineer_client.patch(f"{URL}mixing_speed/", {"name": "Rotor speed"}, format="json").status_code == 200


# --- Admin ------------------------------------------------------------------------------------

ADMIN = "/admin/measurements/parameter/"


def _admin_form(**fields: Any) -> dict[str, Any]:
    form = {
        "name": "Slurry pH",
        "scope": "step",
        "step": "mixing",
        "category": "PP",
        "unit": "dimensionless",
        "criticality_empirical": "",
        "criticality_continuum": "",
        "criticality_discrete": "",
        "criticality_ml": "",
        "measurability": "",
        "online": "unknown",
        "techniques": "[]",
        "typical_min": "",
        "typical_max": "",
        "accuracy": "",
        "ontology_iri": "",
        "source": "",
        "file_types": "[]",
    }
    return form | fields


@pytest.fixture
def admin_web(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_admin_add_and_change_go_through_the_services_and_are_audited(admin_web, admin_user):
    response = admin_web.post(f"{ADMIN}add/", _admin_form(code="slurry_ph", typical_min="7", typical_max="12"))
    assert response.status_code == 302, response.content.decode()[:2000]
    parameter = Parameter.objects.get(code="slurry_ph")
    created = AuditEvent.objects.get(action="parameter.create", entity_id="slurry_ph")
    assert (created.actor, created.after["typical_max"]) == (admin_user, 12.0)

    response = admin_web.post(
        f"{ADMIN}{parameter.pk}/change/", _admin_form(typical_min="7", typical_max="14", online="true")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    parameter.refresh_from_db()
    assert (parameter.typical_max, parameter.online) == (14.0, True)
    updated = AuditEvent.objects.get(action="parameter.update", entity_id="slurry_ph")
    assert updated.actor == admin_user
    assert updated.before == {"online": None, "typical_max": 12.0}
    assert updated.after == {"online": True, "typical_max": 14.0}


@pytest.mark.django_db
def test_admin_shows_the_services_rules_as_form_errors(admin_web, engineer, small_catalog):
    speed = small_catalog["mixing_speed"]
    item = item_register(actor=engineer, kind="cathode_active_material", quantity=25, unit="kg")
    Measurement.objects.create(parameter=speed, item=item, measured_at=timezone.now(), source="offline", value=1.0)
    bad = [
        (f"{ADMIN}add/", _admin_form(code="slurry_ph", unit="bananas"), "unit"),
        (f"{ADMIN}add/", _admin_form(code="slurry_ph", typical_min="9", typical_max="1"), "typical_max"),
        (f"{ADMIN}{speed.pk}/change/", _admin_form(name="Mixing speed", category="MP", unit="1/s"), "unit"),
    ]
    for url, form, field in bad:
        response = admin_web.post(url, form)
        assert response.status_code == 200  # the form again, with its errors
        assert field in response.context["adminform"].form.errors
    assert not Parameter.objects.filter(code="slurry_ph").exists()
    assert Parameter.objects.get(pk=speed.pk).unit == "rpm"
    assert AuditEvent.objects.filter(action="parameter.update").count() == 0
    assert admin_web.get(ADMIN, {"q": "speed", "category": "MP"}).status_code == 200
