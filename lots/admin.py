from django.contrib import admin

from .models import Item, ItemKind


@admin.register(ItemKind)
class ItemKindAdmin(admin.ModelAdmin[ItemKind]):
    list_display = ["code", "name", "level", "default_unit", "code_prefix", "is_roll", "on_electrode_path"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin[Item]):
    list_display = ["code", "kind", "status", "quantity", "unit", "polarity", "station", "created_at"]
    list_filter = ["kind", "status", "polarity"]
    search_fields = ["code", "supplier_lot", "rfid_epc"]
    list_select_related = ["kind", "station"]
    date_hierarchy = "created_at"
    # Items change only through operations, holds and scrapping, which audit what they do.
    readonly_fields = [f.name for f in Item._meta.fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
