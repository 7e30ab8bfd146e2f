"""Thin views: validate with an input serializer, call one service or selector, render."""

from typing import Any

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.roles import Role
from core.routing import replica_safe
from interop.jsonld import item_jsonld
from lots.labels import label_pdf, label_png
from lots.models import Item, ItemKind, ItemStatus, ItemStatusChange
from lots.selectors import item_get, item_queryset, item_status_changes
from lots.services import item_register
from traceability.holds import hold_items, hold_place, hold_release
from traceability.models import Hold, Operation, Scrap, Station, Step
from traceability.models import OperationInput as OperationInputRow
from traceability.runs import operation_finish
from traceability.scanning import item_scan, scan_station
from traceability.scrapping import item_scrap
from traceability.selectors_graph import lineage_json
from traceability.services import (
    InputSpec,
    OutputSpec,
    ScrapSpec,
    StretchSpec,
    operation_record,
    station_create,
    station_get,
)

from . import serializers as s
from .fields import TextField
from .filters import RecordTimeFilter, genealogy_query
from .idempotency import idempotent
from .renderers import DataclassJSONRenderer, JSONLDRenderer
from .schema import ErrorSerializer


def _station_or_none(code: str | None) -> Station | None:
    return station_get(code) if code else None


class HealthView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(responses=inline_serializer("Health", {"status": TextField(), "database": TextField()}))
    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "database": connection.vendor})


class KindListView(generics.ListAPIView[ItemKind]):
    queryset = ItemKind.objects.all()
    serializer_class = s.KindSerializer
    pagination_class = None


class StepListView(generics.ListAPIView[Step]):
    queryset = Step.objects.all()
    serializer_class = s.StepSerializer
    pagination_class = None


