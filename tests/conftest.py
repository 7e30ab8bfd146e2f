"""Shared fixtures: three users (operator, engineer, admin), API clients, a small line."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import stations_create, user_create
from traceability.models import Station


@pytest.fixture
def operator(db: Any) -> User:
    return user_create("olga-operator", "operator")


@pytest.fixture
def engineer(db: Any) -> User:
    return user_create("emil-engineer", "engineer")


@pytest.fixture
def admin_user(db: Any) -> User:
    return User.objects.create_superuser(username="ada-admin", password="x")


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator_client(operator: User) -> APIClient:
    return _client(operator)


@pytest.fixture
def engineer_client(engineer: User) -> APIClient:
    return _client(engineer)


@pytest.fixture
def admin_client_api(admin_user: User) -> APIClient:
    return _client(admin_user)


@pytest.fixture
def stations(engineer: User) -> dict[str, Station]:
    """One station per step family of an electrode and cell line."""
    return stations_create(engineer)


@pytest.fixture
def post_json() -> Callable[..., Any]:
    def post(client: APIClient, url: str, body: Any, **headers: str) -> Any:
        return client.post(url, body, format="json", **headers)

    return post


# Fuzz tests stay bounded: a few hundred examples each, no per-example deadline (PostgreSQL).
hypothesis_settings.register_profile(
    "celltrace",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.load_profile("celltrace")
