from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from lots.exceptions import InvalidInput

from .codes import TransportCode

_BIGINT = 2**63


def _is_id(position: object) -> bool:
    """Whether a cursor's position (text from the client) can be compared with a bigint id:
    anything else makes the page's query fail."""
    if position is None:
        return True
    text = str(position)
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit() and abs(int(text)) < _BIGINT


class CursorByIdPagination(CursorPagination):
    """Keyset pagination: each page is one indexed query however deep the client pages."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        # Only cursors from our own `next`/`previous` links are valid; anything else is the
        # client's mistake (400 naming `cursor`), not a missing page.
        try:
            cursor = super().decode_cursor(request)
            valid = cursor is None or _is_id(cursor.position)
        except NotFound:  # not base64, not our tokens, a negative offset
            cursor, valid = None, False
        if not valid:
            raise InvalidInput(
                "cursor is not one this API gave: follow the next and previous links.",
                field="cursor",
                code=TransportCode.BAD_CURSOR,
            )
        return cursor
