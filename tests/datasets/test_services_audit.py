"""Starting an export is in the audit trail: who asked for which data, in which format."""

from typing import Any

import pytest

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/exports/"


def test_starting_an_export_writes_one_audit_event(engineer_client: Any, engineer: Any, operator_client: Any) -> None:
    body = {
        "granularity": "sheet",
        "format": "json",
        "layout": "long",
        "filters": {"kind": "electrode_sheet", "codes": ["B", "A", "A"]},
    }
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    [event] = AuditEvent.objects.filter(action="export.request")
    assert (event.actor, event.entity, event.entity_id, event.before) == (engineer, "export", str(export_id), None)
    assert event.after == {
        "granularity": "sheet",
        "format": "jsonl",
        "layout": "long",
        "filters": {"kind": "electrode_sheet", "codes": ["A", "B"]},
        "parameters": None,
        "criticality": None,
        "split": None,
    }
    # The identical request still queued returns that export and starts nothing: no second event.
    assert engineer_client.post(URL, body, format="json").json()["id"] == export_id
    assert AuditEvent.objects.filter(action="export.request").count() == 1
    # Refused requests (wrong role, bad input) leave no event.
    assert operator_client.post(URL, body, format="json").status_code == 403
    assert engineer_client.post(URL, body | {"format": "xls"}, format="json").status_code == 400
    assert AuditEvent.objects.filter(action="export.request").count() == 1
