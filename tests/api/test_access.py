"""Every endpoint but health needs a signed-in user; pages use Django's session login."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/items/", "/api/kinds/", "/api/steps/", "/api/schema/", "/api/docs/"])
def test_no_credentials_no_access(anon_client, path):
    assert anon_client.get(path).status_code == 401


@pytest.mark.django_db
def test_health_needs_no_credentials_and_checks_the_database(anon_client):
    response = anon_client.get("/api/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_a_session_login_reaches_the_api_and_csrf_guards_its_writes():
    user = User.objects.create_user(username="sam", password="correct horse battery")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    client = Client(enforce_csrf_checks=True)
    login_page = client.get("/accounts/login/")
    assert login_page.status_code == 200
    response = client.post(
        "/accounts/login/",
        {
            "username": "sam",
            "password": "correct horse battery",
            "csrfmiddlewaretoken": login_page.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    assert client.get("/api/kinds/").status_code == 200
    # A session write without the CSRF token is refused: a page cannot be tricked into writing.
    refused = client.post(
        "/api/items/", {"kind": "binder", "quantity": 1, "unit": "kg"}, content_type="application/json"
    )
    assert refused.status_code == 403


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_contract(operator_client):
    response = operator_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/items/", "/api/items/{identifier}/trace/", "/api/operations/", "/api/holds/", "/api/scan/"]:
        assert path in paths


def test_the_openapi_schema_generates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/exports/{id}/download/" in (tmp_path / "schema.yaml").read_text()
