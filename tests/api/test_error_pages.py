"""With DEBUG off, errors under /api/ answer the API's JSON shape, elsewhere plain HTML pages."""

from typing import Any

import pytest
from django.test import Client, override_settings

from core.errors import ErrorCode

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.error_urls")]


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def _production(settings: Any) -> None:
    settings.DEBUG = False


def _json(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert (body["code"], body["errors"]) == (code, {})
    return body


@pytest.mark.parametrize("url", ["/api/no-such-endpoint/", "/api/v2/items/", "/api/"])
def test_an_unknown_api_url_is_json_404(client: Client, url: str) -> None:
    body = _json(client.get(url), 404, ErrorCode.NOT_FOUND)
    assert url in body["detail"]


def test_an_unexpected_exception_under_api_is_json_500_that_tells_nothing(client: Client) -> None:
    body = _json(client.post("/api/test-broken/"), 500, ErrorCode.SERVER_ERROR)
    assert "unexpected bug" not in body["detail"]


def test_permission_denied_and_bad_requests_under_api_are_json(client: Client) -> None:
    _json(client.get("/api/test-forbidden/"), 403, ErrorCode.PERMISSION_DENIED)
    body = _json(client.get("/api/test-suspicious/"), 400, ErrorCode.BAD_REQUEST)
    assert "forged" not in body["detail"]


def test_pages_elsewhere_are_html(client: Client) -> None:
    for url, status, title in (
        ("/no-such-page/", 404, "Not found"),
        ("/test-broken/", 500, "Server error"),
        ("/test-forbidden/", 403, "Forbidden"),
    ):
        response = client.get(url)
        assert response.status_code == status, url
        assert response["Content-Type"].startswith("text/html")
        assert f"<h1>{title}</h1>" in response.content.decode()


def test_the_api_s_own_404_keeps_its_code(engineer_client: Any) -> None:
    # An unknown item is answered by the API view itself, not by the 404 page.
    response = engineer_client.get("/api/items/NO-SUCH-ITEM/")
    assert (response.status_code, response.json()["code"]) == (404, ErrorCode.UNKNOWN_ITEM)


@override_settings(DEBUG=False, ROOT_URLCONF="config.urls")
def test_the_real_urlconf_answers_json_for_unknown_api_urls() -> None:
    response = Client().get("/api/nothing-here/")
    _json(response, 404, ErrorCode.NOT_FOUND)
    assert Client().get("/nothing-here/")["Content-Type"].startswith("text/html")
