"""Units through pint: one registry, and conversions that fail with field-named errors."""

import re
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


# --- Units as people write them ------------------------------------------------------------------

_TOKEN = re.compile(r"\*\*|\^|\*|/|\(|\)|-?\d+(?:\.\d+)?|[^\s*/^()]+")
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# pint's symbols that the line writes otherwise: litres upper case (mL, not ml), degrees as °.
_WRITTEN = {"l": "L", "ml": "mL", "µl": "µL", "deg": "°"}
# Products people write joined: A·h is Ah, kW·h is kWh.
_JOINED = re.compile(r"(?<![\w·])(m?A|k?W)·h(?![\w])")
_PIECES = {"count", "piece", "pcs"}


def _power(exponent: str) -> str:
    return exponent.translate(_SUPERSCRIPT) if re.fullmatch(r"-?\d+", exponent) else "^" + exponent


@lru_cache(maxsize=512)
def _display(text: str) -> str:
    try:
        parsed = _unit(text)
    except Exception:  # not pint's (free text on an old item): shown as written
        return text
    pretty = f"{parsed:~P}"
    if not pretty:  # dimensionless, "1"
        return ""
    if text in _PIECES:
        return "pcs"
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != "".join(text.split()):
        return pretty
    out: list[str] = []
    exponent = False
    for token in tokens:
        if exponent:
            out.append(_power(token))
            exponent = False
        elif token in ("**", "^"):
            exponent = True
        elif token == "*":
            out.append("·")
        elif token in "/()" or token[0].isdigit() or token[0] == "-":
            out.append(token)
        else:
            try:  # the writer's order (mA·h, not pint's h·mA), each name as its symbol
                symbol = ureg.get_symbol(token)
            except Exception:  # "dimensionless" inside a product: pint's own spelling
                return pretty
            out.append(_WRITTEN.get(symbol, symbol))
    return _JOINED.sub(r"\1h", "".join(out))


def display_unit(unit: object) -> str:
    """A stored pint unit as people write it: "mg/cm**2" is mg/cm², "degC" °C, "um" µm, "mohm"
    mΩ, "ml" mL, "A*h" Ah; dimensionless is empty; text pint does not know is shown unchanged."""
    if not isinstance(unit, str) or not unit.strip():
        return ""
    return _display(unit.strip())
