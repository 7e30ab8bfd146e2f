"""The site's URLs and error handlers, plus views that fail in each way, for test_error_pages."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as site


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("an unexpected bug, not for the client")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("a forged header")


urlpatterns = [
    path("api/test-broken/", broken),
    path("api/test-forbidden/", forbidden),
    path("api/test-suspicious/", suspicious),
    path("test-broken/", broken),
    path("test-forbidden/", forbidden),
    *site,
]
