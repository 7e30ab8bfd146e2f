from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("api.urls")),
    path("", include("web.urls")),
]

# JSON under /api/, HTML pages elsewhere (api/error_pages.py); used when DEBUG is off.
handler400 = "api.error_pages.bad_request"
handler403 = "api.error_pages.permission_denied"
handler404 = "api.error_pages.page_not_found"
handler500 = "api.error_pages.server_error"
