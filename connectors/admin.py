"""Connectors in the admin: the configuration with its mappings inline, the live status read-only.

Writes go through connectors.services (the API's rules, the revision, the audit), not obj.save():
the form and the mapping formset check with connectors.validation, `save_related` writes.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Connector, ConnectorMapping, ConnectorReceipt
from .selectors import connector_status
from .services import connector_create, connector_delete, connector_update
from .validation import code_problems, endpoint_problems, iter_kind_problems, mappings_check, options_problems

_CONNECTOR_FIELDS = ("kind", "endpoint", "enabled", "options")


class ConnectorAdminForm(forms.ModelForm[Connector]):
    class Meta:
        model = Connector
        fields = ["code", *_CONNECTOR_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        kind = cleaned.get("kind")
        problems = [] if self.instance.pk else code_problems(cleaned.get("code"))
        problems += list(iter_kind_problems(kind))
        if not problems:
            problems += endpoint_problems(str(kind), cleaned.get("endpoint"))
            problems += options_problems(str(kind), cleaned.get("options") or {})
        for problem in problems:
            name = problem.field.split(".")[0]
            self.add_error(name if name in self.fields else None, problem.message)
        return cleaned


def _mapping_values(cleaned: dict[str, Any]) -> dict[str, Any]:
    station = cleaned.get("station")
    parameter = cleaned.get("parameter")
    return {
        "source": cleaned.get("source", ""),
        "station": station.code if station is not None else None,
        "room": cleaned.get("room", ""),
        "parameter": parameter.code if parameter is not None else None,
        "unit": cleaned.get("unit", ""),
        "position_source": cleaned.get("position_source", ""),
        "data_type": cleaned.get("data_type", ""),
        "scale": cleaned.get("scale", 1.0),
    }


class MappingFormSet(forms.BaseInlineFormSet[ConnectorMapping, Connector, Any]):
    def clean(self) -> None:
        """The mapping rules of the connector's kind, each error on its row."""
        super().clean()
        if any(self.errors) or not self.instance.kind:
            return
        kept = [f for f in self.forms if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")]
        problems, _ = mappings_check(self.instance.kind, [_mapping_values(f.cleaned_data) for f in kept])
        for problem in problems:
            index_text, _, name = problem.field.removeprefix("mappings[").partition("].")
            form = kept[int(index_text)] if index_text.isdigit() else None
            if form is not None and name in form.fields:
                form.add_error(name, problem.message)
            else:
                raise forms.ValidationError(problem.message)


class MappingInline(admin.TabularInline[ConnectorMapping, Connector]):
    model = ConnectorMapping
    formset = MappingFormSet
    fields = ["source", "station", "room", "parameter", "unit", "position_source", "data_type", "scale"]
    extra = 1


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin[Connector]):
    form = ConnectorAdminForm
    inlines = [MappingInline]
    list_display = ["code", "kind", "endpoint", "enabled", "state", "received", "stored", "rejected", "last_error"]
    list_filter = ["kind", "enabled"]
    search_fields = ["code", "endpoint"]
    list_select_related = ["status"]
    status_fields = ["state", "received", "stored", "rejected", "last_error", "last_value_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Connector | None = None) -> list[str]:
        fixed = ["revision", *self.status_fields]
        return ["code", *fixed] if obj is not None else fixed

    def _status(self, obj: Connector) -> dict[str, Any]:
        return connector_status(obj) if obj.pk else {}

    @admin.display(description="state")
    def state(self, obj: Connector) -> str:
        return str(self._status(obj).get("state", ""))

    @admin.display(description="received")
    def received(self, obj: Connector) -> int:
        return int(self._status(obj).get("received", 0))

    @admin.display(description="stored")
    def stored(self, obj: Connector) -> int:
        return int(self._status(obj).get("stored", 0))

    @admin.display(description="rejected")
    def rejected(self, obj: Connector) -> int:
        return int(self._status(obj).get("rejected", 0))

    @admin.display(description="last error")
    def last_error(self, obj: Connector) -> str:
        return str(self._status(obj).get("last_error", ""))

    @admin.display(description="last value at")
    def last_value_at(self, obj: Connector) -> Any:
        return self._status(obj).get("last_value_at")

    def save_model(self, request: HttpRequest, obj: Connector, form: Any, change: bool) -> None:
        """Nothing yet: save_related writes the connector and its mappings in one service call."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        mappings = [
            _mapping_values(f.cleaned_data)
            for formset in formsets
            for f in formset.forms
            if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
        ]
        data: dict[str, Any] = {name: form.cleaned_data[name] for name in _CONNECTOR_FIELDS}
        data["options"] = data["options"] or {}
        data["mappings"] = mappings
        if change:
            saved = connector_update(actor=request.user, code=form.instance.code, data=data)
        else:
            saved = connector_create(actor=request.user, data={"code": form.cleaned_data["code"], **data})
        form.instance.pk = saved.pk
        form.instance._state.adding = False
        for formset in formsets:  # what the admin's change message reads of a saved formset
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request: HttpRequest, obj: Connector) -> None:
        connector_delete(actor=request.user, code=obj.code)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for code in queryset.values_list("code", flat=True):
            connector_delete(actor=request.user, code=code)


@admin.register(ConnectorReceipt)
class ConnectorReceiptAdmin(admin.ModelAdmin[ConnectorReceipt]):
    """What was stored, for looking up a duplicate: never edited by hand."""

    list_display = ["connector", "source", "source_time", "value"]
    list_filter = ["connector"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ConnectorReceipt | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ConnectorReceipt | None = None) -> bool:
        return False
