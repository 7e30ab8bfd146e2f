"""Query filters shared by the list endpoints."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django_filters import rest_framework as filters
from rest_framework import serializers

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


class _QueryText(serializers.Field):  # type: ignore[type-arg]
    """A query parameter's text as sent: the rules below name it in their own words (a NUL, a
    blank included), as the hand-written parsing did."""

    def to_internal_value(self, data: Any) -> str:
        return str(data)

    def to_representation(self, value: Any) -> str:
        return str(value)


class GenealogyQuery(serializers.Serializer):  # type: ignore[type-arg]
    """The genealogy endpoints' parameters: depth (levels, all when absent), kind (comma-separated
    kinds of nodes to return), edges (false: nodes only)."""

    depth = _QueryText(required=False)
    kind = _QueryText(required=False, default="")
    edges = _QueryText(required=False, default="true")

    def validate_depth(self, value: str) -> int:
        # isascii: "²" is a digit to str.isdigit, not to int().
        if not (value.isascii() and value.isdigit()):
            raise InvalidInput("depth is a whole number.", field="depth")
        return int(value)

    def validate_kind(self, value: str) -> set[str]:
        return {kind for kind in value.split(",") if kind}

    def validate_edges(self, value: str) -> bool:
        if value.lower() not in ("true", "false"):
            raise InvalidInput("edges is true or false.", field="edges")
        return value.lower() == "true"


@dataclass(frozen=True)
class GenealogyParams:
    depth: int | None
    kinds: set[str]
    edges: bool


def genealogy_query(params: Mapping[str, Any]) -> GenealogyParams:
    """depth (int or None), kinds (a set) and edges (a bool) of a genealogy request; a bad one is
    a 400 naming it, depth first."""
    query = GenealogyQuery(data=params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    return GenealogyParams(depth=data.get("depth"), kinds=data["kind"], edges=data["edges"])
