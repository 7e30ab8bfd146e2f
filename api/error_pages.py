"""The error pages of the site (`handler400`, `handler403`, `handler404`, `handler500` in
config/urls.py): under /api/ the API's JSON error shape {"detail", "code", "errors"}, elsewhere
Django's own HTML pages (templates/400.html, 403.html, 404.html, 500.html).

They answer only what DRF's exception handler does not see: an unknown URL, an exception outside
a DRF view, or one that escaped it (a bug, a database gone away). With DEBUG on Django shows its
debug pages instead.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from core.errors import ErrorCode

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _json(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, "errors": {}}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(400, "Bad request.", ErrorCode.BAD_REQUEST)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(403, "You do not have permission to perform this action.", ErrorCode.PERMISSION_DENIED)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json(404, f"No endpoint at {request.path}.", ErrorCode.NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    # Says nothing of the error: it is in the log (django.request), not for the client.
    if _is_api(request):
        return _json(500, "Server error.", ErrorCode.SERVER_ERROR)
    return defaults.server_error(request)
