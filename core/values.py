"""What a stored number or time may be (API.md "What the record promises").

Numbers are JSON numbers (or numeric text from a CSV cell), never booleans, lists or objects,
and finite before and after unit conversion. Times carry an offset within +-15:59 and lie in
[1970-01-01T00:00Z, 2200-01-01T00:00Z). The database constraints use the same bounds.
"""

import math
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Q

from core.errors import ErrorCode, InvalidInput

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
MAX_OFFSET = timedelta(hours=15, minutes=59)
EXAMPLE = "2026-03-02T09:10:00+01:00"
FLOAT_MAX = sys.float_info.max
QUANTITY_LIMIT = Decimal(10**14)  # what numeric(20, 6) holds; quantities are checked below it
# g/cm**3: from a light foam to beyond osmium (22.6); outside is a typo or a unit slip.
DENSITY_MIN, DENSITY_MAX = 0.01, 30.0


def number(raw: object, *, field: str) -> float:
    """`raw` as a finite float; a bool, list, object or non-numeric text is refused on `field`."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        kind = "true/false" if isinstance(raw, bool) else type(raw).__name__
        raise InvalidInput(f"A number is required, not {kind}.", field=field, code=ErrorCode.BAD_QUANTITY)
    try:
        result = float(raw)
    except ValueError:
        raise InvalidInput("A number is required.", field=field, code=ErrorCode.BAD_QUANTITY) from None
    except OverflowError:  # an int of hundreds of digits
        raise InvalidInput("The number is too large.", field=field, code=ErrorCode.BAD_QUANTITY) from None
    if not math.isfinite(result):
        raise InvalidInput("The number must be finite.", field=field, code=ErrorCode.BAD_QUANTITY)
    return result


def finite(value: float, *, field: str) -> float:
    """A converted value: finite, or NOT_FINITE on `field` (1e308 kg/cm**2 is inf Pa)."""
    if not math.isfinite(value):
        raise InvalidInput(
            "The number is not finite once converted to the canonical unit.", field=field, code=ErrorCode.NOT_FINITE
        )
    return value


def density_check(value: float, *, field: str) -> float:
    """A density in g/cm**3: finite, positive and within [DENSITY_MIN, DENSITY_MAX]."""
    if not math.isfinite(value) or not DENSITY_MIN <= value <= DENSITY_MAX:
        raise InvalidInput(
            f"A density is a number of g/cm**3 between {DENSITY_MIN:g} and {DENSITY_MAX:g}, not {value:g}.",
            field=field,
            code=ErrorCode.BAD_QUANTITY,
        )
    return value


def finite_all(values: Iterable[float], *, field: str) -> None:
    """Every converted point of a series is finite; the first that is not is named."""
    for index, value in enumerate(values):
        finite(value, field=f"{field}[{index}]")


_EARLIEST_NAIVE, _LATEST_NAIVE = EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None)


def moment_check(moment: datetime, *, field: str) -> datetime:
    """An aware time with an offset within +-15:59, in [1970, 2200) UTC."""
    offset = moment.utcoffset()
    if offset is None:
        raise InvalidInput(
            f"{moment.isoformat()} needs an offset, e.g. {EXAMPLE} (or Z).", field=field, code=ErrorCode.BAD_TIME
        )
    if abs(offset) > MAX_OFFSET:
        raise InvalidInput("The offset must lie within -15:59 and +15:59.", field=field, code=ErrorCode.OUT_OF_RANGE)
    try:
        utc = moment.replace(tzinfo=None) - offset
    except OverflowError:  # 0001-01-01T00:00+14:00 is in year 0
        utc = datetime.min.replace(tzinfo=UTC).replace(tzinfo=None)
    if not _EARLIEST_NAIVE <= utc < _LATEST_NAIVE:
        raise InvalidInput(
            "The time must lie between 1970-01-01T00:00Z and 2200-01-01T00:00Z.",
            field=field,
            code=ErrorCode.OUT_OF_RANGE,
        )
    return moment


def moment(raw: object, *, field: str) -> datetime:
    """ISO 8601 text with an offset ("2026-03-02T09:10:00+01:00" or "...Z") as a checked time."""
    if isinstance(raw, datetime):
        return moment_check(raw, field=field)
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(
            f"An ISO 8601 date and time with an offset is required, e.g. {EXAMPLE}.",
            field=field,
            code=ErrorCode.BAD_TIME,
        )
    if "\x00" in raw:  # fromisoformat reads a NUL as the date-time separator or skips it before the offset
        raise InvalidInput(
            "Text may not contain the NUL character (U+0000).", field=field, code=ErrorCode.NUL_CHARACTER
        )
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(
            f"{raw!r} is not an ISO 8601 date and time; expected e.g. {EXAMPLE}.", field=field, code=ErrorCode.BAD_TIME
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{raw!r} needs an offset, e.g. {EXAMPLE} (or Z).", field=field, code=ErrorCode.BAD_TIME)
    return moment_check(parsed, field=field)


# --- The same bounds as database constraints (Meta.constraints) -----------------------------


def finite_q(field: str, *, null: bool = True) -> Q:
    """`field` within +-FLOAT_MAX: refuses +-Infinity and, in PostgreSQL (where NaN sorts above
    every number), NaN; a finite bound renders the same on SQLite, which has no inf literal."""
    bounded = Q(**{f"{field}__gte": -FLOAT_MAX, f"{field}__lte": FLOAT_MAX})
    return Q(**{f"{field}__isnull": True}) | bounded if null else bounded


def time_q(field: str, *, null: bool = False) -> Q:
    """`field` in [EARLIEST, LATEST)."""
    bounded = Q(**{f"{field}__gte": EARLIEST, f"{field}__lt": LATEST})
    return Q(**{f"{field}__isnull": True}) | bounded if null else bounded
