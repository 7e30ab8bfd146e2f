"""Two engineers changing one connector at once, each in its own thread and connection: both
changes land, the revision moves twice, the audit trail has both (select_for_update)."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEvent
from connectors.models import Connector
from connectors.services import connector_create
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded(db: None) -> None:
    seed_kinds_and_steps()


def _race(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = call()
        except Exception as exc:  # the test inspects it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def test_parallel_patches_both_land(engineer, stations, parameters, engineer_client: APIClient):
    body = {
        "code": "dry-room-mqtt",
        "kind": "mqtt",
        "endpoint": "mqtt://127.0.0.1:1883",
        "mappings": [{"source": "a/b", "room": "dry-room-1", "parameter": "dew_point_c", "unit": "degC"}],
    }
    connector_create(actor=engineer, data=body)
    url = "/api/connectors/dry-room-mqtt/"

    def patch(change: dict[str, Any]) -> Callable[[], Any]:
        return lambda: engineer_client.patch(url, change, format="json").status_code

    outcomes = _race(patch({"enabled": False}), patch({"options": {"keepalive": 30}}))
    assert outcomes == [200, 200]
    connector = Connector.objects.get(code="dry-room-mqtt")
    assert connector.revision == 3
    assert connector.enabled is False and connector.options == {"keepalive": 30}  # no lost update
    events = AuditEvent.objects.filter(action="connector.update").order_by("id")
    assert [e.after["revision"] for e in events] == [2, 3]


def test_parallel_creates_of_one_code_one_wins(engineer, stations, parameters, engineer_client: APIClient):
    body = {"code": "twice", "kind": "modbus", "endpoint": "modbus://10.0.0.7:502"}

    def create() -> Any:
        return engineer_client.post("/api/connectors/", body, format="json").status_code

    assert sorted(_race(*(create for _ in range(4)))) == [201, 409, 409, 409]
    assert Connector.objects.filter(code="twice").count() == 1
    assert AuditEvent.objects.filter(action="connector.create").count() == 1
