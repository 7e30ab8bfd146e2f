"""The audit trail: every write leaves one append-only row; nothing can change or remove it."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from tests.factories import register
from tests.traceability.helpers import slitting_body

pytestmark = pytest.mark.django_db


def _only_new(before_pk: int, action: str) -> AuditEvent:
    [event] = AuditEvent.objects.filter(pk__gt=before_pk, action=action)
    return event


def _last_pk() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_item_register_is_audited(operator_client, operator, stations):
    mark = _last_pk()
    body = {"kind": "cathode_active_material", "quantity": 25, "unit": "kg", "code": "NMC-A1", "station": "MIX-01"}
    assert operator_client.post("/api/items/", body, format="json").status_code == 201
    event = _only_new(mark, "item.register")
    assert (event.actor, event.entity, event.entity_id, event.station) == (operator, "item", "NMC-A1", "MIX-01")
    assert event.before is None
    assert event.after["code"] == "NMC-A1"
    assert event.after["kind"] == "cathode_active_material"
    assert event.after["status"] == "active"
    assert float(event.after["quantity"]) == 25
    assert event.at is not None


def test_operation_is_audited_with_before_and_after(operator_client, operator, engineer, stations):
    register(engineer, "calendered_roll", 520, "m", code="CAL-0007", polarity="cathode")
    mark = _last_pk()
    response = operator_client.post("/api/operations/", slitting_body(), format="json")
    assert response.status_code == 201
    event = _only_new(mark, "operation.record")
    assert (event.actor, event.entity, event.entity_id, event.station) == (
        operator,
        "operation",
        str(response.json()["id"]),
        "SLT-01",
    )
    [before] = event.before["inputs"]
    assert (before["code"], before["status"], float(before["quantity"])) == ("CAL-0007", "active", 520)
    [after] = event.after["inputs"]
    assert (after["code"], after["status"], float(after["taken"])) == ("CAL-0007", "consumed", 520)
    assert event.after["step"] == "slitting"
    assert event.after["outputs"] == [response.json()["outputs"][0]["code"]]
    assert event.after["scrap"][0]["reason"] == "edge trim"
    # One event per write: the operation wrote exactly one row.
    assert AuditEvent.objects.filter(pk__gt=mark).count() == 1


def test_hold_and_release_are_audited(engineer_client, engineer, stations):
    register(engineer, "cell", None, None, code="CELL-A1")
    mark = _last_pk()
    hold = engineer_client.post("/api/holds/", {"item": "CELL-A1", "reason": "bulge"}, format="json").json()
    placed = _only_new(mark, "hold.place")
    assert (placed.actor, placed.entity, placed.entity_id) == (engineer, "hold", str(hold["id"]))
    assert placed.after["items"] == ["CELL-A1"]
    assert placed.after["reason"] == "bulge"
    assert placed.station == ""

    response = engineer_client.post(f"/api/holds/{hold['id']}/release/", {"reason": "ok"}, format="json")
    assert response.status_code == 200
    released = _only_new(mark, "hold.release")
    assert (released.actor, released.entity_id) == (engineer, str(hold["id"]))
    assert released.before == {"released": False}
    assert released.after["released"] is True
    assert released.after["items"] == ["CELL-A1"]


def test_station_create_is_audited(engineer_client, engineer):
    mark = _last_pk()
    body = {"code": "SLT-02", "name": "Slitter 2", "steps": ["slitting"], "room": "dry-room-1"}
    assert engineer_client.post("/api/stations/", body, format="json").status_code == 201
    event = _only_new(mark, "station.create")
    assert (event.actor, event.entity, event.entity_id) == (engineer, "station", "SLT-02")
    assert event.after == {"code": "SLT-02", "name": "Slitter 2", "room": "dry-room-1", "steps": ["slitting"]}


def test_item_scrap_is_audited(operator_client, operator, engineer, stations):
    register(engineer, "cell", None, None, code="CELL-S1")
    mark = _last_pk()
    response = operator_client.post(
        "/api/items/CELL-S1/scrap/", {"reason": "EOL fail", "station": "FORM-01"}, format="json"
    )
    assert response.status_code == 200
    event = _only_new(mark, "item.scrap")
    assert (event.actor, event.station) == (operator, "FORM-01")
    assert (event.before["status"], event.after["status"]) == ("active", "scrapped")


def test_a_refused_write_leaves_no_audit_row(operator_client, stations):
    mark = _last_pk()
    response = operator_client.post("/api/items/", {"kind": "unobtainium", "quantity": 1, "unit": "kg"}, format="json")
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(pk__gt=mark).exists()


@pytest.fixture
def event(engineer):
    register(engineer, "binder", 5, "kg", code="BND-AU")
    return AuditEvent.objects.get(action="item.register", entity_id="BND-AU")


def test_the_orm_cannot_update_or_delete_an_event(event):
    event.action = "item.forged"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    event.refresh_from_db()
    assert event.action == "item.register"


def test_queryset_update_and_delete_are_refused_by_the_database(event):
    """QuerySet.update() and .delete() never call save(); the trigger (both vendors) stops them."""
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="item.forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.action == "item.register"


@pytest.mark.postgresql_only
def test_raw_sql_cannot_update_or_delete_an_event_on_postgresql(event):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'item.forged' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, action="item.register").exists()


def test_the_audit_endpoint_is_read_only_even_for_an_admin(admin_client_api, event):
    path = "/api/audit/"
    assert admin_client_api.get(path).json()["results"][0]["entity_id"] == event.entity_id
    count = AuditEvent.objects.count()
    for method in ("put", "patch", "delete"):
        response = getattr(admin_client_api, method)(path, {"action": "x"}, format="json")
        assert response.status_code in (403, 405), (method, response.status_code)
    assert AuditEvent.objects.count() == count
    event.refresh_from_db()
    assert event.action == "item.register"


def test_operators_cannot_read_the_audit_trail(operator_client, engineer_client, anon_client, event):
    assert anon_client.get("/api/audit/").status_code == 401
    assert operator_client.get("/api/audit/").status_code == 403
    assert engineer_client.get("/api/audit/").status_code == 200
