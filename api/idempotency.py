"""Idempotency-Key on writes: the same key and body replay the first response, nothing new
is written; the same key with another body is a 409. Only a success (2xx) uses the key up: a
request that failed can be sent again with the same key."""

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import ErrorCode
from core.idempotency import MAX_KEY_LENGTH, FirstResponse, first_response, keep_response

from .errors import error_response

HEADER = "Idempotency-Key"

Handler = Callable[..., Response]


def _fingerprint(request: Request) -> str:
    if hasattr(request.data, "dict"):
        body: Any = request.data.dict()
    else:
        body = request.data
    canonical = json.dumps([request.method, request.path, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(handler: Handler) -> Handler:
    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if not key:
            return handler(view, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            return key_too_long()
        fingerprint = _fingerprint(request)
        return write_once(request, key, lambda: handler(view, request, *args, **kwargs), lambda: fingerprint)

    return wrapper


def write_once(request: Request, key: str, write: Callable[[], Response], fingerprint: Callable[[], str]) -> Response:
    """The first response under `key` replayed, or `write` run with `key` kept beside its
    success in one transaction. `fingerprint` (the request's hash) is asked for only after the
    write or before a replay: a streamed body is hashed as it is read."""
    user_id = request.user.pk  # authenticated: the permission check ran before the handler
    assert user_id is not None
    previous = first_response(user_id=user_id, key=key)
    if previous is not None:
        return _replay(previous, fingerprint())
    try:
        # The key is stored in the same transaction as the write it guards.
        with transaction.atomic():
            response = write()
            if 200 <= response.status_code < 300:
                keep_response(
                    user_id=user_id,
                    key=key,
                    method=request.method or "",
                    path=request.path,
                    body_sha256=fingerprint(),
                    status_code=response.status_code,
                    response=response.data,
                )
    except IntegrityError:
        # A concurrent request with the same key won the race; replay what it stored.
        previous = first_response(user_id=user_id, key=key)
        if previous is None:
            raise
        return _replay(previous, fingerprint())
    return response


def key_too_long() -> Response:
    return error_response(
        400,
        f"Idempotency-Key is at most {MAX_KEY_LENGTH} characters.",
        ErrorCode.INVALID,
        {HEADER: [f"At most {MAX_KEY_LENGTH} characters."]},
    )


def _replay(previous: FirstResponse, fingerprint: str) -> Response:
    if previous.body_sha256 != fingerprint:
        return error_response(
            409,
            "This Idempotency-Key was used with another request.",
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            {HEADER: ["Used with another request."]},
        )
    response = Response(previous.response, status=previous.status_code)
    response["Idempotent-Replay"] = "true"
    return response
