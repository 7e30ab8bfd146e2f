"""Refuse, before anything parses them, oversized request bodies and NUL characters, and
truncated bodies while they are read.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` or `request.POST` is read;
DRF's parsers read the stream directly, so a JSON body of any size would be parsed. This
middleware answers 413 from the declared Content-Length instead. Multipart bodies are left to
Django's multipart parser, which applies the limit to the form fields but not to uploaded files.

NUL (U+0000, `%00`) in the path, the query string, a header or a urlencoded form would reach
PostgreSQL, which refuses it in text (a 500): NulCharacterMiddleware answers 400 naming where.

A body that ends before its Content-Length (the client went away) reads as a short body that
parses: half a CSV is a valid CSV. TruncatedBodyMiddleware makes that end an error instead
(BodyTruncated, a 400), raised from the read itself, so whatever is being written with it is
rolled back. Under gunicorn a chunked body is read through the same wrapper, and a chunk stream
that stops before its final 0-chunk is BodyTruncated too.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError

from core.errors import ErrorCode
from core.text import NUL_MESSAGE, has_nul, printable

try:
    from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, NoMoreData

    _FRAMING_ERRORS: tuple[type[Exception], ...] = (NoMoreData, ChunkMissingTerminator, InvalidChunkSize)
except ImportError:  # pragma: no cover - gunicorn is the production server, not a dependency of the code
    _FRAMING_ERRORS = ()


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


class BodyTruncated(ParseError, BadRequest):
    """The body ended before its declared length. A ParseError for DRF views (400), a BadRequest
    for Django's own handler (400, not 500) where something outside DRF reads the body."""

    default_detail = "The request body ended before its declared length; nothing was stored."
    default_code = ErrorCode.BODY_TRUNCATED


class _CheckedStream:
    """Counts what is read; EOF before `expected` bytes (or a framing error of the server's
    chunked decoder) raises BodyTruncated. `expected` is None for a chunked body."""

    def __init__(self, stream: Any, expected: int | None) -> None:
        self._stream = stream
        self._expected = expected
        self._read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._call(self._stream.read, size)
        # read() without a size returns all it got: short means the body ended early.
        self._count(data, ended=size is None or size < 0 or (not data and size != 0))
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = self._call(self._stream.readline, size)
        self._count(data, ended=not data and size != 0)
        return data

    def _call(self, method: Callable[..., bytes], size: int | None) -> bytes:
        try:
            return method() if size is None else method(size)
        except _FRAMING_ERRORS as exc:
            raise BodyTruncated(f"The chunked request body is incomplete ({exc}); nothing was stored.") from exc

    def close(self) -> None:  # Django's multipart parser closes what it read
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def _count(self, data: bytes, *, ended: bool) -> None:
        self._read += len(data)
        if ended and self._expected is not None and self._read < self._expected:
            raise BodyTruncated(
                f"The request body ended after {self._read} of its {self._expected} bytes; nothing was stored."
            )


class TruncatedBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        stream = getattr(request, "_stream", None)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if stream is not None and length > 0:
            request._stream = _CheckedStream(stream, length)  # type: ignore[assignment]
        elif _chunked(request):
            # The server decodes the chunks and ends the stream at the body's end.
            request._stream = _CheckedStream(request.META["wsgi.input"], None)  # type: ignore[assignment]
        return self.get_response(request)


def _chunked(request: HttpRequest) -> bool:
    return (
        "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        and bool(request.META.get("wsgi.input_terminated"))
        and "wsgi.input" in request.META
    )


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
            return _error(400, f"{field}: {NUL_MESSAGE}", ErrorCode.NUL_CHARACTER, {field: [NUL_MESSAGE]})
        return self.get_response(request)
