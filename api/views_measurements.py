"""Measurements over HTTP: record one, correct one, list (with the upstream roll map)."""

from typing import Any

import orjson
from django.db import connection
from django.db.models import QuerySet
from django.http import FileResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import InvalidInput, NotFound
from datasets.cycler_services import file_measurement_correct, file_measurement_record
from lots.selectors import item_get
from measurements.files import FileSizeLimitHandler, attachment_response, multipart_limit_check
from measurements.models import Measurement, ModelType, Parameter
from measurements.selectors import item_completeness, measurement_queryset
from measurements.selectors_upstream import upstream_listing
from measurements.selectors_upstream_json import upstream_listing_json
from measurements.services import MeasurementInput

from . import serializers as s
from . import serializers_measurements as ms
from .filters import RecordTimeFilter
from .idempotency import idempotent
from .parsers import CheckedJSONParser
from .renderers import DataclassJSONRenderer


class FileMultiPartParser(MultiPartParser):
    """Multipart whose file is refused at CELLTRACE_MAX_FILE_BYTES while it arrives, and whose
    body is refused unread when its Content-Length is already larger than a file may be."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        request = (parser_context or {})["request"]
        multipart_limit_check(request.META.get("CONTENT_LENGTH"))
        request.upload_handlers.insert(0, FileSizeLimitHandler(request))
        return super().parse(stream, media_type, parser_context)


_PARSERS = [CheckedJSONParser, FileMultiPartParser, FormParser]


class MeasurementFilter(filters.FilterSet):
    item = filters.CharFilter(field_name="item__code")
    parameter = filters.CharFilter(field_name="parameter__code")
    step = filters.CharFilter(field_name="parameter__step_id")
    station = filters.CharFilter(field_name="station__code")
    since = RecordTimeFilter(field_name="measured_at", lookup_expr="gte")
    out_of_range = filters.BooleanFilter()
    out_of_limits = filters.BooleanFilter()

    class Meta:
        model = Measurement
        fields = ["source", "room"]


def _input(data: dict[str, Any]) -> MeasurementInput:
    fields = {k: v for k, v in data.items() if k != "file" and v not in (None, "")}
    return MeasurementInput(**fields)


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise InvalidInput(f"{name} is true or false.", field=name)
    return raw == "true"


class MeasurementListView(generics.ListAPIView[Measurement]):
    serializer_class = ms.MeasurementSerializer
    renderer_classes = [DataclassJSONRenderer]  # roll maps run to thousands of values
    filterset_class = MeasurementFilter
    parser_classes = _PARSERS

    def get_queryset(self) -> QuerySet[Measurement]:
        return measurement_queryset(history=_flag(self.request, "history"))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "upstream", bool, description="With item=: also the roll map, every value upstream, position-mapped."
            ),
            OpenApiParameter("history", bool, description="Also superseded versions."),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if _flag(request, "upstream"):
            code = request.query_params.get("item")
            if not code:
                raise InvalidInput("upstream=true needs item=.", field="item")
            item = item_get(code)
            parameter, step = request.query_params.get("parameter"), request.query_params.get("step")
            if connection.vendor == "postgresql":  # the body's text from PostgreSQL, not re-parsed
                results = orjson.Fragment(upstream_listing_json(item=item, parameter=parameter, step=step))
                return Response({"item": code, "results": results})
            rows = upstream_listing(item=item, parameter=parameter, step=step)
            return Response({"item": code, "results": ms.upstream_listing_data(rows)})
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ms.MeasurementInputSerializer, responses={201: ms.MeasurementSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        v = s.validated(ms.MeasurementInputSerializer, request)
        recorded = file_measurement_record(actor=request.user, data=_input(v), file=v.get("file"))
        body = ms.MeasurementSerializer(measurement_queryset().get(pk=recorded.measurement.pk)).data
        if recorded.assignment is not None:
            body["assigned"] = {
                "by": "station_time",
                "operation": recorded.assignment.operation.pk,
                "item": s.ItemSerializer(item_get(recorded.assignment.item.code)).data,
                "position_from": recorded.assignment.how,
            }
        return Response(body, status=status.HTTP_201_CREATED)


class MeasurementDetailView(generics.RetrieveAPIView[Measurement]):
    serializer_class = ms.MeasurementSerializer

    def get_queryset(self) -> QuerySet[Measurement]:
        return measurement_queryset(history=True)


class MeasurementFileView(generics.GenericAPIView[Measurement]):
    """A file measurement's file, as an attachment (never shown inline from this domain)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        measurement = measurement_queryset(history=True).filter(pk=pk).exclude(file="").first()
        if measurement is None:
            raise NotFound(f"No file for measurement {pk}.")
        return attachment_response(measurement.file, sha256=measurement.file_sha256)


class MeasurementCorrectView(generics.GenericAPIView[Measurement]):
    parser_classes = _PARSERS
    serializer_class = ms.CorrectionInputSerializer

    @extend_schema(request=ms.CorrectionInputSerializer, responses={201: ms.MeasurementSerializer})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        v = s.validated(ms.CorrectionInputSerializer, request)
        reason = v.pop("reason")
        file = v.pop("file", None)
        fields = {k: val for k, val in v.items() if val not in (None, "")}
        recorded = file_measurement_correct(
            actor=request.user,
            measurement_id=pk,
            reason=reason,
            data=MeasurementInput(parameter="", **fields),
            file=file,
        )
        body = ms.MeasurementSerializer(measurement_queryset().get(pk=recorded.measurement.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)


class CompletenessView(generics.GenericAPIView[Measurement]):
    @extend_schema(
        parameters=[OpenApiParameter("model", str, enum=list(ModelType.values), description="Model type.")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, identifier: str) -> Response:
        model = request.query_params.get("model", ModelType.ML)
        if model not in ModelType.values:
            raise InvalidInput(f"model is one of {', '.join(ModelType.values)}.", field="model")
        result = item_completeness(item=item_get(identifier), model=model)

        def row(parameter: Parameter) -> dict[str, Any]:
            return {
                "code": parameter.code,
                "name": parameter.name,
                "step": parameter.step_id,
                "category": parameter.category,
                "unit": parameter.unit,
            }

        return Response(
            {
                "item": result.item,
                "model": result.model,
                "steps": result.steps,
                "required": len(result.present) + len(result.missing),
                "coverage": result.coverage,
                "present": [row(p) | {"count": n} for p, n in result.present],
                "missing": [row(p) for p in result.missing],
            }
        )
