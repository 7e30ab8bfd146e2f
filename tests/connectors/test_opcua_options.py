"""The OPC UA options check and the reading of one data change: pure functions, no server."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from asyncua import ua

from connectors.drivers.opcua import error_text, reading_parts
from connectors.drivers.opcua_options import options_check, options_read, source_check

FILES = {"certificate": "/etc/celltrace/opcua/client.der", "private_key": "/etc/celltrace/opcua/client.pem"}
T = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"security_policy": "None", "security_mode": "None"},
        {"username": "line1", "password": ""},
        {"username": "line1", "password": "p" * 10_000},
        FILES,
        {**FILES, "security_policy": "Aes256Sha256RsaPss"},
        {**FILES, "security_mode": "Sign", "server_certificate": "/etc/celltrace/opcua/plc.der"},
        {**FILES, "security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt", "private_key_password": "x"},
        {"publishing_interval_ms": 10, "sampling_interval_ms": 0, "queue_size": 100_000},
        {"publishing_interval_ms": 250.5},
    ],
)
def test_valid_options_have_no_problem(options: dict[str, Any]) -> None:
    assert options_check(options) == []


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ([], ["options: must be an object"]),
        ({"securty_policy": "None"}, ["options.securty_policy: unknown option"]),
        (
            {"security_mode": "Encrypt"},
            ["options.security_mode: 'Encrypt' is not one of None, Sign, SignAndEncrypt"],
        ),
        ({"security_policy": 256}, ["options.security_policy: must be a string"]),
        (
            {"security_policy": "Basic256Sha256"},
            ["options.certificate: a security policy or mode needs certificate and private_key"],
        ),
        (
            {"security_mode": "SignAndEncrypt", "security_policy": "None", **FILES},
            [
                "options.security_mode: None and a security policy other than None go only together",
                "options.security_policy: a certificate is used only with a policy other than None",
            ],
        ),
        ({"certificate": FILES["certificate"]}, ["options.private_key: certificate and private_key go together"]),
        ({**FILES, "certificate": ""}, ["options.certificate: must be a file path, not empty"]),
        (
            {**FILES, "private_key": "/tmp/k\x00.pem"},
            ["options.private_key: must be at most 1000 characters, without NUL"],
        ),
        ({"server_certificate": "/x.der"}, ["options.server_certificate: used only with certificate and private_key"]),
        ({"username": "line1"}, ["options.password: username and password go together"]),
        (
            {"password": "x" * 10_001, "username": "u"},
            ["options.password: must be at most 10000 characters, without NUL"],
        ),
        ({"queue_size": 1.5}, ["options.queue_size: must be an integer"]),
        ({"queue_size": 0}, ["options.queue_size: must be between 1 and 100000"]),
        ({"publishing_interval_ms": True}, ["options.publishing_interval_ms: must be a number"]),
        ({"publishing_interval_ms": float("nan")}, ["options.publishing_interval_ms: must be between 10 and 3600000"]),
        ({"sampling_interval_ms": 1e300}, ["options.sampling_interval_ms: must be between 0 and 3600000"]),
        ({"publishing_interval_ms": "100"}, ["options.publishing_interval_ms: must be a number"]),
    ],
)
def test_bad_options_are_refused_naming_the_field(options: Any, problems: list[str]) -> None:
    assert options_check(options) == problems


def test_options_read_defaults_and_security() -> None:
    plain = options_read({})
    assert (plain.publishing_interval_ms, plain.sampling_interval_ms, plain.queue_size) == (100.0, 0.0, 1000)
    assert not plain.secure and plain.security_policy is None
    secure = options_read({**FILES, "security_mode": "Sign"})
    assert secure.secure and secure.security_mode == "Sign" and secure.security_policy is None


@pytest.mark.parametrize(
    "source",
    [
        "ns=2;s=Coater.MassLoading",
        "ns=3;i=1001",
        "i=2258",
        "ns=2;s=Line 1/Dryer;Zone 3",
        "ns=1;b=AAEC",
        "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a",
        "nsu=urn:celltrace:coater;s=MassLoading",
    ],
)
def test_node_ids_in_string_form_are_sources(source: str) -> None:
    assert source_check(source) == ""
    ua.NodeId.from_string(source)  # and asyncua reads them


@pytest.mark.parametrize(
    "source", ["", "Coater.MassLoading", "ns=2;x=1", "ns=2;i=abc", "nsu=;s=A", "ns=2;s=", "ns=2;s=a\x00b", "ns=2;g=1"]
)
def test_anything_else_is_not_a_source(source: str) -> None:
    assert "is not an OPC UA node id" in source_check(source)


def _change(
    value: Any, *, status: int = 0, source: datetime | None = T, server: datetime | None = None
) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value), ua.StatusCode(status), SourceTimestamp=source, ServerTimestamp=server)


def test_a_change_keeps_the_source_time_else_the_server_time() -> None:
    assert reading_parts(_change(12.5, server=T + timedelta(seconds=1))) == (12.5, "", T)
    assert reading_parts(_change(7, source=None, server=T)) == (7.0, "", T)
    assert reading_parts(_change(7.0, source=None)) == (7.0, "", None)
    # An unset DateTime decodes as 1601; it is no measurement time.
    assert reading_parts(_change(1.0, source=datetime(1601, 1, 1, tzinfo=UTC), server=T)) == (1.0, "", T)
    # Another zone, or none (read as UTC), ends in UTC.
    offset = T.astimezone(timezone(timedelta(hours=2)))
    measured_at = reading_parts(_change(1.0, source=offset))[2]
    assert measured_at == T and measured_at is not None and measured_at.tzinfo is UTC
    assert reading_parts(_change(1.0, source=T.replace(tzinfo=None)))[2] == T


@pytest.mark.parametrize(
    ("data_value", "error"),
    [
        (_change("12.5"), "a str value, not a number"),
        (_change(True), "a bool value, not a number"),
        (_change([1.0, 2.0]), "a list value, not a number"),
        (_change(None), "a NoneType value, not a number"),
        (_change(float("nan")), "nan is not a finite number"),
        (_change(float("inf")), "inf is not a finite number"),
        (_change(10**400), "a number too large"),
        (_change(3.0, status=ua.StatusCodes.BadSensorFailure), "the server marks the value BadSensorFailure"),
        (
            _change(3.0, status=ua.StatusCodes.UncertainLastUsableValue),
            "the server marks the value UncertainLastUsableValue",
        ),
        (None, "the change carried no value"),
    ],
)
def test_a_change_without_a_usable_number_is_rejected_with_the_reason(data_value: Any, error: str) -> None:
    value, reason, _ = reading_parts(data_value)
    assert value is None and reason == error


def test_error_texts_name_the_cause() -> None:
    endpoint = "opc.tcp://10.0.0.5:4840"
    assert error_text(ConnectionRefusedError(111, "refused"), endpoint) == f"connection refused by {endpoint}"
    assert error_text(TimeoutError(), endpoint) == f"no answer from {endpoint} within 4 s"
    bad = ua.UaStatusCodeError(ua.StatusCodes.BadUserAccessDenied)
    assert error_text(bad, endpoint).startswith(f"{endpoint}: BadUserAccessDenied")
    assert len(error_text(ValueError("x" * 2000), endpoint)) == 500
