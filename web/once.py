"""One form, one write: a double tap on a touch screen posts the same form twice.

Each form carries a random `submission` token. The first post stores the token (unique per
user) in the same transaction as its write; a second post of the same token finds it (or waits
on the unique index until the first commits) and records nothing.
"""

import uuid
from collections.abc import Callable

from django.db import IntegrityError, transaction

from core.idempotency import first_response, keep_response, replace_response

PREFIX = "web-form:"


def new_token() -> str:
    return uuid.uuid4().hex


def submitted(*, user_id: int, token: str) -> int | None:
    """The id the write of this form's token stored, if it was submitted already."""
    previous = first_response(user_id=user_id, key=PREFIX + token[:64]) if token else None
    return int(previous.response["id"]) if previous is not None else None


def submit_once(*, user_id: int, token: str, path: str, write: Callable[[], int]) -> tuple[int, bool]:
    """Run `write` (which returns the id of what it recorded) unless this token was submitted:
    (the id, True) the first time, (the first time's id, False) for a repeat."""
    token = token or new_token()
    key = PREFIX + token[:64]
    first = submitted(user_id=user_id, token=token)
    if first is not None:
        return first, False
    try:
        with transaction.atomic():
            entry_id = keep_response(
                user_id=user_id, key=key, method="POST", path=path, body_sha256="", status_code=201, response={}
            )
            recorded = write()
            replace_response(entry_id=entry_id, response={"id": recorded})
            return recorded, True
    except IntegrityError:  # the twin post committed first
        first = submitted(user_id=user_id, token=token)
        if first is None:
            raise
        return first, False
