"""Refuse oversized request bodies before anything parses them.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` or `request.POST` is read;
DRF's parsers read the stream directly, so a JSON body of any size would be parsed. This
middleware answers 413 from the declared Content-Length instead. Multipart bodies are left to
Django's multipart parser, which applies the limit to the form fields but not to uploaded files.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from lots.exceptions import ErrorCode


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
                return JsonResponse(
                    {
                        "detail": f"The request body is {length} bytes; the limit is {limit}.",
                        "code": ErrorCode.BODY_TOO_LARGE,
                        "errors": {},
                    },
                    status=413,
                )
        return self.get_response(request)
