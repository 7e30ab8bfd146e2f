from django.contrib import admin

from .models import Hold, HoldItem, LineageEdge, Operation, OperationInput, Scrap, Station, Step


@admin.register(Step)
class StepAdmin(admin.ModelAdmin[Step]):
    list_display = ["sequence", "code", "name"]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin[Station]):
    list_display = ["code", "name", "room"]
    filter_horizontal = ["steps"]


class OperationInputInline(admin.TabularInline[OperationInput, Operation]):
    model = OperationInput
    raw_id_fields = ["item"]
    extra = 0
    can_delete = False


class ScrapInline(admin.TabularInline[Scrap, Operation]):
    model = Scrap
    raw_id_fields = ["item"]
    extra = 0
    can_delete = False


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin[Operation]):
    list_display = ["id", "step", "station", "started_at", "ended_at", "created_by"]
    list_filter = ["step", "station"]
    date_hierarchy = "started_at"
    inlines = [OperationInputInline, ScrapInline]
    readonly_fields = ["step", "station", "started_at", "ended_at", "parameters", "created_by"]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(LineageEdge)
class LineageEdgeAdmin(admin.ModelAdmin[LineageEdge]):
    list_display = ["parent", "child", "operation", "parent_from_m", "parent_to_m", "lane", "reversed"]
    search_fields = ["parent__code", "child__code"]
    raw_id_fields = ["parent", "child", "operation"]
    list_select_related = ["parent", "child"]

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


class HoldItemInline(admin.TabularInline[HoldItem, Hold]):
    model = HoldItem
    raw_id_fields = ["item"]
    extra = 0
    can_delete = False


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin[Hold]):
    list_display = ["id", "reason", "item", "station", "downstream", "created_by", "created_at", "released_at"]
    list_filter = ["downstream", "released_at"]
    inlines = [HoldItemInline]
    raw_id_fields = ["item"]

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False  # place and release through the API, which updates item statuses
