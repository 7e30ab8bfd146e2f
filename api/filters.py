"""Query filters shared by the list endpoints."""

from datetime import datetime
from typing import Any

from django import forms
from django_filters import rest_framework as filters

from lots.exceptions import InvalidInput
from lots.values import moment


class RecordTimeField(forms.DateTimeField):
    """An ISO 8601 time with its offset, in the record's range (lots.values); anything else,
    naive times included (API.md: a time without an offset is refused), is a 400 naming it."""

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        try:
            return moment(str(value), field="")
        except InvalidInput as error:
            raise forms.ValidationError(str(error), code="invalid") from None


class RecordTimeFilter(filters.IsoDateTimeFilter):
    field_class = RecordTimeField
