"""POST /api/measurements/bulk/: many measurements at once, as a JSON array or as CSV.

CSV (`text/csv`, UTF-8, a header row with the field names of one measurement) is streamed:
the body is read from the request in 1 MiB pieces through csv.reader and handed (as lists of cells, with the header) to
measurements.ingest.measurements_ingest, which writes as it validates, so memory does not grow
with the upload. Its size limit is settings.CELLTRACE_MAX_BULK_BYTES (api.middleware exempts
this path from DATA_UPLOAD_MAX_MEMORY_SIZE). The header is checked before any row is read:
parameter, value and measured_at are required columns, and one of item, station or room.

JSON (`application/json`): an array of objects. It is parsed whole (json.loads), so it is
limited to CELLTRACE_MAX_BULK_JSON_BYTES (default 100 MiB); send CSV for bigger uploads. NaN and
Infinity literals are parsed so that the bad row is named rather than the whole body refused.

All or nothing: 201 {"created": N, "out_of_range": K, "out_of_limits": L, "holds": H}, or 400
with {"detail", "code", "errors":
{"rows[<0-based index>].<field>": [message]}, "rows": [{"row": <1-based data row; the CSV header
is row 0>, "field", "message", "code"}, ...]} for up to 100 bad rows, and nothing stored.

Idempotency-Key is honoured without holding the body: the body is hashed while it streams; the
key is stored in the ingest's transaction; a repeated key is answered after hashing the new body
(replay when it matches, 409 when not). The stock @idempotent decorator is not used because it
fingerprints `request.data`, which would read the whole body into memory.
"""

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ErrorCode, InvalidInput
from core.idempotency import MAX_KEY_LENGTH
from core.roles import Role
from core.text import has_nul
from measurements.ingest import measurements_ingest
from measurements.ingest_rows import FIELDS, REQUIRED, SUBJECTS, BulkInvalid, RowError

from .errors import error_response
from .fields import TextField
from .idempotency import HEADER, key_too_long, write_once
from .parsers import CheckedJSONParser, json_loads

READ_BYTES = 1024 * 1024
CSV_TYPES = ("text/csv", "application/csv")


