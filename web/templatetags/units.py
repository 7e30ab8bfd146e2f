"""Values and units as people read them: `{{ m.value|num }} {{ m.parameter.unit|unit }}` shows
21.4 mg/cm², never 21.400000000000002 mg/cm**2."""

import math
from decimal import Decimal

from django import template

from core.units import display_unit

register = template.Library()

SIGNIFICANT = 4


def significant(value: object, digits: int = SIGNIFICANT) -> str:
    """`value` to `digits` significant digits, trailing zeros dropped; the integer part is kept
    whole (1234567 stays 1234567); exponents only below 1e-6 or from 1e15. Text that is not a
    number (a machine parameter sent as "A") is shown unchanged, None as nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return str(value)
    try:
        number = float(value)
    except ValueError:
        return str(value)
    if not math.isfinite(number):
        return str(value)
    if number == 0:
        return "0"
    digits = max(1, int(digits))
    magnitude = math.floor(math.log10(abs(number)))
    if magnitude < -6 or magnitude >= 15:
        mantissa, _e, power = f"{number:.{digits - 1}e}".partition("e")
        return f"{_trim(mantissa)}e{int(power)}"
    text = _trim(f"{number:.{max(0, digits - 1 - magnitude)}f}")
    return "0" if text == "-0" else text


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter(name="num")
def num(value: object, digits: object = SIGNIFICANT) -> str:
    try:
        count = int(digits)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        count = SIGNIFICANT
    return significant(value, count)


@register.filter(name="unit")
def unit(value: object) -> str:
    return display_unit(value)
