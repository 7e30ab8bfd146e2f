"""Lab files over HTTP: engineers keep a mapping per instrument layout; operators upload files.

POST /api/imports/ (multipart: `file`, `mapping`, optional `dry_run`) reads the file through its
mapping. A dry run answers 200 with {"rows", "values", "would_store", "errors", "complete"}
whatever the rows hold; an import answers 201 {"id", "stored"} or 400 (bad_rows) with the same
counts and errors, and nothing stored. A file that cannot be read in the mapping's layout is a
400 naming `file` (bad_file, unknown_layout, nul_character) in either mode.
"""

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import InvalidInput
from core.roles import Role
from labfiles.models import ImportMapping, LabImport
from labfiles.services import (
    LabCheck,
    LabFileInvalid,
    lab_file_check,
    lab_file_import,
    mapping_create,
    mapping_delete,
    mapping_get,
    mapping_update,
)

from .errors import error_response
from .fields import TextField
from .idempotency import idempotent
from .schema import ErrorSerializer
from .views_measurements import FileMultiPartParser


class MappingValueSerializer(serializers.Serializer[Any]):
    column = TextField()
    parameter = TextField()
    unit = TextField(allow_blank=True)


class ImportMappingSerializer(serializers.Serializer[ImportMapping]):
    code = TextField()
    format = TextField()
    sheet = TextField(allow_blank=True)
    header_row = serializers.IntegerField()
    delimiter = TextField()
    decimal = TextField()
    item_column = TextField()
    time_column = TextField()
    time_zone = TextField()
    time_format = serializers.SerializerMethodField()
    position_column = serializers.SerializerMethodField()
    source = TextField()  # type: ignore[assignment]  # DRF pops declared fields
    instrument = TextField(allow_blank=True)
    values = MappingValueSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username")

    def get_time_format(self, mapping: ImportMapping) -> str | None:
        return mapping.time_format or None

    def get_position_column(self, mapping: ImportMapping) -> str | None:
        return mapping.position_column or None


class ImportMappingInput(serializers.Serializer[Any]):
    """For the schema: the service (labfiles.mappings) checks every field and names the bad one."""

    code = TextField(max_length=64)
    format = serializers.ChoiceField(choices=["csv", "xlsx"])
    sheet = TextField(required=False, allow_blank=True, allow_null=True)
    header_row = serializers.IntegerField(required=False, min_value=1)
    delimiter = TextField(required=False)
    decimal = TextField(required=False, help_text='"." (default) or ","')
    item_column = TextField()
    time_column = TextField()
    time_zone = TextField()
    time_format = TextField(required=False, allow_null=True, help_text="strptime format of text times; null: ISO 8601")
    position_column = TextField(required=False, allow_null=True, allow_blank=True)
    source = TextField(required=False, help_text="online or offline (default)")  # type: ignore[assignment]
    instrument = TextField(required=False, allow_blank=True)
    values = MappingValueSerializer(many=True)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise InvalidInput("The body is a JSON object of the mapping's fields.", field="body")
    return {key: data[key] for key in data}


class MappingListView(generics.ListAPIView[ImportMapping]):
    queryset = ImportMapping.objects.select_related("created_by").order_by("code")
    serializer_class = ImportMappingSerializer
    pagination_class = None  # one mapping per instrument layout: a short list
    write_role = Role.ENGINEER

    @extend_schema(request=ImportMappingInput, responses={201: ImportMappingSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        mapping = mapping_create(actor=request.user, data=_body(request))
        return Response(ImportMappingSerializer(mapping).data, status=status.HTTP_201_CREATED)


class MappingDetailView(generics.RetrieveAPIView[ImportMapping]):
    queryset = ImportMapping.objects.select_related("created_by")
    serializer_class = ImportMappingSerializer
    lookup_field = "code"
    write_role = Role.ENGINEER

    @extend_schema(request=ImportMappingInput(partial=True), responses=ImportMappingSerializer)
    @idempotent
    def patch(self, request: Request, code: str) -> Response:
        mapping = mapping_update(actor=request.user, code=code, data=_body(request))
        return Response(ImportMappingSerializer(mapping).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, code: str) -> Response:
        mapping_delete(actor=request.user, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)


_ERROR = inline_serializer(
    "LabFileError",
    {
        "row": serializers.IntegerField(allow_null=True),
        "column": TextField(allow_null=True),
        "message": TextField(),
        "code": TextField(),
    },
)
_CHECK: dict[str, Any] = {
    "rows": serializers.IntegerField(),
    "values": serializers.IntegerField(),
    "would_store": serializers.IntegerField(),
    "errors": serializers.ListField(child=_ERROR),
    "complete": serializers.BooleanField(),
}


# An import refused for its rows: the error's detail and code, then the dry run's answer.
_REFUSED: dict[str, Any] = {"detail": TextField(), "code": TextField()} | _CHECK


def check_data(check: LabCheck) -> dict[str, Any]:
    return {
        "rows": check.rows,
        "values": check.values,
        "would_store": check.would_store,
        "errors": [error.as_dict() for error in check.errors],
        "complete": check.complete,
    }


class LabImportSerializer(serializers.Serializer[LabImport]):
    id = serializers.IntegerField()
    mapping = TextField(source="mapping.code")
    file_name = TextField()
    file_sha256 = TextField()
    size = serializers.IntegerField()
    rows = serializers.IntegerField()
    stored = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username")


def _dry_run(request: Request) -> bool:
    raw = str(request.data.get("dry_run") or request.query_params.get("dry_run") or "false").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidInput("dry_run is true or false.", field="dry_run")
    return raw in ("true", "1")


class LabImportView(generics.ListAPIView[LabImport]):
    """GET: the imports, newest first. POST: check or import one file."""

    queryset = LabImport.objects.select_related("mapping", "created_by").order_by("-pk")
    serializer_class = LabImportSerializer
    parser_classes = [FileMultiPartParser, FormParser]
    write_role = Role.OPERATOR

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "LabFileUpload",
                {
                    "file": serializers.FileField(),
                    "mapping": TextField(),
                    "dry_run": serializers.BooleanField(required=False),
                },
            )
        },
        responses={
            200: inline_serializer("LabFileCheck", _CHECK),
            201: inline_serializer(
                "LabFileImported", {"id": serializers.IntegerField(), "stored": serializers.IntegerField()}
            ),
            400: PolymorphicProxySerializer(
                component_name="LabFileRefused",
                serializers=[ErrorSerializer, inline_serializer("LabFileBadRows", _REFUSED)],
                resource_type_field_name=None,
            ),
        },
    )
    def post(self, request: Request) -> Response:
        mapping = mapping_get(request.data.get("mapping"))
        upload = request.data.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("Send the lab file as the multipart field `file`.", field="file")
        dry_run = _dry_run(request)
        data = upload.read()
        if dry_run:
            return Response(check_data(lab_file_check(actor=request.user, mapping=mapping, data=data)))
        try:
            record = lab_file_import(actor=request.user, mapping=mapping, name=upload.name or "", data=data)
        except LabFileInvalid as exc:
            response = error_response(status.HTTP_400_BAD_REQUEST, exc.message, exc.code)
            response.data |= check_data(exc.check)
            return response
        return Response({"id": record.pk, "stored": record.stored}, status=status.HTTP_201_CREATED)
