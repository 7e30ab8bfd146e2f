"""Connectors: machines, sensors and room monitors that deliver values by configuration.

A `Connector` is one endpoint (an OPC UA server, an MQTT broker, a Modbus TCP device) with its
`ConnectorMapping`s: which source (node id, topic filter, register) feeds which parameter at
which station or room, in which unit. `run_connectors` runs the enabled ones and keeps each
one's `ConnectorStatus`. `ConnectorReceipt` is the key that stores a value once per connector,
source, source time and value, whatever is re-sent after a reconnect or redelivered by QoS 1.
"""

from django.db import models
from django.db.models import Q

from core.values import finite_q, time_q


class ConnectorKind(models.TextChoices):
    OPCUA = "opcua", "OPC UA"
    MQTT = "mqtt", "MQTT"
    MODBUS = "modbus", "Modbus TCP"


class ConnectorState(models.TextChoices):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    DISABLED = "disabled"


class ModbusDataType(models.TextChoices):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"


class Connector(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=ConnectorKind.choices)
    endpoint = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    # Kind-specific: security mode and credentials (OPC UA), client_id and qos (MQTT), unit id and
    # poll interval (Modbus). Validated by connectors.services.
    options = models.JSONField(default=dict, blank=True)
    # Bumped by every change of the connector or its mappings: the running process restarts a
    # connector whose revision moved.
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ConnectorMapping(models.Model):
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="mappings")
    # OPC UA node id ("ns=2;s=Coater.MassLoading"), MQTT topic filter ("line1/+/dewpoint"),
    # Modbus register ("holding:100", "input:3000").
    source = models.CharField(max_length=500)
    station = models.ForeignKey(
        "traceability.Station", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    room = models.CharField(max_length=64, blank=True, default="")
    parameter = models.ForeignKey("measurements.Parameter", on_delete=models.PROTECT, related_name="+")
    unit = models.CharField(max_length=32)
    # Where the metre along the roll comes from: the latest value of this source at or before
    # the value's own time becomes its position_m.
    position_source = models.CharField(max_length=500, blank=True, default="")
    # Modbus: how the register words decode, and the factor to the mapping's unit.
    data_type = models.CharField(max_length=8, choices=ModbusDataType.choices, blank=True, default="")
    scale = models.FloatField(default=1.0)

    class Meta:
        ordering = ["connector", "id"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "source"], name="connector_mapping_source_once"),
            models.CheckConstraint(
                condition=(Q(station__isnull=False) & Q(room="")) | (Q(station__isnull=True) & ~Q(room="")),
                name="connector_mapping_station_or_room",
            ),
            models.CheckConstraint(condition=finite_q("scale", null=False), name="connector_mapping_scale_finite"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.source}"


class ConnectorStatus(models.Model):
    """Live state and counts of one connector; the counts survive restarts."""

    connector = models.OneToOneField(Connector, on_delete=models.CASCADE, primary_key=True, related_name="status")
    state = models.CharField(max_length=16, choices=ConnectorState.choices, default=ConnectorState.STOPPED)
    received = models.BigIntegerField(default=0)
    stored = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_value_at = models.DateTimeField(null=True, blank=True)
    # Written by run_connectors every few seconds: a status older than STALE_AFTER reads as stopped.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.connector_id}: {self.state}"


class ConnectorReceipt(models.Model):
    """One value a connector stored: the key that keeps a re-sent value from being stored twice."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=500)
    source_time = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "source", "source_time", "value"], name="connector_receipt_once"
            ),
            models.CheckConstraint(condition=time_q("source_time"), name="connector_receipt_time_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.source}@{self.source_time.isoformat()}"
