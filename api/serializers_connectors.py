"""Connectors as the API reads and writes them (the rules are in connectors.validation)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.models import Connector, ConnectorKind, ConnectorMapping, ConnectorState, ModbusDataType
from connectors.selectors import connector_status, options_shown

from .fields import NumberField, TextField


class ConnectorStatusSerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=ConnectorState.choices)
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    rejected = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    last_value_at = serializers.DateTimeField(allow_null=True)


class ConnectorMappingSerializer(serializers.Serializer[ConnectorMapping]):
    source = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    station = serializers.CharField(source="station.code", allow_null=True, default=None)
    room = serializers.CharField(allow_blank=True)
    parameter = serializers.CharField(source="parameter.code")
    unit = serializers.CharField(allow_blank=True)
    position_source = serializers.CharField(allow_blank=True)
    data_type = serializers.CharField(allow_blank=True)
    scale = serializers.FloatField()


class ConnectorSerializer(serializers.Serializer[Connector]):
    code = serializers.CharField()
    kind = serializers.ChoiceField(choices=ConnectorKind.choices)
    endpoint = serializers.CharField()
    enabled = serializers.BooleanField()
    options = serializers.SerializerMethodField(help_text="A password set reads as ********.")
    revision = serializers.IntegerField()
    mappings = ConnectorMappingSerializer(many=True)
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.DictField())
    def get_options(self, connector: Connector) -> dict[str, Any]:
        return options_shown(connector.options)

    @extend_schema_field(ConnectorStatusSerializer)
    def get_status(self, connector: Connector) -> dict[str, Any]:
        return dict(ConnectorStatusSerializer(connector_status(connector)).data)


class ConnectorMappingInput(serializers.Serializer[Any]):
    """A station or a room, exactly one. `unit` converts to the parameter's unit. Modbus only:
    `data_type` (required) and `scale` (the factor from the register's number to `unit`)."""

    source = TextField(  # type: ignore[assignment]  # DRF pops declared fields
        max_length=500, help_text="OPC UA node id, MQTT topic filter, or holding:<n> / input:<n>."
    )
    station = TextField(max_length=64, required=False, allow_null=True, allow_blank=True)
    room = TextField(max_length=64, required=False, allow_blank=True)
    parameter = TextField(max_length=64)
    unit = TextField(max_length=32, required=False, allow_blank=True)
    position_source = TextField(max_length=500, required=False, allow_blank=True)
    data_type = serializers.ChoiceField(choices=[("", ""), *ModbusDataType.choices], required=False)
    scale = NumberField(required=False)


class ConnectorInput(serializers.Serializer[Any]):
    """A PATCH sends only what changes; `mappings`, when sent, replaces the whole list."""

    code = TextField(max_length=64)
    kind = serializers.ChoiceField(choices=ConnectorKind.choices)
    endpoint = TextField(max_length=500, help_text="opc.tcp://host:port, mqtt(s)://host:port, modbus://host:port.")
    enabled = serializers.BooleanField(required=False)
    options = serializers.DictField(required=False, help_text="Per kind; see the API guide.")
    mappings = ConnectorMappingInput(many=True, required=False, max_length=2000)  # type: ignore[call-arg]  # ListSerializer takes it
