"""Dataset exports over HTTP: engineers start them, Celery builds them, their owners download them."""

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.roles import Role
from datasets.dictionary import dictionary_csv, dictionary_json
from datasets.export_rules import exports_visible
from datasets.models import Export, ExportStatus, export_storage
from datasets.services import CONTENT_TYPES, DOWNLOAD_TABLES, export_expired, export_request
from interop.bdf import bdf_metadata, bdf_write, native_read
from measurements.models import ModelType

from .errors import error_response
from .fields import TextField
from .idempotency import idempotent
from .schema import ErrorSerializer
from .serializers import validated


class ExportInput(serializers.Serializer[Any]):
    granularity = serializers.JSONField(required=False, default=lambda: "cell")  # type: ignore[arg-type,return-value]
    format = serializers.JSONField(required=False, default=lambda: "parquet")  # type: ignore[arg-type,return-value]
    layout = serializers.JSONField(required=False, default=lambda: "wide")  # type: ignore[arg-type,return-value]
    filters = serializers.JSONField(required=False, default=None)
    parameters = serializers.JSONField(required=False, default=None)
    criticality = serializers.JSONField(required=False, default=None)
    split = serializers.JSONField(required=False, default=None)
    aggregations = serializers.JSONField(
        required=False,
        default=None,
        help_text="of the parameters with several values per row: some of mean, min, max, std, n (default all)",
    )


