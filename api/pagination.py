from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from core.errors import ErrorCode, InvalidInput

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
                code=ErrorCode.BAD_CURSOR,
            )
        return cursor

    def get_page_size(self, request: Request) -> int:
        # DRF quietly falls back to the default for a page_size it cannot read; a client's
        # typo should be a 400 naming it instead, as the schema (an integer of at least 1) says.
        raw = request.query_params.get(self.page_size_query_param or "page_size")
        if raw is None:
            return int(self.page_size or 0)
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise InvalidInput(
                "page_size is a whole number of at least 1.", field="page_size", code=ErrorCode.BAD_PAGE_SIZE
            )
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = f"Results per page, at most {self.max_page_size} (larger is capped)."
        return parameters
