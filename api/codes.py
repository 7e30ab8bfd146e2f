"""Codes of input refused before a serializer sees it (api.parsers, api.middleware,
api.pagination), beside lots.exceptions.ErrorCode. Kept free of DRF imports: DRF's settings
import api.parsers, which needs them."""


class TransportCode:
    NUL_CHARACTER = "nul_character"
    TOO_DEEP = "too_deep"
    BAD_CURSOR = "bad_cursor"
    BAD_PAGE_SIZE = "bad_page_size"
