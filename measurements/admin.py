from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.errors import DomainError

from .models import Parameter
from .services_catalog import CATALOG_FIELDS, parameter_check, parameter_create, parameter_update, parameter_values


def _form_values(cleaned_data: dict[str, Any]) -> dict[str, Any]:
    """The catalog values the form holds, as the services take them (the step by its code)."""
    values = {name: cleaned_data[name] for name in CATALOG_FIELDS if name in cleaned_data}
    if "step" in values:
        values["step"] = values["step"].code if values["step"] is not None else None
    return values


class ParameterAdminForm(forms.ModelForm[Parameter]):
    ontology_iri = forms.URLField(max_length=300, required=False, assume_scheme="https")

    class Meta:
        model = Parameter
        fields = ["code", *CATALOG_FIELDS]

    def clean(self) -> dict[str, Any]:
        """The services' rules (pint unit, step, range, unit of a parameter with measurements) as form errors."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned  # a field is already wrong: its value is missing from cleaned_data
        current = self.instance if self.instance.pk is not None else None
        values = (parameter_values(current) if current is not None else {}) | _form_values(cleaned)
        if current is None:
            values["code"] = cleaned.get("code", "")
        try:
            parameter_check(values=values, current=current)
        except DomainError as exc:
            for name, messages in exc.errors.items():
                self.add_error(name if name in self.fields else None, messages)
            if not exc.errors:
                self.add_error(None, exc.message)
        return cleaned


@admin.register(Parameter)
class ParameterAdmin(admin.ModelAdmin[Parameter]):
    form = ParameterAdminForm
    list_display = ["code", "name", "step", "category", "unit", "criticality_ml", "online"]
    list_filter = ["step", "category", "scope"]
    search_fields = ["code", "name"]
    list_select_related = ["step"]

    def get_readonly_fields(self, request: HttpRequest, obj: Parameter | None = None) -> list[str]:
        # Clients and measurements name a parameter by its code: it never changes once created.
        return ["code", "updated_at"] if obj is not None else ["updated_at"]

    def save_model(self, request: HttpRequest, obj: Parameter, form: Any, change: bool) -> None:
        # Through the services, not obj.save(): the same rules as the API, and an audit row.
        values = _form_values(form.cleaned_data)
        if change:
            saved = parameter_update(actor=request.user, code=obj.code, data=values)
        else:
            saved = parameter_create(actor=request.user, code=obj.code, **values)
        obj.pk = saved.pk
        obj.updated_at = saved.updated_at
        obj._state.adding = False
        obj._state.db = saved._state.db

    def has_delete_permission(self, request: HttpRequest, obj: Parameter | None = None) -> bool:
        return False  # no audited way to delete one; measurements protect the parameters they use
