"""The record's triggers hold against the tables' owner (the suite connects as it): no TRUNCATE,
no DELETE, and no UPDATE but finishing an operation, releasing a hold, and an item's status and
quantity."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Model

from audit.models import AuditEvent
from lots.models import Item, ItemStatus
from measurements.models import Measurement
from traceability.holds import hold_release
from traceability.models import Hold, HoldItem, LineageEdge, Operation, OperationInput

pytestmark = pytest.mark.postgresql_only


def _sql(statement: str, params: list[Any] | None = None) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return int(cursor.rowcount)


def _refused(statement: str, params: list[Any] | None = None, match: str = "append-only") -> None:
    with pytest.raises(DatabaseError, match=match):
        _sql(statement, params)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@pytest.mark.parametrize(
    "model", [AuditEvent, Measurement, Operation, OperationInput, LineageEdge, Hold, HoldItem, Item]
)
def test_no_record_table_can_be_truncated(record, model):
    # The test's transaction holds deferred foreign-key checks, which TRUNCATE would refuse first;
    # CASCADE, so that a table other tables point at reaches its trigger, not the foreign-key check.
    _sql("SET CONSTRAINTS ALL IMMEDIATE")
    _refused(f"TRUNCATE {_table(model)} CASCADE", match="it is never truncated")
    assert model.objects.exists()


def test_a_lineage_edge_never_changes(record):
    _refused(f"UPDATE {_table(LineageEdge)} SET parent_from_m = 1 WHERE id = %s", [record.edge.pk])
    _refused(f"DELETE FROM {_table(LineageEdge)} WHERE id = %s", [record.edge.pk], match="never deleted")
    with pytest.raises(DatabaseError), transaction.atomic():
        LineageEdge.objects.filter(pk=record.edge.pk).update(reversed=True)
    record.edge.refresh_from_db()
    assert (record.edge.parent_from_m, record.edge.reversed) == (None, False)


def test_an_open_operation_is_finished_once_and_nothing_else_changes(record):
    table, pk = _table(Operation), record.operation.pk
    _refused(f"UPDATE {table} SET parameters = '{{\"forged\": 1}}' WHERE id = %s", [pk], match="only ended_at")
    assert _sql(f"UPDATE {table} SET ended_at = started_at + interval '1 hour' WHERE id = %s", [pk]) == 1
    _refused(f"UPDATE {table} SET ended_at = started_at + interval '2 hours' WHERE id = %s", [pk], match="set once")
    _refused(f"UPDATE {table} SET ended_at = NULL WHERE id = %s", [pk], match="set once")
    _refused(f"DELETE FROM {table} WHERE id = %s", [pk], match="never deleted")
    record.operation.refresh_from_db()
    assert record.operation.ended_at == record.operation.started_at + timedelta(hours=1)


def test_a_hold_is_released_once(record, engineer):
    table, pk = _table(Hold), record.hold.pk
    # The release's columns move only with released_at, from empty.
    _refused(f"UPDATE {table} SET release_reason = 'quietly' WHERE id = %s", [pk], match="set once")
    _refused(f"UPDATE {table} SET reason = 'other' WHERE id = %s", [pk])
    hold_release(actor=engineer, hold_id=pk, reason="moisture fine")
    _refused(f"UPDATE {table} SET released_at = now(), release_reason = 'again' WHERE id = %s", [pk], match="set once")
    _refused(f"UPDATE {table} SET released_by_id = NULL WHERE id = %s", [pk], match="set once")
    record.hold.refresh_from_db()
    assert record.hold.release_reason == "moisture fine"


def test_an_item_changes_only_in_status_and_quantity(record):
    table, pk = _table(Item), record.lot.pk
    assert _sql(f"UPDATE {table} SET status = %s, quantity = 3 WHERE id = %s", [ItemStatus.SCRAPPED, pk]) == 1
    _refused(f"UPDATE {table} SET code = 'BND-FORGED' WHERE id = %s", [pk], match="only status, quantity")
    _refused(f"UPDATE {table} SET initial_quantity = 9 WHERE id = %s", [pk])
    _refused(f"DELETE FROM {table} WHERE id = %s", [pk], match="never deleted")
    record.lot.refresh_from_db()
    assert (record.lot.code, record.lot.status, float(record.lot.quantity)) == ("BND-REC", ItemStatus.SCRAPPED, 3.0)


def test_a_measurement_is_never_updated_or_deleted(record):
    _refused(f"UPDATE {_table(Measurement)} SET value = 9 WHERE id = %s", [record.measurement.pk], match="never")
    _refused(f"DELETE FROM {_table(Measurement)} WHERE id = %s", [record.measurement.pk], match="never")
