"""GS1 EPCIS 2.0 over HTTP: the line's history as an EPCISQueryDocument (REST binding query)."""

from typing import Any
from urllib.parse import urlencode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interop.epcis_export import events_page
from interop.epcis_query import PER_PAGE_DEFAULT, PER_PAGE_MAX, events_query_parse, page_token

from .schema import ErrorSerializer


class JSONLDRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


def _text(name: str, help_text: str, **extra: Any) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=help_text, **extra)


EVENT_QUERY_PARAMETERS = [
    _text("item", "only the events that name this item (code, Digital Link or EPC)"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="recordTime at or after"),
    OpenApiParameter("GE_eventTime", OpenApiTypes.DATETIME, description="eventTime at or after"),
    OpenApiParameter("LT_eventTime", OpenApiTypes.DATETIME, description="eventTime before"),
    _text("EQ_bizStep", "CBV bizSteps, comma-separated or repeated (bare or as CBV URIs)"),
    _text("MATCH_anyEPC", "events naming any of these items (Digital Link, EPC URN or code)"),
    _text("eventType", "ObjectEvent, TransformationEvent, ... comma-separated or repeated"),
    OpenApiParameter(
        "perPage", OpenApiTypes.INT, description=f"events per page, default {PER_PAGE_DEFAULT}, at most {PER_PAGE_MAX}"
    ),
    _text("nextPageToken", "the page after the one whose Link header gave it"),
]


class EPCISEventsView(APIView):
    """The line's history as GS1 EPCIS 2.0 events in recordTime order, a page at a time; the next
    page is in the `Link: <...>; rel="next"` header, absent on the last page."""

    renderer_classes = [JSONLDRenderer, JSONRenderer]

    @extend_schema(
        parameters=EVENT_QUERY_PARAMETERS,
        responses={
            (200, "application/ld+json"): OpenApiResponse(OpenApiTypes.OBJECT, description="an EPCISQueryDocument"),
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="the same document, for `Accept: application/json` or `?format=json`"
            ),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        params = {key: request.query_params.getlist(key) for key in request.query_params}
        page = events_page(events_query_parse(params), base_url=request.build_absolute_uri("/").rstrip("/"))
        response = Response(page.document)
        if page.next_key is not None:
            following = {key: values for key, values in params.items() if key != "nextPageToken"}
            following["nextPageToken"] = [page_token(page.next_key)]
            url = request.build_absolute_uri(request.path) + "?" + urlencode(following, doseq=True)
            response["Link"] = f'<{url}>; rel="next"'
        return response
