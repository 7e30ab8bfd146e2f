"""Connectors: engineers and admins configure the machines and room monitors that feed the
record, and read their live status. Operators neither read nor write them (credentials)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.models import Connector
from connectors.selectors import connector_get, connector_list, connector_status
from connectors.services import connector_create, connector_delete, connector_update
from core.roles import Role

from .idempotency import idempotent
from .serializers_connectors import ConnectorInput, ConnectorSerializer, ConnectorStatusSerializer


class _EngineersOnly:
    read_role = Role.ENGINEER
    write_role = Role.ENGINEER


class ConnectorListView(_EngineersOnly, generics.ListAPIView[Connector]):
    serializer_class = ConnectorSerializer

    def get_queryset(self) -> Any:
        return connector_list()

    @extend_schema(request=ConnectorInput, responses={201: ConnectorSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        data = ConnectorInput(data=request.data)
        data.is_valid(raise_exception=True)
        connector = connector_create(actor=request.user, data=data.validated_data)
        return Response(ConnectorSerializer(connector_get(connector.code)).data, status=status.HTTP_201_CREATED)


class ConnectorDetailView(_EngineersOnly, generics.GenericAPIView[Connector]):
    serializer_class = ConnectorSerializer
    queryset = Connector.objects.none()  # read through connector_get

    def get(self, request: Request, code: str) -> Response:
        return Response(ConnectorSerializer(connector_get(code)).data)

    @extend_schema(request=ConnectorInput(partial=True), responses=ConnectorSerializer)
    @idempotent
    def patch(self, request: Request, code: str) -> Response:
        data = ConnectorInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        connector_update(actor=request.user, code=code, data=data.validated_data)
        return Response(ConnectorSerializer(connector_get(code)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, code: str) -> Response:
        connector_delete(actor=request.user, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectorStatusView(_EngineersOnly, generics.GenericAPIView[Connector]):
    serializer_class = ConnectorStatusSerializer
    queryset = Connector.objects.none()
    pagination_class = None

    def get(self, request: Request, code: str) -> Response:
        return Response(ConnectorStatusSerializer(connector_status(connector_get(code))).data)
