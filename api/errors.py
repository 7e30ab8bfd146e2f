"""One error shape for the whole API: {"detail", "code", "errors": {field: [messages]}}."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict, DomainError, ErrorCode, InvalidInput, NotFound

from .middleware import BodyTruncated

log = logging.getLogger(__name__)
_STATUS = {InvalidInput: 400, NotFound: 404, Conflict: 409}
# A database restarting or failing over: the client retries (with its Idempotency-Key) after this.
RETRY_AFTER_S = 5
_VALUE_CODES = frozenset({ErrorCode.OUT_OF_RANGE, ErrorCode.NOT_FINITE})  # a malformed time stays "invalid"


def error_response(status_code: int, detail: str, code: str, errors: dict[str, Any] | None = None) -> Response:
    return Response({"detail": detail, "code": code, "errors": errors or {}}, status=status_code)


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF nests errors of nested serializers; clients get dotted field names instead."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = (
                "non_field_errors"
                if key == "non_field_errors" and not prefix
                else (f"{prefix}.{key}" if prefix else str(key))
            )
            flat.update(_flatten(value, name))
    elif isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        flat[prefix or "non_field_errors"] = [str(e) for e in errors]
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                flat.update(_flatten(value, f"{prefix}[{index}]"))
    else:
        flat[prefix or "non_field_errors"] = [str(errors)]
    return flat


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        status_code = next(s for cls, s in _STATUS.items() if isinstance(exc, cls))
        return error_response(status_code, exc.message, exc.code, exc.errors)
    if isinstance(exc, RequestDataTooBig):
        return error_response(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc), ErrorCode.BODY_TOO_LARGE)
    if isinstance(exc, OperationalError | InterfaceError):
        # Not a 500: the request was fine, the database was away (the detail is in the log).
        log.warning("database unavailable: %s", exc)
        unavailable = error_response(503, "The database is unavailable; retry later.", ErrorCode.DATABASE_UNAVAILABLE)
        unavailable["Retry-After"] = str(RETRY_AFTER_S)
        return unavailable
    if isinstance(exc, Http404):
        return error_response(404, str(exc) or "Not found.", ErrorCode.NOT_FOUND)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = next(iter(errors.items()), ("", ["Invalid input."]))
        detail = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        # A field that checks a value by core.values' rules keeps that rule's code.
        rule = _flatten(exc.get_codes()).get(first[0], [ErrorCode.INVALID])[0]
        return error_response(400, detail, rule if rule in _VALUE_CODES else ErrorCode.INVALID, errors)
    if isinstance(exc, exceptions.ParseError):
        parse_code = ErrorCode.BODY_TRUNCATED if isinstance(exc, BodyTruncated) else ErrorCode.MALFORMED
        return error_response(400, str(exc.detail), parse_code, {"body": [str(exc.detail)]})
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = {"detail": str(exc.detail), "code": code, "errors": {}}
    return response
