"""Units through pint: one registry, and conversions that fail with field-named errors."""

from decimal import Decimal
from functools import lru_cache

import pint

from .exceptions import ErrorCode, InvalidInput
from .values import finite

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
ureg.define("piece = count = pcs")


@lru_cache(maxsize=512)
def _unit(unit: str) -> pint.Unit:
    return ureg.Unit(unit)


def parse_unit(unit: object, *, field: str) -> pint.Unit:
    if not isinstance(unit, str) or not unit.strip():
        raise InvalidInput("A unit is required.", field=field, code=ErrorCode.BAD_UNIT)
    try:
        return _unit(unit.strip())
    except Exception:  # pint's parser also raises ZeroDivisionError ("1/0"), TokenError ("kg("), ...
        raise InvalidInput(f"{unit!r} is not a unit pint understands.", field=field, code=ErrorCode.BAD_UNIT) from None


def convert(
    value: float | Decimal, from_unit: str, to_unit: str, *, field: str, value_field: str | None = None
) -> float:
    """`value` in `from_unit` expressed in `to_unit`; dimension mismatch is a 400 on `field`, an
    infinite result (1e308 kg/cm**2 in Pa) one on `value_field` (default `field`)."""
    source = parse_unit(from_unit, field=field)
    target = _unit(to_unit)
    if source == target:
        return float(value)
    try:
        result = float(ureg.Quantity(float(value), source).to(target).magnitude)
    except pint.errors.DimensionalityError:
        raise InvalidInput(
            f"{from_unit!r} cannot be converted to {to_unit!r}.",
            field=field,
            code=ErrorCode.INCOMPATIBLE_UNIT,
        ) from None
    return finite(result, field=value_field or field)


def is_length(unit: str) -> bool:
    return _unit(unit).dimensionality == ureg.metre.dimensionality


def to_decimal(value: float) -> Decimal:
    """Quantities are stored to the micro-unit; rounding here keeps 0.1 + 0.2 honest."""
    return Decimal(repr(round(value, 6)))
