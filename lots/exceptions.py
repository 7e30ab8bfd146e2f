"""Domain errors raised by services; the API maps each family to one HTTP status.

`code` is a stable constant clients and tests can rely on; `errors` names the offending fields.
"""

from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.errors: dict[str, list[str]] = dict(errors or {})
        if field is not None:
            self.errors.setdefault(field, []).append(message)


class InvalidInput(DomainError):
    """Bad input (400)."""

    code = "invalid"


class NotFound(DomainError):
    """An unknown code in the URL (404)."""

    code = "not_found"


class Conflict(DomainError):
    """Input is well formed but conflicts with the state of the line (409)."""

    code = "conflict"


class ErrorCode:
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_ITEM = "unknown_item"
    FOREIGN_LABEL = "foreign_label"  # a Digital Link of another resolver or company prefix
    UNKNOWN_STEP = "unknown_step"
    UNKNOWN_STATION = "unknown_station"
    STEP_NOT_AT_STATION = "step_not_at_station"
    BAD_QUANTITY = "bad_quantity"
    BAD_UNIT = "bad_unit"
    INCOMPATIBLE_UNIT = "incompatible_unit"
    DENSITY_REQUIRED = "density_required"  # mass for a litre-kind (or volume for a kilo-kind) without a density
    BAD_POSITION = "bad_position"
    BAD_EPC = "bad_epc"
    DUPLICATE_CODE = "duplicate_code"
    DUPLICATE_EPC = "duplicate_epc"
    ITEM_CONSUMED = "item_consumed"
    ITEM_ON_HOLD = "item_on_hold"
    STRETCH_ON_HOLD = "stretch_on_hold"  # an input's metres overlap an unreleased stretch hold
    ITEM_NOT_ACTIVE = "item_not_active"
    INSUFFICIENT_QUANTITY = "insufficient_quantity"
    FROM_NOT_AN_INPUT = "from_not_an_input"
    HOLD_RELEASED = "hold_released"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    BODY_TOO_LARGE = "body_too_large"
    BODY_TRUNCATED = "body_truncated"
    MALFORMED = "malformed"
    NOT_FINITE = "not_finite"  # finite as sent, infinite once converted
    OUT_OF_RANGE = "out_of_range"  # a time outside 1970..2200 or an offset beyond +-15:59
    BAD_TIME = "bad_time"  # not ISO 8601, or no offset
