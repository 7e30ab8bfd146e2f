"""Units through pint: conversions and the field-named errors they fail with."""

import math
from decimal import Decimal

import pytest

from core.errors import ErrorCode, InvalidInput
from core.units import convert, display_unit, is_length, parse_unit, to_decimal
from core.values import number as finite_number


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1.5, "kg", "g", 1500.0),
        (400, "g", "kg", 0.4),
        (0.5, "km", "m", 500.0),
        (12, "µm", "m", 12e-6),
        (12, "um", "µm", 12.0),
        (21.4, "mg/cm**2", "kg/m**2", 0.214),
        (25, "degC", "K", 298.15),
        (100, "m/min", "m/s", 100 / 60),
        (2, "L", "mL", 2000.0),
        (500, "ppm", "percent", 0.05),
        (3, "m", "m", 3.0),
        (Decimal("2.5"), "kg", "g", 2500.0),
    ],
)
def test_convert(value, source, target, expected):
    result = convert(value, source, target, field="unit")
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


@pytest.mark.parametrize(("source", "target"), [("kg", "m"), ("degC", "m"), ("count", "kg"), ("m/min", "m")])
def test_incompatible_units_name_the_field(source, target):
    with pytest.raises(InvalidInput) as info:
        convert(1, source, target, field="inputs[0].unit")
    assert info.value.code == ErrorCode.INCOMPATIBLE_UNIT
    assert list(info.value.errors) == ["inputs[0].unit"]


@pytest.mark.parametrize(
    "unit",
    ["furlongz", "kg**kg", "2 kg", "", "   ", None, 5, "1/0", "kg/0", "kg(", "kg)", "\x00", "[length]"],
)
def test_unknown_units_are_bad_unit_never_a_crash(unit):
    with pytest.raises(InvalidInput) as info:
        parse_unit(unit, field="unit")
    assert info.value.code == ErrorCode.BAD_UNIT
    assert list(info.value.errors) == ["unit"]


def test_convert_from_an_unknown_unit_is_bad_unit():
    with pytest.raises(InvalidInput) as info:
        convert(1, "furlongz", "m", field="quantity_unit")
    assert info.value.code == ErrorCode.BAD_UNIT
    assert list(info.value.errors) == ["quantity_unit"]


@pytest.mark.parametrize(
    ("unit", "expected"), [("m", True), ("km", True), ("µm", True), ("kg", False), ("count", False)]
)
def test_is_length(unit, expected):
    assert is_length(unit) is expected


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, "nan", "NaN", "inf", "-Infinity", Decimal("NaN"), Decimal("sNaN"), Decimal("Inf")],
)
def test_nan_and_infinity_are_bad_quantity(value):
    with pytest.raises(InvalidInput) as info:
        finite_number(value, field="quantity")
    assert info.value.code == ErrorCode.BAD_QUANTITY
    assert list(info.value.errors) == ["quantity"]


@pytest.mark.parametrize("value", [True, False, None, "twelve", [1], {"value": 1}])
def test_non_numbers_are_bad_quantity(value):
    with pytest.raises(InvalidInput) as info:
        finite_number(value, field="value")
    assert info.value.code == ErrorCode.BAD_QUANTITY


@pytest.mark.parametrize(("value", "expected"), [(3, 3.0), (2.5, 2.5), ("12.5", 12.5), (Decimal("0.1"), 0.1)])
def test_finite_numbers_pass(value, expected):
    assert finite_number(value, field="quantity") == expected


def test_to_decimal_keeps_micro_units_and_drops_float_noise():
    assert to_decimal(0.1 + 0.2) == Decimal("0.3")
    assert to_decimal(1.23456789) == Decimal("1.234568")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("mg/cm**2", "mg/cm²"),
        ("degC", "°C"),
        ("um", "µm"),
        ("µm", "µm"),
        ("mohm", "mΩ"),
        ("g/m**2", "g/m²"),
        ("ml", "mL"),
        ("mL", "mL"),
        ("L", "L"),
        ("ml/min", "mL/min"),
        ("Ah", "Ah"),
        ("A*h", "Ah"),
        ("mA*h", "mAh"),  # the writer's order, not pint's h·mA
        ("kW*h", "kWh"),
        ("Pa*s", "Pa·s"),
        ("mbar*l/s", "mbar·L/s"),
        ("g/m**2/s", "g/m²/s"),
        ("kg*m**-3", "kg·m⁻³"),
        ("m^-1", "m⁻¹"),
        ("MPa*m**0.5", "MPa·m^0.5"),
        ("percent", "%"),
        ("degree", "°"),
        ("count", "pcs"),
        ("1/s", "1/s"),
        ("m/min", "m/min"),
        ("mg / cm ** 2", "mg/cm²"),
        ("milligram / centimeter ** 2 * dimensionless", "mg/cm²"),  # pint's long form
        ("dimensionless", ""),
        ("1", ""),
        ("", ""),
        (None, ""),
        (5, ""),
        ("bananas", "bananas"),  # not pint's: shown as written, never an error
        ("kg(", "kg("),
    ],
)
def test_display_unit_writes_units_as_people_do(stored, shown):
    assert display_unit(stored) == shown
