"""The one registry of error codes, and the domain errors services raise.

`ErrorCode` holds every code the API can answer with, each once; docs/api.md's table lists the
same set (tests/api/test_api_guide.py). Which HTTP status a family answers is the API's business
(api.errors), not the domain's.
"""

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    # The families of domain errors, and the API's generic answers.
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    # Items, their kinds, stations and quantities.
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
    OPERATION_FINISHED = "operation_finished"  # finishing a run that already has its ended_at
    RUN_OPEN = "run_open"  # starting a run of a step while one is open at the station
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    # Numbers and times (core.values).
    NOT_FINITE = "not_finite"  # finite as sent, infinite once converted
    OUT_OF_RANGE = "out_of_range"  # a time outside 1970..2200 or an offset beyond +-15:59
    BAD_TIME = "bad_time"  # not ISO 8601, or no offset
    # Input refused before a serializer sees it (api.parsers, api.middleware, api.pagination).
    BODY_TOO_LARGE = "body_too_large"
    BODY_TRUNCATED = "body_truncated"
    MALFORMED = "malformed"
    NUL_CHARACTER = "nul_character"
    LONE_SURROGATE = "lone_surrogate"  # "\ud800" escaped in JSON: no character, PostgreSQL refuses it
    TOO_DEEP = "too_deep"
    BAD_CURSOR = "bad_cursor"
    BAD_PAGE_SIZE = "bad_page_size"
    # Measurements and their files.
    UNKNOWN_PARAMETER = "unknown_parameter"
    NO_OPERATION_AT_STATION = "no_operation_at_station"
    AMBIGUOUS_ITEM = "ambiguous_item"
    BAD_SERIES = "bad_series"
    BAD_FILE = "bad_file"
    UNKNOWN_FILE_TYPE = "unknown_file_type"
    CYCLER_FILE_UNSUPPORTED = "cycler_file_unsupported"  # a cycler format version the readers do not know
    ALREADY_CORRECTED = "already_corrected"
    # The parameter catalog.
    BAD_RANGE = "bad_range"
    UNIT_IN_USE = "unit_in_use"
    CODE_IMMUTABLE = "code_immutable"
    UNKNOWN_FIELD = "unknown_field"
    # Lab files (labfiles).
    UNKNOWN_MAPPING = "unknown_mapping"
    MAPPING_IN_USE = "mapping_in_use"  # a mapping that imported files is not deleted
    UNKNOWN_LAYOUT = "unknown_layout"  # the sheet, header row or a mapped column is not where the mapping says
    BAD_ROWS = "bad_rows"  # rows of a lab file are bad: `errors` lists them by row and column
    ALREADY_IMPORTED = "already_imported"  # the same file through the same mapping again
    # Exports.
    EXPORT_NOT_DONE = "export_not_done"
    EXPIRED = "expired"
    # Connectors (machines and room monitors by configuration).
    UNKNOWN_CONNECTOR = "unknown_connector"
    BAD_ENDPOINT = "bad_endpoint"
    BAD_OPTIONS = "bad_options"
    BAD_SOURCE = "bad_source"
    DUPLICATE_SOURCE = "duplicate_source"
    # The error pages outside DRF's views (api.error_pages).
    BAD_REQUEST = "bad_request"
    SERVER_ERROR = "server_error"
    DATABASE_UNAVAILABLE = "database_unavailable"  # a 503: the database cannot be reached, retry
    # DRF's own answers (authentication, roles, routing, content negotiation): their default_code.
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


class DomainError(Exception):
    """`code` is a stable constant clients and tests can rely on; `errors` names the offending fields."""

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
    """Bad input."""

    code = ErrorCode.INVALID


class NotFound(DomainError):
    """An unknown code in the URL."""

    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    """Input is well formed but conflicts with the state of the line."""

    code = ErrorCode.CONFLICT
