"""Connectors through HTTP: engineers and admins only; create, read, change, delete; the live
status; and every rule of a configuration answered as a 400 naming its field."""

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from connectors.models import Connector, ConnectorMapping, ConnectorStatus
from core.errors import ErrorCode

URL = "/api/connectors/"
OPCUA = {
    "code": "COAT-01-plc",
    "kind": "opcua",
    "endpoint": "opc.tcp://10.0.0.5:4840",
    "enabled": True,
    "options": {"security_mode": "None", "publishing_interval_ms": 500},
    "mappings": [
        {
            "source": "ns=2;s=Coater.MassLoading",
            "station": "COAT-01",
            "parameter": "mass_loading_c",
            "unit": "g/m**2",
            "position_source": "ns=2;s=Coater.Metre",
        },
        {"source": "ns=2;s=Room.DewPoint", "room": "dry-room-1", "parameter": "dew_point_c", "unit": "degC"},
    ],
}
MQTT = {
    "code": "dry-room-mqtt",
    "kind": "mqtt",
    "endpoint": "mqtt://127.0.0.1:1883",
    "options": {"qos": 1, "client_id": "celltrace-dry"},
    "mappings": [{"source": "line1/+/dewpoint", "room": "dry-room-1", "parameter": "dew_point_c", "unit": "degC"}],
}
MODBUS = {
    "code": "mixer-modbus",
    "kind": "modbus",
    "endpoint": "modbus://10.0.0.7:502",
    "options": {"unit_id": 1, "poll_interval_ms": 200, "word_order": "big"},
    "mappings": [
        {
            "source": "holding:100",
            "station": "MIX-01",
            "parameter": "rpm_c",
            "unit": "",
            "data_type": "uint16",
            "scale": 0.1,
        }
    ],
}


@pytest.fixture
def line(stations, parameters) -> None:
    """Stations and parameters the mappings name."""


def _post(client: Any, body: Any) -> Any:
    return client.post(URL, body, format="json")


