"""A database the request cannot use (SQLite locked by another writer, a PostgreSQL backend
gone) is a JSON 503 with Retry-After, never a 500; the same request once it is back succeeds."""

import json
import sqlite3
from typing import Any

import pytest
from django.db import connection

from api.errors import RETRY_AFTER_S
from interop.models import CapturedEvent

CAPTURE = "/api/epcis/capture/"
DOCUMENT = json.dumps(
    {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T10:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": "2026-12-01T08:00:00.000+01:00",
                    "eventTimeZoneOffset": "+01:00",
                    "epcList": ["urn:epc:id:sscc:4012345.0000000333"],
                    "action": "OBSERVE",
                }
            ]
        },
    }
)


def _capture(client: Any) -> Any:
    return client.post(CAPTURE, data=DOCUMENT, content_type="application/ld+json")


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert response.headers["Content-Type"].split(";")[0] in ("application/json", "application/ld+json")
    body = response.json()
    assert body["code"] == "database_unavailable" and body["detail"] and body["errors"] == {}


def _export(client: Any) -> Any:
    return client.get("/api/epcis/events/", HTTP_ACCEPT="application/ld+json")


# Transactional: the lock must meet a request outside the test's transaction. A read, not a
# capture: its audit rows are append-only, and the flush after a transactional test would fail.
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock")
def test_a_locked_sqlite_database_is_a_503_with_retry_after(engineer_client: Any) -> None:
    name = str(connection.settings_dict["NAME"])
    holder = sqlite3.connect(name, uri=name.startswith("file:"), timeout=0.1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a file database: readers wait too (rollback journal)
    holder.execute("DELETE FROM interop_capturedevent")  # shared-cache memory database: the table's write lock
    options = connection.settings_dict.setdefault("OPTIONS", {})
    timeout = options.get("timeout")
    connection.close()
    options["timeout"] = 0.2  # wait a little for the lock, not 5 s
    try:
        _assert_unavailable(_export(engineer_client))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.close()
        if timeout is None:
            del options["timeout"]
        else:
            options["timeout"] = timeout
    assert _export(engineer_client).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backend terminated")
def test_a_terminated_postgresql_connection_is_a_503_with_retry_after(engineer_client: Any) -> None:
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    try:
        _assert_unavailable(_capture(engineer_client))
    finally:
        connection.close()  # the test client keeps the broken connection; the next query reconnects
    assert _capture(engineer_client).status_code == 201
    assert CapturedEvent.objects.count() == 1
