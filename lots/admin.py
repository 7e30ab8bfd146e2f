from typing import Any

from django.contrib import admin
from django.db.models import QuerySet

from .models import Item, ItemKind, ItemStatusChange


class ReadOnlyAdminMixin:
    """Rows written only by services (which audit them): the admin shows, never edits."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ItemKind)
class ItemKindAdmin(admin.ModelAdmin[ItemKind]):
    list_display = ["code", "name", "level", "default_unit", "code_prefix", "is_roll", "on_electrode_path"]


class StatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline[ItemStatusChange, Item]):
    model = ItemStatusChange
    fields = ("at", "from_status", "to_status", "actor", "reason", "operation", "hold")
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0

    def get_queryset(self, request: Any) -> QuerySet[ItemStatusChange]:
        return super().get_queryset(request).select_related("actor", "operation", "hold")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = ["code", "kind", "status", "quantity", "unit", "polarity", "station", "created_at"]
    list_filter = ["kind", "status", "polarity"]
    search_fields = ["code", "supplier_lot", "rfid_epc"]
    list_select_related = ["kind", "station"]
    date_hierarchy = "created_at"
    # Items change only through operations, holds and scrapping, which audit what they do.
    readonly_fields = [f.name for f in Item._meta.fields]
    inlines = [StatusChangeInline]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(ItemStatusChange)
class ItemStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[ItemStatusChange]):
    """Append-only (lots.services.item_status_set writes them; a trigger refuses the rest)."""

    list_display = ["at", "item", "from_status", "to_status", "actor", "reason", "operation", "hold"]
    list_filter = ["to_status", "from_status"]
    search_fields = ["item__code", "reason"]
    list_select_related = ["item", "actor", "operation", "hold"]
    date_hierarchy = "at"
