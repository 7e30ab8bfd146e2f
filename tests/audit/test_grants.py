"""The app's own role (no superuser, owning no table) after `grant_app_role`: the record's
protection cannot be switched off from it, and the changes the app makes still work.

transaction=True: the role's own connection must see the rows the fixtures wrote.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from lots.models import Item, ItemStatus
from measurements.models import Measurement
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)
from traceability.models import Hold, LineageEdge, Operation

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded(db: None) -> None:
    """The previous test's TRUNCATE emptied them."""
    seed_kinds_and_steps()


@pytest.fixture
def app_role(transactional_db: None) -> Iterator[str]:
    role = f"ct_app_{uuid.uuid4().hex[:12]}"  # roles are per cluster: one of our own
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN")
    try:
        call_command("grant_app_role", role)
        yield role
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")  # its grants and default privileges here
            cursor.execute(f"DROP ROLE {role}")


@pytest.fixture
def as_app(app_role: str) -> Iterator[psycopg.Connection[Any]]:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, dbname=db["NAME"], user=app_role, autocommit=True
    ) as conn:
        yield conn


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("TRUNCATE {measurement}", psycopg.errors.InsufficientPrivilege),
        ("TRUNCATE {audit}", psycopg.errors.InsufficientPrivilege),
        ("UPDATE {edge} SET parent_from_m = 1", psycopg.errors.InsufficientPrivilege),
        ("UPDATE {edge} SET id = id + 1000", psycopg.errors.RaiseException),  # its lock column: the trigger
        ("DELETE FROM {measurement}", psycopg.errors.InsufficientPrivilege),
        ("UPDATE {item} SET code = 'FORGED'", psycopg.errors.InsufficientPrivilege),
        ("ALTER TABLE {measurement} DISABLE TRIGGER ALL", psycopg.errors.InsufficientPrivilege),
        ("DROP TRIGGER measurement_never_overwritten ON {measurement}", psycopg.errors.InsufficientPrivilege),
        ("SET session_replication_role = replica", psycopg.errors.InsufficientPrivilege),
    ],
)
def test_the_app_role_cannot_undo_the_record(record, as_app, statement, error):
    tables = {"measurement": Measurement, "audit": AuditEvent, "edge": LineageEdge, "item": Item}
    with pytest.raises(error):
        as_app.execute(statement.format(**{key: _table(model) for key, model in tables.items()}))
    assert Measurement.objects.count() == 1
    assert LineageEdge.objects.get().parent_from_m is None


def test_the_app_role_makes_the_changes_the_app_makes(record, as_app):
    columns = [f.column for f in Measurement._meta.concrete_fields if not f.primary_key]
    listed = ", ".join(columns)
    as_app.execute(
        f"INSERT INTO {_table(Measurement)} ({listed}) SELECT {listed} FROM {_table(Measurement)} WHERE id = %s",
        [record.measurement.pk],
    )
    with as_app.transaction():  # a correction locks the value it corrects
        as_app.execute(f"SELECT id FROM {_table(Measurement)} WHERE id = %s FOR UPDATE", [record.measurement.pk])
    as_app.execute(f"UPDATE {_table(Operation)} SET ended_at = started_at WHERE id = %s", [record.operation.pk])
    as_app.execute(
        f"UPDATE {_table(Hold)} SET released_at = now(), release_reason = 'fine' WHERE id = %s", [record.hold.pk]
    )
    as_app.execute(f"UPDATE {_table(Item)} SET status = %s WHERE id = %s", [ItemStatus.SCRAPPED, record.lot.pk])
    assert Measurement.objects.count() == 2
    assert Operation.objects.get(pk=record.operation.pk).ended_at is not None
    assert Hold.objects.get(pk=record.hold.pk).release_reason == "fine"
    assert Item.objects.get(pk=record.lot.pk).status == ItemStatus.SCRAPPED


def test_a_role_that_could_switch_the_triggers_off_is_refused(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="superuser or the migrating role"):
        call_command("grant_app_role", owner)
    with pytest.raises(CommandError, match="There is no role"):
        call_command("grant_app_role", "ct_no_such_role")
