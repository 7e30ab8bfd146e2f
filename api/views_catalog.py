"""The parameter catalog: everyone reads it whole; engineers add and edit parameters."""

from django.db.models import F, Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.roles import Role
from measurements.models import Category, Parameter, Scope
from measurements.services_catalog import parameter_create, parameter_update

from . import serializers as s
from .idempotency import idempotent


class ParameterFilter(filters.FilterSet):
    step = filters.CharFilter(field_name="step_id")
    category = filters.ChoiceFilter(choices=Category.choices)
    scope = filters.ChoiceFilter(choices=Scope.choices)
    online = filters.BooleanFilter()
    q = filters.CharFilter(method="search", help_text="Part of the code or the name.")

    class Meta:
        model = Parameter
        fields = ["step", "category", "scope", "online"]

    def search(self, queryset: QuerySet[Parameter], name: str, value: str) -> QuerySet[Parameter]:
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))


class ParameterListView(generics.ListAPIView[Parameter]):
    """The catalog, whole and in line order (about 200 rows): clients want all of it, so no pages."""

    # Line order; parameters of no step (the dry room) last on every database.
    queryset = Parameter.objects.order_by(F("step__sequence").asc(nulls_last=True), "code")
    serializer_class = s.ParameterSerializer
    filterset_class = ParameterFilter
    pagination_class = None
    write_role = Role.ENGINEER

    @extend_schema(request=s.ParameterInput, responses={201: s.ParameterSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        parameter = parameter_create(actor=request.user, **s.validated(s.ParameterInput, request))
        return Response(s.ParameterSerializer(parameter).data, status=status.HTTP_201_CREATED)


class ParameterDetailView(generics.RetrieveAPIView[Parameter]):
    queryset = Parameter.objects.all()
    serializer_class = s.ParameterSerializer
    lookup_field = "code"
    write_role = Role.ENGINEER

    @extend_schema(request=s.ParameterInput, responses=s.ParameterSerializer)
    @idempotent
    def patch(self, request: Request, code: str) -> Response:
        data = s.validated(s.ParameterInput, request, partial=True)
        parameter = parameter_update(actor=request.user, code=code, data=data)
        return Response(s.ParameterSerializer(parameter).data)
