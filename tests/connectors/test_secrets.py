"""A connector's password is never shown in an answer, and the mask sent back keeps it."""

import copy
from typing import Any

import pytest

from audit.models import AuditEvent
from connectors.models import Connector
from connectors.validation import OPTION_MASK

URL = "/api/connectors/"
MQTT = {
    "code": "dry-room-mqtt",
    "kind": "mqtt",
    "endpoint": "mqtt://127.0.0.1:1883",
    "options": {"qos": 1, "username": "line", "password": "s3cret-Pa55"},
    "mappings": [{"source": "line1/+/dewpoint", "room": "dry-room-1", "parameter": "dew_point_c", "unit": "degC"}],
}
OPCUA = {
    "code": "COAT-01-plc",
    "kind": "opcua",
    "endpoint": "opc.tcp://10.0.0.5:4840",
    "options": {
        "security_policy": "Basic256Sha256",
        "security_mode": "Sign",
        "certificate": "/etc/celltrace/cert.der",
        "private_key": "/etc/celltrace/key.pem",
        "username": "line",
        "password": "opc-secret",
    },
    "mappings": [],
}


@pytest.fixture
def mqtt(engineer_client: Any, stations: Any, parameters: Any) -> dict[str, Any]:
    response = engineer_client.post(URL, MQTT, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _stored(code: str = "dry-room-mqtt") -> dict[str, Any]:
    return dict(Connector.objects.get(code=code).options)


def test_answers_mask_the_password(engineer_client, mqtt):
    assert mqtt["options"] == {"qos": 1, "username": "line", "password": OPTION_MASK}
    one = engineer_client.get(f"{URL}dry-room-mqtt/").json()
    listed = engineer_client.get(URL).json()["results"]
    for body in (one, listed[0]):
        assert body["options"]["password"] == OPTION_MASK
    response = engineer_client.get(URL)
    assert b"s3cret-Pa55" not in response.content
    assert _stored()["password"] == "s3cret-Pa55"


def test_opcua_private_key_path_is_shown_and_its_password_masked(engineer_client, stations, parameters):
    response = engineer_client.post(URL, OPCUA, format="json")
    assert response.status_code == 201, response.content
    options = engineer_client.get(f"{URL}COAT-01-plc/").json()["options"]
    assert options["private_key"] == "/etc/celltrace/key.pem" and options["password"] == OPTION_MASK


def test_an_empty_password_is_shown_as_it_is(engineer_client, stations, parameters):
    body = copy.deepcopy(MQTT)
    body["options"]["password"] = ""
    assert engineer_client.post(URL, body, format="json").json()["options"]["password"] == ""


def test_patch_of_the_whole_object_read_keeps_the_password(engineer_client, mqtt):
    edited = {k: mqtt[k] for k in ("kind", "endpoint", "enabled", "options", "mappings")}
    edited["options"] = edited["options"] | {"username": "line2"}
    response = engineer_client.patch(f"{URL}dry-room-mqtt/", edited, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["options"]["password"] == OPTION_MASK
    assert _stored() == {"qos": 1, "username": "line2", "password": "s3cret-Pa55"}
    event = AuditEvent.objects.get(action="connector.update")
    assert event.after["options"]["username"] == "line2" and "s3cret" not in str(event.after)


def test_patch_that_sends_the_read_back_unchanged_changes_nothing(engineer_client, mqtt):
    same = {k: mqtt[k] for k in ("kind", "endpoint", "enabled", "options", "mappings")}
    response = engineer_client.patch(f"{URL}dry-room-mqtt/", same, format="json")
    assert response.status_code == 200 and response.json()["revision"] == 1
    assert not AuditEvent.objects.filter(action="connector.update").exists()


def test_patch_with_a_new_password_replaces_it(engineer_client, mqtt):
    options = {"qos": 1, "password": "n3w"}
    response = engineer_client.patch(f"{URL}dry-room-mqtt/", {"options": options}, format="json")
    assert response.status_code == 200, response.content
    assert _stored() == {"qos": 1, "password": "n3w"} and response.json()["revision"] == 2


def test_the_mask_with_no_stored_password_is_400(engineer_client, stations, parameters):
    body = copy.deepcopy(MQTT)
    body["options"]["password"] = OPTION_MASK
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "bad_options" and "options.password" in response.json()["errors"]
    assert not Connector.objects.exists()
    body["options"].pop("password")
    assert engineer_client.post(URL, body, format="json").status_code == 201
    patch = {"options": {"qos": 1, "password": OPTION_MASK}}
    response = engineer_client.patch(f"{URL}dry-room-mqtt/", patch, format="json")
    assert response.status_code == 400 and "options.password" in response.json()["errors"]
    assert "password" not in _stored()


def test_the_private_keys_password_is_masked_in_answers_and_the_audit_trail(engineer_client, stations, parameters):
    body = copy.deepcopy(OPCUA)
    body["options"]["private_key_password"] = "key-secret"
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["options"]["private_key_password"] == OPTION_MASK
    assert b"key-secret" not in engineer_client.get(f"{URL}COAT-01-plc/").content
    event = AuditEvent.objects.get(action="connector.create", entity_id="COAT-01-plc")
    assert "key-secret" not in str(event.after)
    assert _stored("COAT-01-plc")["private_key_password"] == "key-secret"
