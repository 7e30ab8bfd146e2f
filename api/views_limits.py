"""Specification limits: everyone reads them; engineers set them (a change is a new version)."""

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.roles import Role
from lots.models import Polarity
from measurements.models import OnViolation, SpecificationLimit
from measurements.services_limits import PRODUCT_MAX, limit_set

from .fields import NumberField, TextField
from .idempotency import idempotent
from .serializers import validated


class LimitSerializer(serializers.Serializer[SpecificationLimit]):
    id = serializers.IntegerField()
    parameter = TextField(source="parameter.code")
    polarity = TextField(allow_null=True)
    product = TextField(allow_null=True)
    target = serializers.FloatField(allow_null=True)
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True)
    unit = TextField(source="parameter.unit")
    sent_unit = TextField()
    on_violation = TextField()
    version = serializers.IntegerField()
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    active = serializers.SerializerMethodField()
    retired_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.SerializerMethodField()

    def get_active(self, limit: SpecificationLimit) -> bool:
        return limit.retired_at is None

    def get_created_by(self, limit: SpecificationLimit) -> str | None:
        return limit.created_by.username if limit.created_by else None


class LimitInput(serializers.Serializer[Any]):
    """Values in `unit` (default: the parameter's canonical unit), stored converted."""

    parameter = TextField(max_length=64)
    polarity = serializers.ChoiceField(choices=Polarity.choices, required=False, allow_null=True)
    product = TextField(max_length=PRODUCT_MAX, required=False, allow_null=True, allow_blank=True)
    target = NumberField(required=False, allow_null=True)
    lower = NumberField(required=False, allow_null=True)
    upper = NumberField(required=False, allow_null=True)
    unit = TextField(max_length=32, required=False, allow_null=True, allow_blank=True)
    on_violation = serializers.ChoiceField(choices=OnViolation.choices, required=False)


class LimitFilter(filters.FilterSet):
    parameter = filters.CharFilter(field_name="parameter__code")
    product = filters.CharFilter(field_name="product")
    polarity = filters.ChoiceFilter(choices=Polarity.choices)
    history = filters.BooleanFilter(method="with_history", help_text="Also the retired versions.")

    class Meta:
        model = SpecificationLimit
        fields = ["parameter", "product", "polarity"]

    def filter_queryset(self, queryset: QuerySet[SpecificationLimit]) -> QuerySet[SpecificationLimit]:
        if not self.form.cleaned_data.get("history"):
            queryset = queryset.filter(retired_at__isnull=True)
        return super().filter_queryset(queryset)

    def with_history(
        self, queryset: QuerySet[SpecificationLimit], name: str, value: bool
    ) -> QuerySet[SpecificationLimit]:
        return queryset  # applied in filter_queryset: the default (active only) needs no parameter


class LimitListView(generics.ListAPIView[SpecificationLimit]):
    queryset = SpecificationLimit.objects.select_related("parameter", "created_by").order_by(
        "parameter__code", "product", "polarity", "-version"
    )
    serializer_class = LimitSerializer
    filterset_class = LimitFilter
    write_role = Role.ENGINEER

    @extend_schema(request=LimitInput, responses={201: LimitSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        limit = limit_set(actor=request.user, **validated(LimitInput, request))
        return Response(LimitSerializer(limit).data, status=status.HTTP_201_CREATED)


class LimitDetailView(generics.RetrieveAPIView[SpecificationLimit]):
    queryset = SpecificationLimit.objects.select_related("parameter", "created_by")
    serializer_class = LimitSerializer
