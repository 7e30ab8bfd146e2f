"""GET /api/items/{code}/passport/: a cell's battery passport (BatteryPass v1.2 attribute names)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.routing import replica_safe
from interop.passport import cell_passport
from lots.selectors import item_get

from .serializers_passport import PassportSerializer


class PassportView(APIView):
    @extend_schema(responses=PassportSerializer, summary="A cell's battery passport")
    @replica_safe
    def get(self, request: Request, identifier: str) -> Response:
        return Response(cell_passport(item_get(identifier)).as_dict())
