from rest_framework.pagination import CursorPagination


class CursorByIdPagination(CursorPagination):
    """Keyset pagination: each page is one indexed query however deep the client pages."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000