class StationListView(generics.ListAPIView[Station]):
    queryset = Station.objects.prefetch_related("steps")
    serializer_class = s.StationSerializer
    pagination_class = None
    write_role = Role.ENGINEER

    @extend_schema(request=s.StationInput, responses={201: s.StationSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        station = station_create(actor=request.user, **s.validated(s.StationInput, request))
        return Response(s.StationSerializer(station).data, status=status.HTTP_201_CREATED)


# --- Items ------------------------------------------------------------------------------------


class ItemFilter(filters.FilterSet):
    kind = filters.CharFilter(field_name="kind_id")
    status = filters.ChoiceFilter(choices=ItemStatus.choices)
    created_after = RecordTimeFilter(field_name="created_at", lookup_expr="gte")
    q = filters.CharFilter(method="search")

    class Meta:
        model = Item
        fields = ["kind", "status", "polarity"]

    def search(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        return queryset.filter(code__icontains=value) | queryset.filter(supplier_lot__icontains=value)


class ItemListView(generics.ListAPIView[Item]):
    queryset = item_queryset()
    serializer_class = s.ItemSerializer
    filterset_class = ItemFilter

    @extend_schema(request=s.ItemRegisterInput, responses={201: s.ItemSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        fields = s.validated(s.ItemRegisterInput, request)
        fields["station"] = _station_or_none(fields.pop("station", None))
        item = item_register(actor=request.user, **fields)
        return Response(s.ItemSerializer(item).data, status=status.HTTP_201_CREATED)


class ItemDetailView(APIView):
    # JSON first, so that a request naming no type gets the JSON it always got.
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, JSONLDRenderer]  # type: ignore[list-item]

    @extend_schema(
        responses={
            (200, "application/json"): s.ItemSerializer,
            (200, "application/ld+json"): OpenApiTypes.OBJECT,
        }
    )
    def get(self, request: Request, identifier: str) -> Response:
        item = item_get(identifier)
        if request.accepted_renderer.format == "jsonld":
            return Response(item_jsonld(item))
        return Response(s.ItemSerializer(item).data)


class ItemStatusChangeListView(generics.ListAPIView[ItemStatusChange]):
    """An item's status changes, newest first: what changed it, when, who and why."""

    serializer_class = s.StatusChangeSerializer

    def get_queryset(self) -> QuerySet[ItemStatusChange]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator names no item
            return ItemStatusChange.objects.none()
        return item_status_changes(item_get(self.kwargs["identifier"], lean=True))


class ItemLabelView(APIView):
    formats = {"png": ("image/png", label_png), "pdf": ("application/pdf", label_pdf)}

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY, (200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, identifier: str, fmt: str) -> HttpResponse:
        if fmt not in self.formats:
            raise NotFound(f"No label format {fmt!r}; use png or pdf.")
        item = item_get(identifier)
        content_type, render = self.formats[fmt]
        link = s.ItemSerializer().get_digital_link(item)
        body = render(digital_link=link, code=item.code, caption=item.kind.name)
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'inline; filename="{item.code}.{fmt}"'
        return response


class ItemScrapView(APIView):
    @extend_schema(request=s.ScrapItemInput, responses=s.ItemSerializer)
    @idempotent
    def post(self, request: Request, identifier: str) -> Response:
        v = s.validated(s.ScrapItemInput, request)
        station = _station_or_none(v.get("station"))
        item = item_scrap(
            actor=request.user,
            code=item_get(identifier).code,
            reason=v["reason"],
            station=station,
        )
        return Response(s.ItemSerializer(item_get(item.code)).data)


class GenealogyView(APIView):
    direction = "upstream"
    # A track of a lot can hold 100,000 nodes and edges: orjson writes the dataclasses directly.
    renderer_classes = [DataclassJSONRenderer]

    @extend_schema(
        responses=s.GenealogySerializer,
        parameters=[
            OpenApiParameter("depth", int, description="Levels to walk; all when absent."),
            OpenApiParameter("kind", str, description="Comma-separated kinds of nodes to return."),
            OpenApiParameter("edges", bool, description="false: nodes only (which cells hold this lot)."),
        ],
    )
    # The item and its genealogy from one server: the replica when there is one.
    @replica_safe
    def get(self, request: Request, identifier: str) -> HttpResponse:
        query = genealogy_query(request.query_params)
        item = item_get(identifier, lean=True)
        # The body comes out of PostgreSQL as JSON text (issue 14): no row reaches Python.
        body = lineage_json(
            item=item,
            direction=self.direction,  # type: ignore[arg-type]
            depth=query.depth,
            kinds=query.kinds,
            edges=query.edges,
        )
        return HttpResponse(body, content_type="application/json")


# --- Operations -------------------------------------------------------------------------------


def _operation_queryset() -> QuerySet[Operation]:
    return Operation.objects.select_related("station", "created_by").prefetch_related(
        Prefetch("inputs", queryset=OperationInputRow.objects.select_related("item")),
        Prefetch("outputs", queryset=item_queryset().order_by("id")),
        Prefetch("scrap", queryset=Scrap.objects.select_related("item")),
    )


class OperationFilter(filters.FilterSet):
    step = filters.CharFilter(field_name="step_id")
    station = filters.CharFilter(field_name="station__code")
    item = filters.CharFilter(method="involving")
    started_after = RecordTimeFilter(field_name="started_at", lookup_expr="gte")
    open = filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull", label="true: open runs (no ended_at)")

    class Meta:
        model = Operation
        fields = ["step", "station"]

    def involving(self, queryset: QuerySet[Operation], name: str, value: str) -> QuerySet[Operation]:
        # An IN subquery, not a join on outputs: a join repeats an operation once per output.
        return queryset.filter(
            pk__in=Operation.objects.filter(Q(inputs__item__code=value) | Q(outputs__code=value)).values("pk")
        )


def _input_specs(entries: list[dict[str, Any]]) -> list[InputSpec]:
    return [InputSpec(**entry) for entry in entries]


def _output_specs(entries: list[dict[str, Any]]) -> list[OutputSpec]:
    specs = []
    for entry in entries:
        fields = dict(entry)
        made_from = fields.pop("from", None)
        specs.append(
            OutputSpec(**fields, made_from=None if made_from is None else [StretchSpec(**x) for x in made_from])
        )
    return specs


class OperationListView(generics.ListAPIView[Operation]):
    queryset = _operation_queryset()
    serializer_class = s.OperationSerializer
    filterset_class = OperationFilter

    @extend_schema(request=s.OperationInput, responses={201: s.OperationSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        v = s.validated(s.OperationInput, request)
        result = operation_record(
            actor=request.user,
            step=v["step"],
            station=v["station"],
            started_at=v.get("started_at"),
            ended_at=v.get("ended_at"),
            inputs=_input_specs(v.get("inputs", [])),
            outputs=_output_specs(v.get("outputs", [])),
            parameters=v.get("parameters"),
            scrap=[ScrapSpec(**x) for x in v.get("scrap", [])],
        )
        operation = _operation_queryset().get(pk=result.operation.pk)
        return Response(s.OperationSerializer(operation).data, status=status.HTTP_201_CREATED)


class OperationDetailView(generics.RetrieveAPIView[Operation]):
    queryset = _operation_queryset()
    serializer_class = s.OperationSerializer


class OperationFinishView(APIView):
    @extend_schema(
        request=s.FinishInput,
        responses={
            200: s.OperationSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="`ended_at` missing, not an aware time in range, before the start, in the future, "
                "or before a value the station already sent into the run.",
            ),
            404: OpenApiResponse(ErrorSerializer, description="No operation with that id."),
            409: OpenApiResponse(
                ErrorSerializer,
                description="`operation_finished`: the operation has its end already; or an idempotency key "
                "reused with another body.",
            ),
        },
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.FinishInput(data=request.data)
        data.is_valid(raise_exception=True)
        operation_finish(actor=request.user, operation_id=pk, ended_at=data.validated_data["ended_at"])
        return Response(s.OperationSerializer(_operation_queryset().get(pk=pk)).data)


# --- Holds ------------------------------------------------------------------------------------


class HoldListView(generics.ListAPIView[Hold]):
    queryset = Hold.objects.select_related("item", "station", "created_by", "released_by")
    serializer_class = s.HoldSerializer
    write_role = Role.ENGINEER

    @extend_schema(request=s.HoldInput, responses={201: s.HoldResultSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        v = s.validated(s.HoldInput, request)
        item = None
        if v.get("item"):
            try:
                item = item_get(v["item"])
            except NotFound:
                raise InvalidInput(f"Unknown item {v['item']!r}.", field="item", code=ErrorCode.UNKNOWN_ITEM) from None
        result = hold_place(
            actor=request.user,
            reason=v["reason"],
            item=item,
            station=v.get("station"),
            window_from=v.get("from"),
            window_to=v.get("to"),
            from_m=v.get("from_m"),
            to_m=v.get("to_m"),
            downstream=v["downstream"],
        )
        body = s.HoldSerializer(result.hold).data | {"items_on_hold": len(result.items), "items": result.items}
        return Response(body, status=status.HTTP_201_CREATED)


class HoldDetailView(APIView):
    @extend_schema(responses=s.HoldResultSerializer)
    def get(self, request: Request, pk: int) -> Response:
        hold = generics.get_object_or_404(HoldListView.queryset, pk=pk)
        caught = hold_items(hold)
        return Response(s.HoldSerializer(hold).data | {"items_on_hold": len(caught), "items": caught})


class HoldReleaseView(APIView):
    write_role = Role.ENGINEER

    @extend_schema(request=s.ReleaseInput, responses=s.HoldResultSerializer)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        v = s.validated(s.ReleaseInput, request)
        result = hold_release(actor=request.user, hold_id=pk, reason=v["reason"])
        hold = HoldListView.queryset.get(pk=result.hold.pk)
        return Response(s.HoldSerializer(hold).data | {"items_on_hold": len(result.items), "items": result.items})


# --- Audit -----------------------------------------------------------------------------------


class AuditListView(generics.ListAPIView[AuditEvent]):
    """The audit trail, read-only: no method of the API writes or deletes it."""

    queryset = AuditEvent.objects.select_related("actor")
    serializer_class = s.AuditEventSerializer
    filterset_fields = ["entity", "entity_id", "action", "station"]
    read_role = Role.ENGINEER


# --- Scanning ---------------------------------------------------------------------------------


class ScanView(APIView):
    @extend_schema(request=s.ScanInput, responses=s.ScanResultSerializer)
    def post(self, request: Request) -> Response:
        v = s.validated(s.ScanInput, request)
        station = scan_station(v["station"]) if v.get("station") else None
        scan = item_scan(code=v["code"], station=station)
        running = None
        if scan.open_operation is not None:
            # Read again with its relations: the run may have been finished in between.
            running = _operation_queryset().filter(pk=scan.open_operation.pk, ended_at__isnull=True).first()
            if running is None:
                raise Conflict(
                    f"Run {scan.open_operation.pk} was finished while the scan was read; scan again.",
                    field="code",
                    code=ErrorCode.OPERATION_FINISHED,
                )
        return Response(
            {
                "item": s.ItemSerializer(scan.item).data,
                "warnings": scan.warnings,
                "next_steps": scan.next_steps,
                "open_operation": s.OperationSerializer(running).data if running else None,
            }
        )
