"""POST /api/epcis/capture/: an EPCIS 2.0 document in (application/ld+json or application/json);
201 {"events", "stored", "duplicates"} or 400 with the errors keyed by JSON Pointer, nothing stored.
Engineers and admins capture: a supplier's document registers material, which on the line is an
engineer's decision (operators register what they scan, one item at a time)."""

import math
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ErrorCode, InvalidInput
from core.roles import Role
from interop.epcis_capture import capture
from interop.models import GtinKind
from interop.services import gtin_kind_delete, gtin_kind_set

from .parsers import CheckedJSONParser
from .schema import ErrorSerializer


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


class EPCISParser(CheckedJSONParser):
    """JSON-LD or JSON; NUL, lone surrogates, nesting deeper than the parser allows and numbers
    no float holds (1e400) are refused, each a 400 keyed by the JSON Pointer of where it is."""

    media_type = "application/ld+json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        from .parsers import json_loads, pointer_child

        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return json_loads(text, child=pointer_child, parse_float=_finite, parse_constant=_no_constant)
        except InvalidInput as exc:
            errors = {("" if k == "body" else k): v for k, v in (exc.errors or {}).items()}
            raise InvalidInput(exc.message, code=exc.code, errors=errors) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"Not a JSON document: {exc}") from None


class PlainJSONParser(EPCISParser):
    media_type = "application/json"


class EPCISCaptureView(APIView):
    parser_classes = [EPCISParser, PlainJSONParser]
    write_role = Role.ENGINEER

    @extend_schema(
        request={"application/ld+json": dict, "application/json": dict},
        responses={
            201: inline_serializer(
                "EPCISCaptureResult",
                {
                    "events": serializers.IntegerField(),
                    "stored": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                },  # fmt: skip
            ),
            400: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        document = request.data
        if not isinstance(document, dict):
            raise InvalidInput("An EPCIS document is a JSON object.", code=ErrorCode.INVALID,
                               errors={"": ["An EPCIS document is a JSON object."]})  # fmt: skip
        result = capture(document, actor=request.user)
        body = {"events": result.events, "stored": result.stored, "duplicates": result.duplicates}
        return Response(body, status=status.HTTP_201_CREATED)


class GtinKindSerializer(serializers.ModelSerializer[GtinKind]):
    kind = serializers.CharField(source="kind_id")

    class Meta:
        model = GtinKind
        fields = ["gtin", "kind", "note"]


class GtinKindInput(serializers.Serializer[Any]):
    gtin = serializers.CharField(max_length=14)
    kind = serializers.CharField(max_length=64)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class GtinKindListView(generics.ListAPIView[GtinKind]):
    """GET the GTIN-to-kind table (any role); POST a row, or change a GTIN's kind (engineer)."""

    queryset = GtinKind.objects.order_by("gtin")
    serializer_class = GtinKindSerializer
    pagination_class = None  # one row per supplier product: a short table
    write_role = Role.ENGINEER

    @extend_schema(request=GtinKindInput, responses={201: GtinKindSerializer})
    def post(self, request: Request) -> Response:
        data = GtinKindInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = gtin_kind_set(actor=request.user, **data.validated_data)
        return Response(GtinKindSerializer(row).data, status=status.HTTP_201_CREATED)


class GtinKindDetailView(generics.RetrieveAPIView[GtinKind]):
    queryset = GtinKind.objects.all()
    serializer_class = GtinKindSerializer
    lookup_field = "gtin"
    write_role = Role.ENGINEER

    @extend_schema(responses={204: None})
    def delete(self, request: Request, gtin: str) -> Response:
        gtin_kind_delete(actor=request.user, gtin=gtin)
        return Response(status=status.HTTP_204_NO_CONTENT)
