"""Measurement serializers: input shapes are checked here, rules live in measurements.services."""

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from measurements.models import Measurement, Source
from measurements.selectors import UpstreamValue
from measurements.selectors_upstream import UpstreamRow

from .fields import AwareDateTimeField, NumberField, TextField

_DATETIME = serializers.DateTimeField()


class MeasurementSerializer(serializers.Serializer[Measurement]):
    id = serializers.IntegerField()
    parameter = TextField(source="parameter.code")
    step = TextField(source="parameter.step_id", allow_null=True)
    unit = TextField(source="parameter.unit")
    value = serializers.FloatField(allow_null=True)
    series = serializers.JSONField(allow_null=True)
    file = serializers.SerializerMethodField()
    file_sha256 = TextField()
    file_format = TextField(help_text="a cycler file: its format and format version as detected")
    file_reader = TextField(help_text="a cycler file: the reader that read it, and its version")
    derived_from = serializers.IntegerField(
        source="derived_from_id", allow_null=True, help_text="a value derived from a file: that file's measurement"
    )
    sent_value = serializers.FloatField(allow_null=True)
    sent_unit = TextField()
    item = serializers.SerializerMethodField()
    operation = serializers.IntegerField(source="operation_id", allow_null=True)
    station = serializers.SerializerMethodField()
    room = TextField()
    position_m = serializers.FloatField(allow_null=True)
    measured_at = serializers.DateTimeField()
    source = TextField()  # type: ignore[assignment]  # DRF pops declared fields
    instrument = TextField()
    method = TextField()
    uncertainty = serializers.FloatField(allow_null=True)
    out_of_range = serializers.BooleanField()
    out_of_limits = serializers.BooleanField(allow_null=True)
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    correction_reason = TextField()
    created_by = serializers.SerializerMethodField()

    def to_representation(self, m: Measurement) -> dict[str, Any]:
        # Written out rather than field by field: roll maps list thousands of values per item.
        return {
            "id": m.pk,
            "parameter": m.parameter.code,
            "step": m.parameter.step_id,
            "unit": m.parameter.unit,
            "value": m.value,
            "series": m.series,
            "file": self.get_file(m),
            "file_sha256": m.file_sha256,
            "file_format": m.file_format,
            "file_reader": m.file_reader,
            "derived_from": m.derived_from_id,
            "sent_value": m.sent_value,
            "sent_unit": m.sent_unit,
            "item": self.get_item(m),
            "operation": m.operation_id,
            "station": self.get_station(m),
            "room": m.room,
            "position_m": m.position_m,
            "measured_at": _DATETIME.to_representation(m.measured_at),
            "source": m.source,
            "instrument": m.instrument,
            "method": m.method,
            "uncertainty": m.uncertainty,
            "out_of_range": m.out_of_range,
            "out_of_limits": m.out_of_limits,
            "supersedes": m.supersedes_id,
            "correction_reason": m.correction_reason,
            "created_by": self.get_created_by(m),
        }

    def get_file(self, m: Measurement) -> str | None:
        # The API's download (an attachment), not the storage URL: uploads are never served inline.
        return f"/api/measurements/{m.pk}/file/" if m.file else None

    def get_item(self, m: Measurement) -> str | None:
        return m.item.code if m.item_id else None  # type: ignore[union-attr]

    def get_station(self, m: Measurement) -> str | None:
        return m.station.code if m.station_id else None  # type: ignore[union-attr]

    def get_created_by(self, m: Measurement) -> str | None:
        return m.created_by.get_username() if m.created_by_id else None  # type: ignore[union-attr]


class UpstreamValueSerializer(serializers.Serializer[UpstreamValue[Measurement]]):
    """A measurement as above, plus how it belongs to the item asked about."""

    def to_representation(self, value: UpstreamValue[Measurement]) -> dict[str, Any]:
        data = _MEASUREMENT.to_representation(value.measurement)
        data["upstream"] = {
            "item": value.upstream_item,
            "depth": value.depth,
            "relation": value.relation,
            "from_m": value.from_m,
            "to_m": value.to_m,
            "via": value.via,
            "mapped_position_m": value.mapped_position_m,
        }
        return data


_MEASUREMENT = MeasurementSerializer()


class SeriesInput(serializers.Serializer[Any]):
    x = serializers.ListField(child=NumberField(), allow_empty=False)
    y = serializers.ListField(child=NumberField(), allow_empty=False)
    x_unit = TextField(max_length=32, required=False)
    x_kind = serializers.ChoiceField(choices=["time", "position", "cycle"], required=False, default="time")
    y_unit = TextField(max_length=32, required=False)


class MeasurementInputSerializer(serializers.Serializer[Any]):
    parameter = TextField(max_length=64)
    value = NumberField(required=False, allow_null=True)
    unit = TextField(max_length=32, required=False, allow_blank=True)
    series = serializers.JSONField(required=False, allow_null=True)
    item = TextField(max_length=512, required=False, allow_blank=True)
    operation = serializers.IntegerField(required=False, allow_null=True)
    station = TextField(max_length=32, required=False, allow_blank=True)
    room = TextField(max_length=64, required=False, allow_blank=True, default="")
    position_m = NumberField(required=False, allow_null=True)
    measured_at = AwareDateTimeField(required=False, allow_null=True)
    source = serializers.ChoiceField(choices=Source.choices, required=False, default=Source.OFFLINE)  # type: ignore[assignment]
    instrument = TextField(max_length=128, required=False, allow_blank=True, default="")
    method = TextField(max_length=200, required=False, allow_blank=True, default="")
    uncertainty = NumberField(required=False, allow_null=True)
    file = serializers.FileField(required=False, allow_null=True)


class CorrectionInputSerializer(serializers.Serializer[Any]):
    reason = TextField(max_length=500)
    value = NumberField(required=False, allow_null=True)
    unit = TextField(max_length=32, required=False, allow_blank=True)
    series = serializers.JSONField(required=False, allow_null=True)
    position_m = NumberField(required=False, allow_null=True)
    uncertainty = NumberField(required=False, allow_null=True)
    instrument = TextField(max_length=128, required=False, allow_blank=True, default="")
    method = TextField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(required=False, allow_null=True)


# The listing's keys in MEASUREMENT_COLUMNS order (the last column, parameter_id, only sorts).
_LISTED_KEYS = tuple(MeasurementSerializer().fields)


def upstream_listing_data(rows: list[UpstreamRow]) -> list[dict[str, Any]]:
    """UpstreamValueSerializer's shape from plain rows: one dict per value, no serializer call."""
    keys, zone = _LISTED_KEYS, timezone.get_current_timezone()
    results = []
    for row in rows:
        m = row.measurement
        data = dict(zip(keys, m, strict=False))
        data["file"] = f"/api/measurements/{m[0]}/file/" if m[6] else None
        # DateTimeField.to_representation without its per-call settings lookups.
        when = m[18].astimezone(zone).isoformat()
        data["measured_at"] = when[:-6] + "Z" if when.endswith("+00:00") else when
        data["upstream"] = {
            "item": row.upstream_item,
            "depth": row.depth,
            "relation": row.relation,
            "from_m": row.from_m,
            "to_m": row.to_m,
            "via": row.via,
            "mapped_position_m": row.mapped_position_m,
        }
        results.append(data)
    return results
