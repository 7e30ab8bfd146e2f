"""Units through pint: one registry, and conversions that fail with field-named errors."""

import math
from decimal import Decimal
from functools import lru_cache

import pint

from .exceptions import ErrorCode, InvalidInput

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


def convert(value: float | Decimal, from_unit: str, to_unit: str, *, field: str) -> float:
    """`value` in `from_unit` expressed in `to_unit`; dimension mismatch is a 400 on `field`."""
    source = parse_unit(from_unit, field=field)
    target = _unit(to_unit)
    if source == target:
        return float(value)
    try:
        return float(ureg.Quantity(float(value), source).to(target).magnitude)
    except pint.errors.DimensionalityError:
        raise InvalidInput(
            f"{from_unit!r} cannot be converted to {to_unit!r}.",
            field=field,
            code=ErrorCode.INCOMPATIBLE_UNIT,
        ) from None


def is_length(unit: str) -> bool:
    return _unit(unit).dimensionality == ureg.metre.dimensionality


def finite_number(value: object, *, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidInput("A number is required.", field=field, code=ErrorCode.BAD_QUANTITY)
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput("A number is required.", field=field, code=ErrorCode.BAD_QUANTITY) from None
    if not math.isfinite(number):
        raise InvalidInput("The number must be finite.", field=field, code=ErrorCode.BAD_QUANTITY)
    return number


def to_decimal(value: float) -> Decimal:
    """Quantities are stored to the micro-unit; rounding here keeps 0.1 + 0.2 honest."""
    return Decimal(repr(round(value, 6)))