class ExportSerializer(serializers.ModelSerializer[Export]):
    created_by = TextField(source="created_by.username", read_only=True)
    tables = serializers.SerializerMethodField(
        help_text="cycling tables of a cell export: rows, columns, sha256 and file_sha256 (both the file's)"
    )
    dictionary_url = serializers.SerializerMethodField(help_text="the export's data dictionary, one row per column")

    def get_tables(self, export: Export) -> dict[str, dict[str, Any]]:
        return {
            name: {key: table[key] for key in ("rows", "columns", "sha256")} | {"file_sha256": table["sha256"]}
            for name, table in (export.tables or {}).items()
        }

    def get_dictionary_url(self, export: Export) -> str:
        path = reverse("export-dictionary", args=[export.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    class Meta:
        model = Export
        fields = [
            "id",
            "status",
            "progress",
            "rows",
            "columns",
            "error",
            "warnings",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "granularity",
            "format",
            "layout",
            "filters",
            "parameters",
            "criticality",
            "split",
            "aggregations",
            "content_sha256",
            "file_sha256",
            "catalog_version",
            "tables",
            "dictionary_url",
        ]
        read_only_fields = fields


class DictionaryEntrySerializer(serializers.Serializer[Any]):
    """One column of an export's data dictionary (datasets.dictionary.FIELDS), for the schema."""

    name = TextField()
    type = TextField()
    source = TextField()  # type: ignore[assignment]  # a field, as `errors` in api.schema
    role = TextField()
    parameter = TextField(allow_null=True)
    parameter_name = TextField(allow_null=True)
    step = TextField(allow_null=True)
    polarity = TextField(allow_null=True)
    category = TextField(allow_null=True)
    unit = TextField(allow_null=True)
    aggregation = TextField(allow_null=True)
    coverage = serializers.IntegerField()
    description = TextField(allow_blank=True)


for _model in ModelType.values:
    DictionaryEntrySerializer._declared_fields[f"criticality_{_model}"] = TextField(allow_null=True)


class IgnoreFormatParameter(DefaultContentNegotiation):
    """`?format=csv` chooses the dictionary's format here, not a DRF renderer."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _export(request: Request, pk: int) -> Export:
    export = exports_visible(request.user).filter(pk=pk).first()
    if export is None:  # another user's export is not found, not forbidden: ids are guessable
        raise NotFound(f"No export {pk}.", field="id")
    return export


class ExportListView(generics.ListAPIView[Export]):
    """Your exports, newest first (admins see everyone's); POST starts one (engineers)."""

    serializer_class = ExportSerializer
    write_role = Role.ENGINEER

    def get_queryset(self) -> QuerySet[Export]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Export.objects.none()
        return exports_visible(self.request.user)

    @extend_schema(request=ExportInput, responses={202: ExportSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        export = export_request(actor=request.user, **validated(ExportInput, request))  # type: ignore[arg-type]
        export.refresh_from_db()  # eager Celery may have finished it already
        return Response(ExportSerializer(export, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(responses=ExportSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ExportSerializer(_export(request, pk), context={"request": request}).data)


def _downloadable(export: Export) -> None:
    if export.status != ExportStatus.DONE:
        raise Conflict(f"Export {export.pk} is {export.status}, not done.", code=ErrorCode.EXPORT_NOT_DONE)


def _gone(export: Export) -> Response:
    return error_response(
        status.HTTP_410_GONE,
        f"Export {export.pk} expired at {export.expires_at:%Y-%m-%dT%H:%M:%SZ}.",
        ErrorCode.EXPIRED,
    )


BDF_FORMATS = ("bdf", "bdf-metadata")


def _bdf_response(export: Export, stored: dict[str, Any], fmt: str) -> HttpResponse | FileResponse:
    """The cycling table as Battery Data Format Parquet, or the JSON-LD sidecar describing it
    (with the sha256 of the very file `format=bdf` sends: the same table writes the same bytes)."""
    with export_storage().open(stored["file"], "rb") as handle:
        native = native_read(handle, export.format)
    name = f"celltrace-cycling-{export.pk}.bdf.parquet"
    descriptor, path = tempfile.mkstemp(suffix=".bdf.parquet")
    os.close(descriptor)
    try:
        sha256 = bdf_write(native, Path(path))
        if fmt == "bdf-metadata":
            body = orjson.dumps(bdf_metadata(native=native, name=name, sha256=sha256))
            return HttpResponse(body, content_type="application/ld+json")
        stream = open(path, "rb")  # noqa: SIM115  (FileResponse closes it)
    finally:
        os.unlink(path)  # the open stream keeps the data until it is closed
    response = FileResponse(stream, as_attachment=True, filename=name, content_type="application/vnd.apache.parquet")
    response["X-Content-SHA256"] = sha256
    return response


class ExportDownloadView(APIView):
    read_conflicts = True  # 409 export_not_done until the export is done (api.schema)
    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "table",
                str,
                enum=list(DOWNLOAD_TABLES),
                description="cells (default): the dataset; cycling: the cells' cycler data (Battery Data "
                "Format); cycles: one row per cycle. The last two only for granularity cell.",
            ),
            OpenApiParameter(
                "format",
                str,
                enum=list(BDF_FORMATS),
                description="With table=cycling: bdf, the table as Battery Data Format Parquet (BDF column "
                "labels, IRIs and units in the Parquet schema); bdf-metadata, its JSON-LD sidecar.",
            ),
        ],
        # The export's own format: Parquet, CSV or JSON lines; 410 once it has expired.
        responses={
            **{(200, media_type): OpenApiTypes.BINARY for media_type in CONTENT_TYPES.values()},
            (200, "application/ld+json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="format=bdf-metadata: the BDF file's JSON-LD sidecar"
            ),
            410: OpenApiResponse(ErrorSerializer, description="The export has expired."),
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse | FileResponse | Response:
        export = _export(request, pk)
        table = request.query_params.get("table", "cells")
        if table not in DOWNLOAD_TABLES:
            raise InvalidInput(f"Unknown table {table!r}: one of {', '.join(DOWNLOAD_TABLES)}.", field="table")
        fmt = request.query_params.get("format")  # present but blank is a bad value, not "no format"
        if fmt is not None and (fmt not in BDF_FORMATS or table != "cycling"):
            raise InvalidInput("format is bdf or bdf-metadata, and only with table=cycling.", field="format")
        _downloadable(export)
        if export_expired(export) or not export.file:
            return _gone(export)
        extension = export.file.name.rsplit(".", 1)[-1]
        if table == "cells":
            stream, sha256 = export.file.open("rb"), export.file_sha256
            name = f"celltrace-{export.granularity}-{export.pk}.{extension}"
        else:
            stored = (export.tables or {}).get(table)
            if stored is None:
                raise NotFound(
                    f"Export {export.pk} has no {table} table: only cell exports have cycling tables.", field="table"
                )
            if fmt:
                return _bdf_response(export, stored, fmt)
            stream, sha256 = export_storage().open(stored["file"], "rb"), stored["sha256"]
            name = f"celltrace-{table}-{export.pk}.{extension}"
        response = FileResponse(stream, as_attachment=True, filename=name, content_type=CONTENT_TYPES[export.format])
        response["X-Content-SHA256"] = sha256  # of the file (file_sha256), to check the download
        return response


class ExportDictionaryView(APIView):
    read_conflicts = True  # 409 export_not_done until the export is done (api.schema)
    content_negotiation_class = IgnoreFormatParameter

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], description="json (default) or csv")],
        responses={
            (200, "application/json"): DictionaryEntrySerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        export = _export(request, pk)
        _downloadable(export)
        entries = export.dictionary or []
        fmt = request.query_params.get("format", "json")
        if fmt == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="celltrace-export-{export.pk}-dictionary.csv"'
            dictionary_csv(entries, response)  # type: ignore[arg-type]
            return response
        if fmt != "json":
            raise InvalidInput("format is json or csv.", field="format")
        return HttpResponse(dictionary_json(entries), content_type="application/json")
