"""Units through pint: one registry, and conversions that fail with field-named errors."""

import re
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

import pint

from core.errors import ErrorCode, InvalidInput

from .values import density_check, finite, number

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
    sent_unit = parse_unit(from_unit, field=field)
    target = _unit(to_unit)
    if sent_unit == target:
        return float(value)
    try:
        result = float(ureg.Quantity(float(value), sent_unit).to(target).magnitude)
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


# --- What an item kind is counted in (ItemKind.dimensions) -----------------------------------

DIMENSIONS: dict[str, pint.util.UnitsContainer] = {
    "mass": ureg.kilogram.dimensionality,
    "volume": ureg.litre.dimensionality,
    "length": ureg.metre.dimensionality,
    "count": ureg.piece.dimensionality,  # dimensionless: pieces, sheets, cells
}
DENSITY_UNIT = "g/cm**3"  # = g/mL = kg/L; a bare number in `attributes.density` is in it


class KindLike(Protocol):
    code: str
    default_unit: str
    dimensions: list[str]


def dimension_of(unit: str) -> str | None:
    dimensionality = _unit(unit).dimensionality
    return next((name for name, dims in DIMENSIONS.items() if dims == dimensionality), None)


def kind_dimensions(kind: KindLike) -> list[str]:
    """The kind's dimensions, its own (that of its default unit) first."""
    own = dimension_of(kind.default_unit)
    rest = [d for d in kind.dimensions or [] if d != own]
    return [own, *rest] if own else rest


def density_parse(raw: object, *, field: str) -> float:
    """An item's `density` in g/cm**3: a JSON number in g/cm**3 (g/mL, kg/L) or text with a
    unit ("1.03 g/mL", "1030 kg/m**3"); within the bounds of values.density_check."""
    if isinstance(raw, str) and raw.strip():
        try:
            value = float(raw)
        except ValueError:
            try:
                quantity = ureg.Quantity(raw.strip())
                value = float(quantity.to(DENSITY_UNIT).magnitude)
            except Exception:  # pint's parser raises many kinds (see parse_unit)
                raise InvalidInput(
                    f'{raw!r} is not a density; give a number of g/cm**3 or text like "1.03 g/mL".',
                    field=field,
                    code=ErrorCode.BAD_QUANTITY,
                ) from None
        return density_check(value, field=field)
    return density_check(number(raw, field=field), field=field)


def quantity_in_kind_unit(
    kind: KindLike,
    value: float,
    unit: str,
    density: object = None,
    *,
    target: str | None = None,
    subject: str | None = None,
    action: str = "register",
    field: str = "unit",
    value_field: str = "quantity",
    density_field: str | None = None,
) -> tuple[float, str]:
    """`value` `unit` of something of `kind`, as it is stored: (value, unit).

    The one rule for every write that counts material. A unit must be of one of the kind's
    dimensions. `target` is the unit to express it in (an input's own unit); without one the
    unit stays as given when it is of the kind's own dimension, else it becomes the kind's
    default unit. Mass and volume convert into each other through `density` only (see
    density_parse); without one the refusal says so, on `density_field` (default `field`).
    """
    sent_unit = parse_unit(unit, field=field)
    allowed = kind_dimensions(kind)
    given = dimension_of(unit.strip())
    if given not in allowed:
        raise InvalidInput(
            f"{kind.code} is measured by {' or '.join(allowed)}; {unit.strip()!r} is a unit of {given or 'neither'}.",
            field=field,
            code=ErrorCode.INCOMPATIBLE_UNIT,
        )
    into = target or (unit.strip() if given == allowed[0] else kind.default_unit)
    wanted = dimension_of(into)
    if given == wanted:
        return convert(value, unit, into, field=field, value_field=value_field), into
    if {given, wanted} != {"mass", "volume"}:
        raise InvalidInput(
            f"{unit.strip()!r} cannot be converted to {into!r}.", field=field, code=ErrorCode.INCOMPATIBLE_UNIT
        )
    if density is None or density == "":
        raise InvalidInput(
            f"{subject or kind.code} is measured in {into}; give its density to {action} it in {unit.strip()}.",
            field=density_field or field,
            code=ErrorCode.DENSITY_REQUIRED,
        )
    rho = ureg.Quantity(density_parse(density, field=density_field or field), DENSITY_UNIT)
    amount = ureg.Quantity(float(value), sent_unit)
    converted = amount / rho if given == "mass" else amount * rho
    return finite(float(converted.to(_unit(into)).magnitude), field=value_field), into


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
