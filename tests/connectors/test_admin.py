"""The admin writes connectors through the services (revision, audit, status row) and shows the
status read-only; a bad mapping is a form error on its row, nothing written."""

from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from connectors.models import Connector, ConnectorStatus
from connectors.services import connector_create

ADD = "/admin/connectors/connector/add/"


@pytest.fixture
def admin_browser(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _form(stations: Any, parameters: Any, **mapping: str) -> dict[str, str]:
    row = {
        "source": "a/+/dew",
        "room": "dry-room-1",
        "parameter": str(parameters["dew_point_c"].pk),
        "unit": "degC",
        "scale": "1",
    } | mapping
    return {
        "code": "dry-mqtt",
        "kind": "mqtt",
        "endpoint": "mqtt://127.0.0.1:1883",
        "enabled": "on",
        "options": '{"qos": 1}',
        "mappings-TOTAL_FORMS": "1",
        "mappings-INITIAL_FORMS": "0",
        "mappings-MIN_NUM_FORMS": "0",
        "mappings-MAX_NUM_FORMS": "1000",
        **{f"mappings-0-{k}": v for k, v in row.items()},
    }


def test_admin_creates_through_the_services(admin_browser, stations, parameters):
    response = admin_browser.post(ADD, _form(stations, parameters))
    assert response.status_code == 302, response.content.decode()[:3000]
    connector = Connector.objects.get(code="dry-mqtt")
    assert connector.mappings.get().source == "a/+/dew"
    assert ConnectorStatus.objects.filter(connector=connector).exists()
    assert AuditEvent.objects.filter(action="connector.create", entity_id="dry-mqtt").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [({"source": "a/#/b"}, "whole level"), ({"unit": "m"}, "cannot be converted"), ({"data_type": "int16"}, "Modbus")],
)
def test_a_bad_mapping_is_an_error_on_its_row(admin_browser, stations, parameters, change, message):
    response = admin_browser.post(ADD, _form(stations, parameters, **change))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Connector.objects.exists()


def test_a_bad_endpoint_is_a_form_error(admin_browser, stations, parameters):
    response = admin_browser.post(ADD, _form(stations, parameters) | {"endpoint": "opc.tcp://x:4840"})
    assert response.status_code == 200 and "mqtt://" in response.content.decode()
    assert not Connector.objects.exists()


def test_change_list_and_page_show_the_status(admin_browser, engineer, stations, parameters):
    connector = connector_create(actor=engineer, data={"code": "c1", "kind": "modbus", "endpoint": "modbus://h:502"})
    ConnectorStatus.objects.filter(connector=connector).update(rejected=3, last_error="register 7 does not exist")
    page = admin_browser.get("/admin/connectors/connector/").content.decode()
    assert "register 7 does not exist" in page and "stopped" in page
    page = admin_browser.get(f"/admin/connectors/connector/{connector.pk}/change/").content.decode()
    assert "register 7 does not exist" in page and 'name="received"' not in page


def test_admin_change_bumps_the_revision(admin_browser, engineer, stations, parameters):
    connector_create(actor=engineer, data={"code": "dry-mqtt", "kind": "mqtt", "endpoint": "mqtt://b:1883"})
    connector = Connector.objects.get(code="dry-mqtt")
    form = _form(stations, parameters)
    form.pop("code")
    response = admin_browser.post(f"/admin/connectors/connector/{connector.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    connector.refresh_from_db()
    assert connector.revision == 2 and connector.mappings.count() == 1


def test_receipts_are_read_only(admin_browser, db):
    assert admin_browser.get("/admin/connectors/connectorreceipt/add/").status_code == 403
