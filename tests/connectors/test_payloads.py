"""MQTT payloads as machines send them, and as they should not: every one is read or refused
with a reason, none raises."""

from datetime import UTC, datetime

import pytest

from connectors.drivers.mqtt import payload_read


@pytest.mark.parametrize(
    ("payload", "value", "unit", "position"),
    [
        (b"21.5", 21.5, None, None),
        (b"-3", -3.0, None, None),
        (b'{"value": 21.3, "unit": "um", "position_m": 12.5}', 21.3, "um", 12.5),
        (b'{"value": 7, "extra": "ignored"}', 7.0, None, None),
    ],
)
def test_json_and_bare_numbers_are_read(payload: bytes, value: float, unit: str | None, position: float | None) -> None:
    assert payload_read(payload) == (value, unit, None, position, "")


def test_measured_at_with_an_offset_is_the_source_time() -> None:
    value, _unit, measured_at, _position, error = payload_read(
        b'{"value": 1, "measured_at": "2026-03-02T09:10:00+01:00"}'
    )
    assert (value, error) == (1.0, "")
    assert measured_at == datetime(2026, 3, 2, 8, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"value": 1', "not JSON"),  # truncated
        (b"NaN", "finite"),
        (b"1e400", "finite"),  # inf once parsed
        (b"true", "finite"),
        (b"[1, 2]", "finite"),
        (b'"12"', "finite"),
        (b"{}", "value"),
        (b'{"value": null}', "value"),
        (b'{"value": true}', "value"),
        (b'{"value": "1\\u0000"}', "value"),
        (b'{"value": 1, "unit": ["um"]}', "unit"),
        (b'{"value": 1, "measured_at": "2026-03-02T09:10:00"}', "offset"),
        (b'{"value": 1, "measured_at": "10000-01-01T00:00:00Z"}', "measured_at"),
        (b'{"value": 1, "measured_at": "1900-01-01T00:00:00Z"}', "1970"),
        (b'{"value": 1, "measured_at": 1700000000}', "measured_at"),
        (b'{"value": 1, "position_m": "12"}', "position_m"),
        (b'{"value": 1, "position_m": 1e999}', "position_m"),
        (b"[" * 100_000 + b"]" * 100_000, "not"),  # nesting deeper than the parser's recursion
    ],
    ids=lambda p: repr(p)[:40] if isinstance(p, bytes) else str(p),
)
def test_a_payload_that_holds_no_usable_value_is_refused_with_the_reason(payload: bytes, reason: str) -> None:
    value, _unit, _measured_at, _position, error = payload_read(payload)
    assert value is None
    assert reason in error