class _CsvParser(BaseParser):
    """Declares text/csv (for content negotiation and the schema); the view reads the stream."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raise exceptions.ParseError("Read by the view.")  # pragma: no cover


class _Body(io.RawIOBase):
    """The request body as a raw binary stream, hashed as it is read when `digest` is given."""

    def __init__(self, request: Request, digest: Any = None) -> None:
        super().__init__()
        # Django's HttpRequest, not DRF's request.stream: that is None for a chunked body.
        self._stream = request._request
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if self._digest is not None:
            self._digest.update(data)
        return n

    def drain(self) -> None:
        """Read (and hash) what is left."""
        buffer = bytearray(READ_BYTES)
        while self.readinto(buffer):
            pass

    def read_all(self, limit: int) -> bytes:
        return io.BufferedReader(self, READ_BYTES).read(limit + 1)


def _csv_rows(body: _Body, charset: str | None) -> tuple[list[str], Iterator[list[str] | dict[Any, Any] | None]]:
    """The checked header, and the rows: lists of cell text in the header's order (None for a
    blank line, a {None: message} dict for a row of another width)."""
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        raise InvalidInput(f"Unknown charset {charset!r}.", field="Content-Type") from None
    text = io.TextIOWrapper(io.BufferedReader(body, READ_BYTES), encoding=charset or "utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    except StopIteration:
        raise InvalidInput("The CSV is empty; its first row names the columns.", field="body") from None
    except (csv.Error, UnicodeError) as exc:
        raise InvalidInput(
            f"The CSV header cannot be read as {charset or 'utf-8'}: {exc}.", field="body", code=ErrorCode.MALFORMED
        ) from None
    for name in REQUIRED:
        if name not in header:
            raise InvalidInput(f"The CSV has no {name!r} column.", field=name)
    if not any(name in header for name in SUBJECTS):
        raise InvalidInput("The CSV needs an item, station or room column.", field="item")
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise InvalidInput(f"Unknown column {unknown[0]!r}; the columns are {', '.join(FIELDS)}.", field=unknown[0])
    duplicated = [name for name in header if header.count(name) > 1]
    if duplicated:
        raise InvalidInput(f"The column {duplicated[0]!r} appears twice.", field=duplicated[0])
    return header, _csv_data(reader, header)


def _csv_data(reader: Any, header: list[str]) -> Iterator[list[str] | dict[Any, Any] | None]:
    width = len(header)
    number = 0
    try:
        for values in reader:
            number += 1
            if len(values) == width:
                if "\x00" in "".join(values):  # one scan of the row (core.text.has_nul), its cell named below
                    raise _nul(number, dict(zip(header, values, strict=True)))
                yield values
            elif not values:
                yield None  # a blank line: skipped, but counted
            else:
                yield {None: f"The row has {len(values)} fields; the header has {width}."}
    except (csv.Error, UnicodeError) as exc:
        # Text is decoded ahead of the parser: an encoding error is reported at the row being read.
        where = "at or after row" if isinstance(exc, UnicodeError) else "row"
        raise InvalidInput(
            f"The CSV cannot be read {where} {number + 1}: {exc}. Nothing was stored.",
            field=f"rows[{number}]",
            code=ErrorCode.MALFORMED,
        ) from None


def _nul(number: int, row: dict[str, str]) -> BulkInvalid:
    """PostgreSQL text cannot hold NUL: the row and field are named instead of a database error."""
    field = next(name for name, value in row.items() if has_nul(value))
    error = RowError(number, field, "contains a NUL character (0x00).", ErrorCode.NUL_CHARACTER)
    return BulkInvalid([error], complete=False)


def _json_rows(request: Request, body: _Body) -> list[Any]:
    limit = settings.CELLTRACE_MAX_BULK_JSON_BYTES
    data = body.read_all(limit)
    if len(data) > limit:
        raise _TooLarge(f"A JSON bulk body is at most {limit} bytes; send text/csv, which is streamed.")
    try:
        rows = json_loads(data, prefix="rows")  # NaN and Infinity parsed: the row that has them is named
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The body is not JSON: {exc}.", field="body", code=ErrorCode.MALFORMED) from None
    if not isinstance(rows, list):
        raise InvalidInput("The body is a JSON array of measurements.", field="body")
    return rows


class _TooLarge(Exception):
    pass


_ROWS = inline_serializer(
    "MeasurementBulkRow",
    {
        "parameter": TextField(),
        "value": serializers.FloatField(),
        "unit": TextField(required=False),
        "item": TextField(required=False),
        "station": TextField(required=False),
        "room": TextField(required=False),
        "position_m": serializers.FloatField(required=False),
        "measured_at": serializers.DateTimeField(),
        "source": serializers.ChoiceField(choices=["online", "offline"], required=False),
        "instrument": TextField(required=False),
        "method": TextField(required=False),
        "uncertainty": serializers.FloatField(required=False),
    },
    many=True,
)


class MeasurementBulkView(APIView):
    write_role = Role.OPERATOR
    parser_classes = [CheckedJSONParser, _CsvParser]
    request_body_required = True  # rows or a CSV: a request without either is a 415 (api.schema)

    @extend_schema(
        request={"application/json": _ROWS, "text/csv": OpenApiTypes.STR},
        responses={
            201: inline_serializer(
                "MeasurementBulkCreated",
                {
                    "created": serializers.IntegerField(),
                    "out_of_range": serializers.IntegerField(),
                    "out_of_limits": serializers.IntegerField(),
                    "holds": serializers.IntegerField(),
                },
            )
        },
        examples=[
            OpenApiExample(
                "CSV",
                value="parameter,value,unit,item,position_m,measured_at,source\n"
                "mass_loading,214,g/m**2,CR-0003,104.2,2026-03-02T08:00:00+01:00,online\n",
                media_type="text/csv",
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        try:
            return self._post(request)
        except BulkInvalid as exc:
            response = error_response(status.HTTP_400_BAD_REQUEST, exc.message, exc.code, exc.errors)
            response.data["rows"] = exc.rows
            return response
        except _TooLarge as exc:
            return error_response(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, str(exc), ErrorCode.BODY_TOO_LARGE)

    def _post(self, request: Request) -> Response:
        media = (request.content_type or "").split(";")[0].strip().lower()
        if media not in CSV_TYPES and media != "application/json":
            raise exceptions.UnsupportedMediaType(media or "(none)", "Send text/csv or application/json.")
        key = request.headers.get(HEADER)
        if not key:
            return self._ingest(request, _Body(request), media)
        if len(key) > MAX_KEY_LENGTH:
            return key_too_long()
        digest = hashlib.sha256()
        body = _Body(request, digest)

        def fingerprint() -> str:
            body.drain()  # the hash covers the whole body, read or not
            return self._fingerprint(request, digest)

        return write_once(request, key, lambda: self._ingest(request, body, media), fingerprint)

    @staticmethod
    def _fingerprint(request: Request, digest: Any) -> str:
        return hashlib.sha256(f"{request.method} {request.path} {digest.hexdigest()}".encode()).hexdigest()

    @staticmethod
    def _ingest(request: Request, body: _Body, media: str) -> Response:
        header: list[str] | None = None
        rows: Any
        if media in CSV_TYPES:
            header, rows = _csv_rows(body, (request._request.content_params or {}).get("charset"))
        else:
            rows = _json_rows(request, body)
        result = measurements_ingest(actor=request.user, rows=rows, header=header)
        created = {
            "created": result.count,
            "out_of_range": result.out_of_range,
            "out_of_limits": result.out_of_limits,
            "holds": result.holds,
        }
        return Response(created, status=status.HTTP_201_CREATED)
