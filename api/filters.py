"""Query filters shared by the list endpoints."""

from datetime import datetime
from typing import Any

from django import forms
from django_filters import rest_framework as filters

from core.errors import ErrorCode, InvalidInput
from core.values import moment


class RecordTimeField(forms.DateTimeField):
    """An ISO 8601 time with its offset, in the record's range (core.values); anything else,
    naive times included (API.md: a time without an offset is refused), is a 400 naming it."""

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        try:
            return moment(str(value), field="")
        except InvalidInput as error:
            # As a parameter: django-filter applies `message % params`, and the message quotes
            # the client's text, which may hold a "%".
            raise forms.ValidationError(
                "%(reason)s", code=ErrorCode.INVALID, params={"reason": error.message}
            ) from None


class RecordTimeFilter(filters.IsoDateTimeFilter):
    field_class = RecordTimeField


class StrictFilterBackend(filters.DjangoFilterBackend):
    """django-filter reads an empty value, and a boolean it cannot read, as "no filter": for a
    filter that is not free text (a choice, a boolean, a time) that is a 400 naming it, as the
    schema says."""

    def get_filterset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset = super().get_filterset(request, queryset, view)
        for name, query_filter in (filterset.filters if filterset is not None else {}).items():
            raw = request.query_params.get(name)
            if raw is None or isinstance(query_filter, filters.CharFilter):
                continue
            if raw == "":
                raise InvalidInput(f"{name} is empty: leave it out not to filter by it.", field=name)
            if isinstance(query_filter, filters.BooleanFilter) and raw.lower() not in ("true", "false"):
                raise InvalidInput(f"{name} is true or false.", field=name)
        return filterset
