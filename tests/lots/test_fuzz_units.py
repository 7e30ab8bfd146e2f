"""Any unit string or number: the unit parser and converter answer or raise InvalidInput."""

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.errors import ErrorCode, InvalidInput
from core.units import convert, parse_unit
from core.values import number as finite_number

UNIT_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="kgmsAhVW*/^()0123456789.e+- ", max_size=30),
    st.sampled_from(["kg", "mg/cm**2", "um", "degC", "mA*h", "g/m**2"]),
)
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30))


@given(UNIT_TEXT)
@example("**")
@example("1/0")
@example("kg**1e9")
@example("(")
@example("m" * 10000)
@example("kg\x00")
def test_parse_unit_answers_or_names_the_field(text: str) -> None:
    try:
        parse_unit(text, field="unit")
    except InvalidInput as exc:
        assert exc.code == ErrorCode.BAD_UNIT
        assert list(exc.errors) == ["unit"]


@given(NUMBERS, UNIT_TEXT, st.sampled_from(["kg", "m", "degC", "mA*h", "mg/cm**2"]))
@example(1e308, "km", "m")
@example(float("nan"), "kg", "g")
@example(1.0, "kg**1e9", "kg")
def test_convert_answers_or_raises_the_domain_error(value: float, source: str, target: str) -> None:
    try:
        result = convert(value, source, target, field="value")
    except InvalidInput as exc:
        assert exc.code in (
            ErrorCode.BAD_UNIT,
            ErrorCode.INCOMPATIBLE_UNIT,
            ErrorCode.BAD_QUANTITY,
            ErrorCode.NOT_FINITE,
        )
        assert list(exc.errors) == ["value"]
    else:
        assert isinstance(result, float)


@given(st.one_of(NUMBERS, st.text(max_size=30), st.none(), st.booleans()))
@example("1e999")
@example("nan")
def test_finite_number_is_finite_or_refused(raw: object) -> None:
    try:
        number = finite_number(raw, field="value")
    except InvalidInput as exc:
        assert exc.code == ErrorCode.BAD_QUANTITY
    else:
        assert math.isfinite(number)


def test_a_unit_that_pint_cannot_raise_to_is_bad_unit() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_unit("1/0", field="unit")
    assert caught.value.code == ErrorCode.BAD_UNIT
