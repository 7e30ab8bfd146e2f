from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.roles import Role, has_role

from .models import CapturedEvent, GtinKind
from .services import gtin_kind_delete, gtin_kind_set


@admin.register(GtinKind)
class GtinKindAdmin(admin.ModelAdmin[GtinKind]):
    """Engineers and admins keep the table; every change goes through the audited service."""

    list_display = ["gtin", "kind", "note"]
    search_fields = ["gtin", "note"]

    def _allowed(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.ENGINEER)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def save_model(self, request: HttpRequest, obj: GtinKind, form: Any, change: bool) -> None:
        gtin_kind_set(actor=request.user, gtin=obj.gtin, kind=obj.kind_id, note=obj.note)  # type: ignore[arg-type]

    def delete_model(self, request: HttpRequest, obj: GtinKind) -> None:
        gtin_kind_delete(actor=request.user, gtin=obj.gtin)  # type: ignore[arg-type]


@admin.register(CapturedEvent)
class CapturedEventAdmin(admin.ModelAdmin[CapturedEvent]):
    """Captured events are written only by capture: shown, never edited."""

    list_display = ["event_hash", "event_type", "event_time", "captured_at", "captured_by"]
    list_filter = ["event_type"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
