"""Input fields that hold numbers and times to core.values' rules before a service sees them."""

from datetime import datetime
from typing import Any

from rest_framework import serializers

from core.errors import ErrorCode, InvalidInput
from core.values import moment


class NumberField(serializers.FloatField):
    """A JSON number: DRF's FloatField takes `true` as 1.0 and a list's error is unclear.
    Finiteness is left to the services, which check it before and after conversion."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            kind = "true/false" if isinstance(data, bool) else type(data).__name__
            raise serializers.ValidationError(f"A number is required, not {kind}.", code=ErrorCode.INVALID)
        return float(super().to_internal_value(data))


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset, within the record's time range (core.values.moment)."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            return moment(value, field=self.field_name or "")
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.message, code=exc.code) from None


class TextField(serializers.CharField):
    """A JSON string: DRF's CharField turns 0 into "0" and true into "True" (a release reason of 0)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            kind = "true/false" if isinstance(data, bool) else type(data).__name__
            raise serializers.ValidationError(f"A string is required, not {kind}.", code=ErrorCode.INVALID)
        return str(super().to_internal_value(data))
