"""The store of first responses behind Idempotency-Key (api.idempotency, the bulk view) and the
web forms' one-submission tokens (web.once): one row per user and key, unique, written in the
same transaction as the write it guards."""

from dataclasses import dataclass
from typing import Any

from .models import IdempotencyKey

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class FirstResponse:
    """What a key's first successful request answered, and the fingerprint of its body."""

    body_sha256: str
    status_code: int
    response: Any


def first_response(*, user_id: int, key: str) -> FirstResponse | None:
    """The response stored under this user's key, if any."""
    row = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
    if row is None:
        return None
    return FirstResponse(body_sha256=row.body_sha256, status_code=row.status_code, response=row.response)


def keep_response(
    *, user_id: int, key: str, method: str, path: str, body_sha256: str, status_code: int, response: Any
) -> int:
    """Store a key's first response (IntegrityError if the key is taken); the row's id."""
    row = IdempotencyKey.objects.create(
        user_id=user_id,
        key=key,
        method=method,
        path=path,
        body_sha256=body_sha256,
        status_code=status_code,
        response=response,
    )
    return int(row.pk)


def replace_response(*, entry_id: int, response: Any) -> None:
    """The response of a kept key, once the write it guards has produced it."""
    IdempotencyKey.objects.filter(pk=entry_id).update(response=response)
