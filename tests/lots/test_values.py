"""core.values: the one rule for numbers and times, and the constraints that repeat it."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.errors import ErrorCode, InvalidInput
from core.values import finite, moment, moment_check, number
from measurements.models import Measurement, Parameter, Source


@pytest.mark.parametrize(
    "raw", [True, False, [1], {"a": 1}, None, 10**400, "1e999", "nan", "lots", Decimal("Infinity")]
)
def test_number_refuses_what_is_not_a_finite_number(raw):
    with pytest.raises(InvalidInput) as info:
        number(raw, field="quantity")
    assert info.value.code == ErrorCode.BAD_QUANTITY
    assert "quantity" in info.value.errors


@pytest.mark.parametrize(("raw", "expected"), [(3, 3.0), (2.5, 2.5), ("4.5", 4.5), (Decimal("1.25"), 1.25)])
def test_number_takes_numbers_and_numeric_text(raw, expected):
    assert number(raw, field="value") == expected


def test_a_bool_is_refused_by_name():
    with pytest.raises(InvalidInput, match="true/false"):
        number(True, field="value")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_finite_names_the_field_with_its_own_code(value):
    with pytest.raises(InvalidInput) as info:
        finite(value, field="value")
    assert (info.value.code, list(info.value.errors)) == (ErrorCode.NOT_FINITE, ["value"])


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0001-01-01T00:00:00+14:00", ErrorCode.OUT_OF_RANGE),
        ("9999-12-31T23:59:59-14:00", ErrorCode.OUT_OF_RANGE),
        ("1969-12-31T23:59:59.999999Z", ErrorCode.OUT_OF_RANGE),
        ("2200-01-01T00:00:00Z", ErrorCode.OUT_OF_RANGE),
        ("2026-03-02T09:10:00+16:00", ErrorCode.OUT_OF_RANGE),
        ("2026-03-02T09:10:00-23:59", ErrorCode.OUT_OF_RANGE),
        ("2026-03-02T09:10:00", ErrorCode.BAD_TIME),
        ("2026-03-02", ErrorCode.BAD_TIME),
        ("yesterday", ErrorCode.BAD_TIME),
        (5, ErrorCode.BAD_TIME),
        (["2026-03-02T09:10:00Z"], ErrorCode.BAD_TIME),
        # CPython's fromisoformat takes a NUL for the "T" or skips it before the offset.
        ("2026-03-02\x0009:10:00Z", ErrorCode.NUL_CHARACTER),
        ("2026-03-02T09:10:00\x00Z", ErrorCode.NUL_CHARACTER),
        ("2026-03-02T09:10:00Z\x00", ErrorCode.NUL_CHARACTER),
    ],
)
def test_moment_refuses_times_outside_the_record(raw, code):
    with pytest.raises(InvalidInput) as info:
        moment(raw, field="measured_at")
    assert (info.value.code, list(info.value.errors)) == (code, ["measured_at"])


def test_a_time_without_offset_is_shown_the_expected_form():
    with pytest.raises(InvalidInput, match=r"2026-03-02T09:10:00\+01:00"):
        moment("2026-03-02T09:10:00", field="measured_at")
    with pytest.raises(InvalidInput) as info:
        moment_check(datetime(2026, 3, 2), field="started_at")  # noqa: DTZ001  the case under test
    assert info.value.code == ErrorCode.BAD_TIME


@pytest.mark.parametrize(
    "raw",
    ["1970-01-01T00:00:00Z", "1970-01-01T15:59:00+15:59", "2199-12-31T23:59:59.999999+00:00", "2026-03-02T09:10Z"],
)
def test_moment_takes_the_edges(raw):
    parsed = moment(raw, field="t")
    assert parsed.utcoffset() is not None
    assert moment_check(parsed, field="t") is parsed


def test_an_offset_of_15_59_is_the_limit():
    edge = datetime(2026, 3, 2, tzinfo=timezone(timedelta(hours=-15, minutes=-59)))
    assert moment_check(edge, field="t") is edge


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["value", "position_m", "uncertainty", "sent_value"])
def test_the_database_refuses_an_infinite_float_on_either_backend(column):
    parameter = Parameter.objects.create(code="t_values", name="t", scope="environment", category="PP", unit="degC")
    row = {"parameter": parameter, "room": "dry-room-1", "measured_at": datetime(2026, 3, 2, tzinfo=UTC)}
    row |= {"source": Source.OFFLINE, "value": 1.0}
    with pytest.raises(IntegrityError), transaction.atomic():
        Measurement.objects.create(**(row | {column: float("inf")}))
    Measurement.objects.create(**(row | {column: 1.7976931348623157e308}))
    assert Measurement.objects.count() == 1