def _error(response: Any, status: int, code: str, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert field in body["errors"], body
    return body


# --- Access ---------------------------------------------------------------------------------


def test_unauthenticated_gets_401(anon_client, db):
    assert anon_client.get(URL).status_code == 401
    assert _post(anon_client, OPCUA).status_code == 401


def test_operator_may_neither_read_nor_write(operator_client, engineer_client, line):
    assert _post(engineer_client, OPCUA).status_code == 201
    code = OPCUA["code"]
    for response in (
        operator_client.get(URL),
        operator_client.get(f"{URL}{code}/"),
        operator_client.get(f"{URL}{code}/status/"),
        _post(operator_client, MQTT),
        operator_client.patch(f"{URL}{code}/", {"enabled": False}, format="json"),
        operator_client.delete(f"{URL}{code}/"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
    assert Connector.objects.get(code=code).enabled is True


def test_admin_may_create_and_read(admin_client_api, line):
    assert _post(admin_client_api, MQTT).status_code == 201
    assert admin_client_api.get(f"{URL}{MQTT['code']}/").status_code == 200


# --- Create, read, change, delete -----------------------------------------------------------


def test_create_answers_the_configuration_with_a_status_and_audits_it(engineer_client, engineer, line):
    response = _post(engineer_client, OPCUA)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "COAT-01-plc" and body["kind"] == "opcua" and body["revision"] == 1
    assert [m["source"] for m in body["mappings"]] == ["ns=2;s=Coater.MassLoading", "ns=2;s=Room.DewPoint"]
    assert body["mappings"][0]["station"] == "COAT-01" and body["mappings"][0]["room"] == ""
    assert body["mappings"][1]["station"] is None and body["mappings"][1]["room"] == "dry-room-1"
    assert body["status"]["state"] == "stopped"
    assert ConnectorStatus.objects.filter(connector__code="COAT-01-plc").exists()
    event = AuditEvent.objects.get(action="connector.create")
    assert event.actor == engineer and event.entity_id == "COAT-01-plc"
    assert len(event.after["mappings"]) == 2


def test_secrets_are_not_written_into_the_audit_trail(engineer_client, line):
    body = copy.deepcopy(MQTT) | {"options": {"username": "line", "password": "s3cret"}}
    assert _post(engineer_client, body).status_code == 201
    event = AuditEvent.objects.get(action="connector.create")
    assert event.after["options"] == {"username": "line", "password": "***"}


def test_list_is_paged_and_reads_in_a_fixed_number_of_queries(engineer_client, line, django_assert_max_num_queries):
    for body in (OPCUA, MQTT, MODBUS):
        assert _post(engineer_client, body).status_code == 201
    # auth (token, groups), count-free cursor page of connectors + status, mappings prefetch
    with django_assert_max_num_queries(5):
        response = engineer_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert {c["code"] for c in body["results"]} == {"COAT-01-plc", "dry-room-mqtt", "mixer-modbus"}
    assert "next" in body
    page = engineer_client.get(URL, {"page_size": 1}).json()
    assert len(page["results"]) == 1 and page["next"]


def test_list_selector_prefetches_mappings(engineer, line, django_assert_num_queries):
    from connectors.selectors import connector_list, connector_status
    from connectors.services import connector_create

    for body in (OPCUA, MQTT, MODBUS):
        connector_create(actor=engineer, data=body)
    with django_assert_num_queries(2):  # connectors with status; mappings with station and parameter
        rows = [
            (c.code, connector_status(c)["state"], [(m.station, m.parameter.code) for m in c.mappings.all()])
            for c in connector_list()
        ]
    assert len(rows) == 3 and sum(len(r[2]) for r in rows) == 4


def test_patch_changes_only_what_it_names_and_bumps_the_revision(engineer_client, line):
    _post(engineer_client, OPCUA)
    response = engineer_client.patch(f"{URL}COAT-01-plc/", {"enabled": False}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["enabled"] is False and body["revision"] == 2 and len(body["mappings"]) == 2
    assert body["status"]["state"] == "disabled"
    event = AuditEvent.objects.get(action="connector.update")
    assert event.before == {"enabled": True, "revision": 1} and event.after == {"enabled": False, "revision": 2}


def test_patch_with_mappings_replaces_the_whole_list(engineer_client, line):
    _post(engineer_client, OPCUA)
    mappings = [{"source": "ns=2;i=77", "station": "CAL-01", "parameter": "mass_loading_c", "unit": "mg/cm**2"}]
    response = engineer_client.patch(f"{URL}COAT-01-plc/", {"mappings": mappings}, format="json")
    assert response.status_code == 200, response.content
    assert [m["source"] for m in response.json()["mappings"]] == ["ns=2;i=77"]
    assert ConnectorMapping.objects.filter(connector__code="COAT-01-plc").count() == 1


def test_patch_that_changes_nothing_keeps_the_revision(engineer_client, line):
    _post(engineer_client, OPCUA)
    same = {"endpoint": OPCUA["endpoint"], "mappings": OPCUA["mappings"]}
    response = engineer_client.patch(f"{URL}COAT-01-plc/", same, format="json")
    assert response.status_code == 200 and response.json()["revision"] == 1
    assert not AuditEvent.objects.filter(action="connector.update").exists()


def test_patch_of_a_bad_value_changes_nothing(engineer_client, line):
    _post(engineer_client, OPCUA)
    bad = {
        "enabled": False,
        "mappings": [{"source": "ns=2;i=1", "station": "NOPE", "parameter": "mass_loading_c", "unit": "mg/cm**2"}],
    }
    _error(
        engineer_client.patch(f"{URL}COAT-01-plc/", bad, format="json"), 400, "unknown_station", "mappings[0].station"
    )
    connector = Connector.objects.get(code="COAT-01-plc")
    assert connector.enabled is True and connector.revision == 1 and connector.mappings.count() == 2


def test_patch_may_not_change_the_code(engineer_client, line):
    _post(engineer_client, OPCUA)
    _error(engineer_client.patch(f"{URL}COAT-01-plc/", {"code": "other"}, format="json"), 400, "code_immutable", "code")


def test_kind_change_checks_the_kept_endpoint(engineer_client, line):
    _post(engineer_client, OPCUA)
    _error(
        engineer_client.patch(f"{URL}COAT-01-plc/", {"kind": "mqtt"}, format="json"), 400, "bad_endpoint", "endpoint"
    )


def test_delete_removes_it_and_audits_it(engineer_client, line):
    _post(engineer_client, OPCUA)
    response = engineer_client.delete(f"{URL}COAT-01-plc/")
    assert response.status_code == 204
    assert not Connector.objects.exists() and not ConnectorStatus.objects.exists()
    assert AuditEvent.objects.get(action="connector.delete").before["code"] == "COAT-01-plc"
    _error(engineer_client.get(f"{URL}COAT-01-plc/"), 404, "unknown_connector", "code")
    _error(engineer_client.delete(f"{URL}COAT-01-plc/"), 404, "unknown_connector", "code")


def test_unknown_connector_is_404(engineer_client, db):
    for response in (
        engineer_client.get(f"{URL}nope/"),
        engineer_client.get(f"{URL}nope/status/"),
        engineer_client.patch(f"{URL}nope/", {"enabled": False}, format="json"),
    ):
        _error(response, 404, "unknown_connector", "code")


def test_duplicate_code_is_409(engineer_client, line):
    assert _post(engineer_client, OPCUA).status_code == 201
    _error(_post(engineer_client, OPCUA), 409, "duplicate_code", "code")
    assert Connector.objects.count() == 1


def test_idempotency_key_replays_the_create(engineer_client, line):
    first = engineer_client.post(URL, MQTT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = engineer_client.post(URL, MQTT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert Connector.objects.count() == 1


# --- Status ---------------------------------------------------------------------------------


def _status(client: Any, code: str) -> dict[str, Any]:
    response = client.get(f"{URL}{code}/status/")
    assert response.status_code == 200, response.content
    return response.json()


def test_status_states(engineer_client, line):
    _post(engineer_client, MQTT)
    status = ConnectorStatus.objects.get(connector__code="dry-room-mqtt")
    assert _status(engineer_client, "dry-room-mqtt") == {
        "state": "stopped",
        "received": 0,
        "stored": 0,
        "rejected": 0,
        "last_error": "",
        "last_value_at": None,
    }
    now = timezone.now()
    status.state, status.heartbeat_at, status.received, status.stored, status.rejected = "connected", now, 7, 5, 1
    status.last_error, status.last_value_at = "not a number", now
    status.save()
    body = _status(engineer_client, "dry-room-mqtt")
    assert body["state"] == "connected" and (body["received"], body["stored"], body["rejected"]) == (7, 5, 1)
    assert body["last_error"] == "not a number" and body["last_value_at"] is not None
    status.state = "reconnecting"
    status.save()
    assert _status(engineer_client, "dry-room-mqtt")["state"] == "reconnecting"
    # no run_connectors has written a heartbeat for longer than STALE_AFTER_S
    status.heartbeat_at = now - timedelta(seconds=11)
    status.save()
    assert _status(engineer_client, "dry-room-mqtt")["state"] == "stopped"
    status.heartbeat_at = now
    status.save()
    Connector.objects.filter(code="dry-room-mqtt").update(enabled=False)
    assert _status(engineer_client, "dry-room-mqtt")["state"] == "disabled"


# --- Validation -----------------------------------------------------------------------------


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return copy.deepcopy(base) | changes


def _mapping(base: dict[str, Any], index: int = 0, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["mappings"][index] = {k: v for k, v in (body["mappings"][index] | changes).items() if v is not ...}
    return body


CASES = [
    (_with(OPCUA, code="not a slug"), "invalid", "code"),
    (_with(OPCUA, code="x" * 65), "invalid", "code"),
    (_with(OPCUA, kind="profibus"), "invalid", "kind"),
    (_with(OPCUA, endpoint="mqtt://10.0.0.5:1883"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="opc.tcp://broker:4840"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="mqtt://broker:99999"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="mqtt://broker:0"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="mqtt://broker:-1"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="mqtt://broker"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="mqtt://user:secret@broker:1883"), "bad_endpoint", "endpoint"),
    (_with(OPCUA, endpoint="opc.tcp://[::1]:4840/freeopcua/server/"), None, None),
    (_with(MQTT, endpoint="mqtt://:1883"), "bad_endpoint", "endpoint"),
    (_with(MQTT, endpoint="mqtt://[::1:1883"), "bad_endpoint", "endpoint"),
    (_with(MODBUS, endpoint="modbus://plc:502/extra"), "bad_endpoint", "endpoint"),
    (_with(MODBUS, endpoint="modbus+tcp://plc:502"), None, None),
    (_with(MQTT, endpoint="mqtts://broker:8883"), None, None),
    (_with(MQTT, endpoint="x" * 501), "invalid", "endpoint"),
    (_with(MQTT, options={"qos": 0}), "bad_options", "options.qos"),
    (_with(MQTT, options={"keepalive": 10**30}), "bad_options", "options.keepalive"),
    (_with(MQTT, options={"client_id": ""}), "bad_options", "options.client_id"),
    (_with(MQTT, options={"unit_id": 1}), "bad_options", "options.unit_id"),
    (_with(MODBUS, options={"unit_id": 248}), "bad_options", "options.unit_id"),
    (_with(MODBUS, options={"unit_id": True}), "bad_options", "options.unit_id"),
    (_with(MODBUS, options={"poll_interval_ms": 49}), "bad_options", "options.poll_interval_ms"),
    (_with(MODBUS, options={"word_order": "middle"}), "bad_options", "options.word_order"),
    (_with(OPCUA, options={"security_mode": "Sometimes"}), "bad_options", "options.security_mode"),
    (_with(OPCUA, options={"publishing_interval_ms": "fast"}), "bad_options", "options.publishing_interval_ms"),
    (_with(OPCUA, options=[1, 2]), "invalid", "options"),
    (_mapping(OPCUA, source=""), "invalid", "mappings[0].source"),
    (_mapping(OPCUA, source="Coater.MassLoading"), "bad_source", "mappings[0].source"),
    (_mapping(OPCUA, 1, source="ns=2;s=Coater.MassLoading"), "duplicate_source", "mappings[1].source"),
    (_mapping(OPCUA, position_source="nonsense"), "bad_source", "mappings[0].position_source"),
    (_mapping(OPCUA, source="x" * 501), "invalid", "mappings[0].source"),
    (_mapping(MQTT, source="line1/#/dewpoint"), "bad_source", "mappings[0].source"),
    (_mapping(MQTT, source="line1/a+/dewpoint"), "bad_source", "mappings[0].source"),
    (_mapping(MQTT, source="line1/#"), None, None),
    (_mapping(MODBUS, source="holding:65536"), "bad_source", "mappings[0].source"),
    (_mapping(MODBUS, source="coil:1"), "bad_source", "mappings[0].source"),
    (_mapping(MODBUS, source="input:65535"), None, None),
    (_mapping(OPCUA, station="NOPE"), "unknown_station", "mappings[0].station"),
    (_mapping(OPCUA, station=...), "unknown_station", "mappings[0].station"),
    (_mapping(OPCUA, 1, station="COAT-01"), "invalid", "mappings[1].room"),
    (_mapping(OPCUA, parameter="nope"), "unknown_parameter", "mappings[0].parameter"),
    (_mapping(OPCUA, unit="m"), "incompatible_unit", "mappings[0].unit"),
    (_mapping(OPCUA, unit="furlongs per fortnight("), "bad_unit", "mappings[0].unit"),
    (_mapping(OPCUA, unit=""), "bad_unit", "mappings[0].unit"),
    (_mapping(OPCUA, data_type="int16"), "invalid", "mappings[0].data_type"),
    (_mapping(MODBUS, data_type=...), "invalid", "mappings[0].data_type"),
    (_mapping(MODBUS, data_type="int128"), "invalid", "mappings[0].data_type"),
    (_mapping(MODBUS, scale=0), "bad_quantity", "mappings[0].scale"),
    (_mapping(MODBUS, scale="x"), "invalid", "mappings[0].scale"),
    (_with(OPCUA, mappings={"source": "x"}), "invalid", "mappings.non_field_errors"),
    (_with(OPCUA, enabled="maybe"), "invalid", "enabled"),
]


@pytest.mark.parametrize(("body", "code", "field"), CASES)
def test_configuration_rules(engineer_client, line, body, code, field):
    response = _post(engineer_client, body)
    if code is None:
        assert response.status_code == 201, response.content
        return
    _error(response, 400, code, field)
    assert not Connector.objects.exists()


def test_every_bad_field_is_named_at_once(engineer_client, line):
    body = _mapping(_mapping(OPCUA, 0, unit="m"), 1, parameter="nope")
    errors = _error(_post(engineer_client, body), 400, "incompatible_unit", "mappings[0].unit")["errors"]
    assert "mappings[1].parameter" in errors


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with(MQTT, endpoint="mqtt://bro\x00ker:1883"), "endpoint"),
        (_mapping(MQTT, source="line1/\x00"), "mappings[0].source"),
        (_with(MQTT, options={"client_id": "a\x00b"}), "options.client_id"),
    ],
)
def test_nul_characters_are_refused(engineer_client, line, body, field):
    response = _post(engineer_client, body)
    _error(response, 400, "nul_character", field)


def test_huge_strings_and_bad_json_are_400(engineer_client, line):
    _error(_post(engineer_client, _with(MQTT, code="c" * 100_000)), 400, "invalid", "code")
    _error(_post(engineer_client, _mapping(MQTT, room="r" * 100_000)), 400, "invalid", "mappings[0].room")
    response = engineer_client.post(URL, b'{"code": "x", "kind":', content_type="application/json")
    _error(response, 400, "malformed", "body")
    text = json.dumps(_mapping(MODBUS, scale=12345)).replace("12345", "1e309")
    response = engineer_client.post(URL, text.encode(), content_type="application/json")
    assert response.status_code == 400, response.content
    assert any(field.startswith("mappings[0].scale") or field == "body" for field in response.json()["errors"])
    response = engineer_client.post(URL, b"[1, 2]", content_type="application/json")
    assert response.status_code == 400
    response = engineer_client.patch(f"{URL}x/", b"{", content_type="application/json")
    assert response.status_code in (400, 404)
    assert not Connector.objects.exists()


def test_services_refuse_what_the_api_cannot_send(engineer, line):
    """The admin and scripts call the services directly: NUL, types and unknown fields too."""
    from connectors.services import connector_create
    from core.errors import InvalidInput

    for data, field in (
        (_mapping(MQTT, source="a/\x00"), "mappings[0].source"),
        (_mapping(MQTT, surprise=1), "mappings[0].surprise"),
        (_with(MQTT, colour="red"), "colour"),
        (_mapping(MODBUS, scale=float("nan")), "mappings[0].scale"),
        (_mapping(MODBUS, station=["MIX-01"]), "mappings[0].station"),
    ):
        with pytest.raises(InvalidInput) as caught:
            connector_create(actor=engineer, data=data)
        assert field in caught.value.errors, caught.value.errors
    assert ErrorCode.DUPLICATE_SOURCE == "duplicate_source"


@pytest.mark.parametrize(
    "options",
    [b'{"username": "\\ud800"}', b'{"\\ud800": 1}', b'{"password": "\\udfff\\ud800"}'],
)
def test_options_a_json_column_cannot_hold_are_400(engineer_client, line, options):
    body = b'{"code": "ab", "kind": "mqtt", "endpoint": "mqtt://h:1883", "options": ' + options + b"}"
    response = engineer_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "lone_surrogate"  # refused by the JSON parser (api.parsers)
    assert not Connector.objects.exists()


def test_surrogates_in_mappings_are_400(engineer_client, line):
    body = (
        b'{"code": "ab", "kind": "mqtt", "endpoint": "mqtt://h:1883", "mappings": [{"source": "a/\\ud800",'
        b' "room": "r", "parameter": "dew_point_c", "unit": "degC"}]}'
    )
    response = engineer_client.post(URL, body, content_type="application/json")
    _error(response, 400, "lone_surrogate", "mappings[0].source")


def test_opcua_options_that_go_together_are_checked_as_the_driver_checks_them(engineer_client, line):
    body = {
        **OPCUA,
        "code": "coat-plc-sec",
        "options": {"security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt"},
    }
    _error(_post(engineer_client, body), 400, "bad_options", "options.certificate")
    body["options"] = {"queue_size": 500, "sampling_interval_ms": 50, "publishing_interval_ms": 100}
    assert _post(engineer_client, body).status_code == 201
