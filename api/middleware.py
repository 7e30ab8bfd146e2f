"""Refuse, before anything parses them, oversized request bodies and NUL characters.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` or `request.POST` is read;
DRF's parsers read the stream directly, so a JSON body of any size would be parsed. This
middleware answers 413 from the declared Content-Length instead. Multipart bodies are left to
Django's multipart parser, which applies the limit to the form fields but not to uploaded files.

NUL (U+0000, `%00`) in the path, the query string, a header or a urlencoded form would reach
PostgreSQL, which refuses it in text (a 500): NulCharacterMiddleware answers 400 naming where.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from lots.exceptions import ErrorCode

from .codes import TransportCode
from .parsers import NUL_MESSAGE, has_nul, printable


def _error(status: int, detail: str, code: str, errors: dict[str, list[str]] | None = None) -> JsonResponse:
    """The API's error shape (api.errors), for answers given before DRF runs."""
    return JsonResponse({"detail": detail, "code": code, "errors": errors or {}}, status=status)


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.path_info == "/api/measurements/bulk/":  # streamed by the view, not held in memory
            limit = settings.CELLTRACE_MAX_BULK_BYTES
        if limit is not None and not (request.content_type or "").startswith("multipart/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return _error(
                    413, f"The request body is {length} bytes; the limit is {limit}.", ErrorCode.BODY_TOO_LARGE
                )
        return self.get_response(request)


def nul_field(request: HttpRequest) -> str | None:
    """Where the request carries a NUL character: "path", a query or form field, a header."""
    if has_nul(request.path_info):
        return "path"
    forms = [request.GET]
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        forms.append(request.POST)  # small (DATA_UPLOAD_MAX_MEMORY_SIZE) and parsed once
    for form in forms:
        for name, values in form.lists():
            if has_nul(name) or any(has_nul(value) for value in values):
                return printable(name)
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and has_nul(value):
            return "headers." + key[5:].replace("_", "-").title()
    return None


class NulCharacterMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = nul_field(request)
        if field is not None:
            return _error(400, f"{field}: {NUL_MESSAGE}", TransportCode.NUL_CHARACTER, {field: [NUL_MESSAGE]})
        return self.get_response(request)
