"""Reads to the replica, writes and read-your-writes to the primary (core.routing), with the
`replica` alias a mirror of the test database: which connection ran each query.
tests/core/test_replica.py does the same on a real streaming replica."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.routing import PIN_COOKIE, ReplicaRouter, read_alias, replica_reads
from datasets.models import Export
from datasets.runs import export_run
from lots.models import Item
from tests.factories import build_line
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)
from traceability.selectors import lineage_trace, track_ends

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]

WALK = "WITH RECURSIVE walk"


@pytest.fixture
def routed(settings: Any, tmp_path: Path) -> None:
    seed_kinds_and_steps()
    settings.CELLTRACE_READ_REPLICA = "replica"
    settings.MEDIA_ROOT = tmp_path / "media"


class _Both:
    """The queries each alias ran inside the block."""

    def __enter__(self) -> "_Both":
        self.primary = CaptureQueriesContext(connections["default"]).__enter__()
        self.replica = CaptureQueriesContext(connections["replica"]).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.replica.__exit__(*exc)
        self.primary.__exit__(*exc)

    def ran(self, alias: str, fragment: str) -> int:
        captured = self.primary if alias == "default" else self.replica
        return sum(fragment in query["sql"] for query in captured.captured_queries)


def _client(user: User) -> APIClient:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_without_a_replica_every_read_is_on_the_primary(engineer: User, stations: Any, settings: Any) -> None:
    settings.CELLTRACE_READ_REPLICA = None
    line = build_line(engineer)
    with _Both() as both:
        lineage_trace(item=line.cells[0])
    assert both.ran("default", WALK) == 1 and both.ran("replica", WALK) == 0


def test_a_genealogy_read_goes_to_the_replica_and_a_write_to_the_primary(
    routed: None, engineer: User, stations: Any
) -> None:
    line = build_line(engineer)
    with _Both() as both:
        genealogy = lineage_trace(item=line.cells[0])
        ends = list(track_ends(item=line.lots["nmc"]))  # a QuerySet evaluated after the call returned
        Item.objects.filter(pk=line.cells[0].pk).update(status="on_hold")
    assert both.ran("replica", WALK) == 2 and both.ran("default", WALK) == 0
    assert both.ran("default", "UPDATE") == 1 and both.ran("replica", "UPDATE") == 0
    assert genealogy.nodes and ends
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_read(Item) == "replica" and router.db_for_write(Item) == "default"
    assert router.db_for_read(Item) == "default"  # outside a replica-safe read
    assert not router.allow_migrate("replica", "lots") and router.allow_migrate("default", "lots")


def test_a_read_inside_a_write_transaction_stays_on_the_primary(routed: None, engineer: User, stations: Any) -> None:
    from django.db import transaction

    line = build_line(engineer)
    with _Both() as both, transaction.atomic():
        lineage_trace(item=line.cells[0])
    assert both.ran("default", WALK) == 1 and both.ran("replica", WALK) == 0


def test_the_api_reads_from_the_replica_until_the_client_writes(
    routed: None, engineer: User, operator: User, stations: Any
) -> None:
    line = build_line(engineer)
    client, other = _client(engineer), _client(operator)
    url = f"/api/items/{line.cells[0].code}/trace/"
    with _Both() as both:
        assert client.get(url).status_code == 200
    assert both.ran("replica", WALK) == 1 and both.ran("default", WALK) == 0

    # A write pins this client's next reads to the primary.
    wrote = client.post("/api/items/", {"kind": "cell"}, format="json")
    assert wrote.status_code == 201
    assert PIN_COOKIE in wrote.cookies
    client.cookies.clear()  # an API client keeps no cookies: the pin is found by its token
    with _Both() as both:
        assert client.get(url).status_code == 200
        assert client.get(f"/api/items/{wrote.json()['code']}/trace/").status_code == 200
    assert both.ran("default", WALK) == 2 and both.ran("replica", WALK) == 0
    # Another client did not write: the replica.
    with _Both() as both:
        assert other.get(url).status_code == 200
    assert both.ran("replica", WALK) == 1


def test_the_pin_ends_after_its_window(routed: None, engineer: User, stations: Any, settings: Any) -> None:
    settings.CELLTRACE_READ_YOUR_WRITES_SECONDS = 1
    line = build_line(engineer)
    client = _client(engineer)
    assert client.post("/api/items/", {"kind": "cell"}, format="json").status_code == 201
    import time

    time.sleep(1.2)
    client.cookies.clear()
    with _Both() as both:
        assert client.get(f"/api/items/{line.cells[0].code}/trace/").status_code == 200
    assert both.ran("replica", WALK) == 1


def test_an_export_built_on_the_replica_equals_the_one_built_on_the_primary(
    routed: None, engineer: User, stations: Any, settings: Any
) -> None:
    build_line(engineer)

    def built() -> tuple[str, int | None, _Both]:
        export = Export.objects.create(created_by=engineer, granularity="cell", format="csv", request_sha256="0" * 64)
        with _Both() as both:
            export_run(export.pk)
        export.refresh_from_db()
        assert export.status == "done", export.error
        return export.content_sha256, export.rows, both

    on_replica = built()
    settings.CELLTRACE_READ_REPLICA = None
    on_primary = built()
    assert on_replica[:2] == on_primary[:2] and on_replica[1] == 4
    # The rows came from the replica, without temporary tables (a standby makes none).
    assert on_replica[2].ran("replica", "FROM walk") > 0 and on_replica[2].ran("replica", "CREATE TEMPORARY") == 0
    assert on_replica[2].ran("default", "CREATE TEMPORARY") == 0
    assert on_primary[2].ran("default", "CREATE TEMPORARY") > 0
    assert read_alias() == "default"
