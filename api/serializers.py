"""Input serializers validate shape; output serializers render. Rules live in services."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from audit.models import AuditEvent
from core.units import kind_dimensions
from lots.identifiers import digital_link
from lots.models import Item, ItemKind, ItemStatusChange, Polarity
from lots.selectors import STATUS_CAUSES
from measurements.models import Category, Criticality, ModelType, Parameter, Scope
from traceability.models import Hold, Operation, Station, Step

from .fields import AwareDateTimeField, NumberField, TextField

CODE_VALIDATOR = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$").validators


# --- Output -----------------------------------------------------------------------------------


class KindSerializer(serializers.ModelSerializer[ItemKind]):
    class Meta:
        model = ItemKind
        fields = ["code", "name", "level", "default_unit", "dimensions", "is_roll", "on_electrode_path", "ontology_iri"]

    dimensions = serializers.SerializerMethodField()
    ontology_iri = TextField()  # "" where no ontology has a term: not a URL field's "uri" format

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_dimensions(self, kind: ItemKind) -> list[str]:
        return kind_dimensions(kind)


class StepSerializer(serializers.ModelSerializer[Step]):
    class Meta:
        model = Step
        fields = ["code", "name", "sequence", "ontology_iri", "process_iri"]

    ontology_iri = TextField()  # "" where no ontology has a term, as on the kinds
    process_iri = TextField()


class StationSerializer(serializers.ModelSerializer[Station]):
    steps: serializers.RelatedField[Step, Any, Any] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )

    class Meta:
        model = Station
        fields = ["code", "name", "room", "steps"]


class ItemSerializer(serializers.Serializer[Item]):
    code = TextField()
    kind = TextField(source="kind_id")
    level = TextField(source="kind.level")
    status = TextField()
    quantity = serializers.FloatField()
    unit = TextField()
    length_m = serializers.FloatField(allow_null=True)
    polarity = TextField(allow_null=True)
    digital_link = serializers.SerializerMethodField()
    rfid_epc = TextField(allow_null=True)
    supplier_lot = TextField()
    created_at = serializers.DateTimeField()
    created_by = serializers.SerializerMethodField()
    station = serializers.SerializerMethodField()
    attributes = serializers.JSONField()

    def get_digital_link(self, item: Item) -> str:
        return digital_link(code=item.code, gtin_item_reference=item.kind.gtin_item_reference, level=item.kind.level)

    def get_created_by(self, item: Item) -> str | None:
        return item.created_by.get_username() if item.created_by_id else None  # type: ignore[union-attr]

    def get_station(self, item: Item) -> str | None:
        return item.station.code if item.station_id else None  # type: ignore[union-attr]


class OperationSerializer(serializers.Serializer[Operation]):
    id = serializers.IntegerField()
    step = TextField(source="step_id")
    station = TextField(source="station.code")
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    parameters = serializers.JSONField()
    created_by = serializers.SerializerMethodField()

    def get_created_by(self, operation: Operation) -> str | None:
        user = operation.created_by
        return user.get_username() if user is not None else None

    def to_representation(self, operation: Operation) -> dict[str, Any]:
        data = super().to_representation(operation)
        data["inputs"] = [
            {"item": row.item.code, "quantity": float(row.quantity), "unit": row.unit, "consumed": row.consumed}
            for row in operation.inputs.all()
        ]
        data["outputs"] = ItemSerializer(operation.outputs.all(), many=True).data  # type: ignore[arg-type]
        data["scrap"] = [
            {"item": s.item.code, "quantity": float(s.quantity), "unit": s.unit, "reason": s.reason}
            for s in operation.scrap.all()
        ]
        return data


class HoldSerializer(serializers.Serializer[Hold]):
    id = serializers.IntegerField()
    reason = TextField()
    downstream = serializers.BooleanField()
    item = serializers.SerializerMethodField()
    station = serializers.SerializerMethodField()
    window_from = serializers.DateTimeField(allow_null=True)
    window_to = serializers.DateTimeField(allow_null=True)
    from_m = serializers.FloatField(allow_null=True)
    to_m = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = TextField(source="created_by.username")
    released_at = serializers.DateTimeField(allow_null=True)
    released_by = serializers.SerializerMethodField()
    release_reason = TextField()

    def get_item(self, hold: Hold) -> str | None:
        return hold.item.code if hold.item_id else None  # type: ignore[union-attr]

    def get_station(self, hold: Hold) -> str | None:
        return hold.station.code if hold.station_id else None  # type: ignore[union-attr]

    def get_released_by(self, hold: Hold) -> str | None:
        return hold.released_by.username if hold.released_by_id else None  # type: ignore[union-attr]


class HoldResultSerializer(HoldSerializer):
    items_on_hold = serializers.IntegerField()
    items = serializers.ListField(child=TextField())


class GenealogyNodeSerializer(serializers.Serializer[Any]):
    code = TextField()
    kind = TextField()
    status = TextField()
    depth = serializers.IntegerField()


class GenealogyEdgeSerializer(serializers.Serializer[Any]):
    parent = TextField()  # type: ignore[assignment]  # DRF pops declared fields
    child = TextField()
    operation = serializers.IntegerField()
    step = TextField()
    from_m = serializers.FloatField(allow_null=True)
    to_m = serializers.FloatField(allow_null=True)
    child_from_m = serializers.FloatField(allow_null=True)
    child_to_m = serializers.FloatField(allow_null=True)
    lane = serializers.IntegerField(allow_null=True)
    reversed = serializers.BooleanField()


class GenealogySerializer(serializers.Serializer[Any]):
    """Documents the trace/track shape; the view renders dataclasses directly for speed."""

    root = TextField()  # type: ignore[assignment]  # DRF pops declared fields
    direction = serializers.ChoiceField(choices=["upstream", "downstream"])
    nodes = GenealogyNodeSerializer(many=True)
    edges = GenealogyEdgeSerializer(many=True)


class ScanResultSerializer(serializers.Serializer[Any]):
    item = ItemSerializer()
    warnings = serializers.ListField(child=TextField())
    next_steps = serializers.ListField(child=TextField())
    open_operation = OperationSerializer(
        allow_null=True,
        help_text="The open run the scan is about: at the station, the one the item is in, else the latest "
        "started there; with none there, the open run the item is in. null when none.",
    )


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor: serializers.RelatedField[Any, Any, Any] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,  # null: a system event (no user)
    )

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "station", "action", "entity", "entity_id", "before", "after"]


class StatusChangeSerializer(serializers.ModelSerializer[ItemStatusChange]):
    cause = serializers.ChoiceField(
        choices=STATUS_CAUSES,
        read_only=True,
        help_text="operation: an operation consumed it; hold: a hold caught or released it; "
        "direct: a change asked for itself (scrapping).",
    )
    by: serializers.RelatedField[Any, Any, Any] = serializers.SlugRelatedField(
        source="actor",
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The user who made the change; null for a change no user made.",
    )

    class Meta:
        model = ItemStatusChange
        fields = ["id", "from_status", "to_status", "cause", "reason", "at", "by", "operation", "hold"]
        read_only_fields = fields
        extra_kwargs = {
            "operation": {"help_text": "The operation that consumed the item, when that was the cause."},
            "hold": {"help_text": "The hold that caught or released the item, when that was the cause."},
        }


# --- Input ------------------------------------------------------------------------------------


def validated(
    input_class: type[serializers.Serializer[Any]], request: Request, *, partial: bool = False
) -> dict[str, Any]:
    """The request's body checked by `input_class` (a 400 naming the fields if it is not valid)."""
    data = input_class(data=request.data, partial=partial)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


class ItemRegisterInput(serializers.Serializer[Any]):
    kind = TextField(max_length=64)
    quantity = NumberField(required=False, allow_null=True)
    unit = TextField(max_length=32, required=False, allow_blank=True)
    code = TextField(max_length=64, required=False, validators=CODE_VALIDATOR)
    rfid_epc = TextField(max_length=128, required=False, allow_blank=True)
    supplier_lot = TextField(max_length=128, required=False, allow_blank=True, default="")
    polarity = serializers.ChoiceField(choices=Polarity.choices, required=False, allow_null=True)
    attributes = serializers.DictField(required=False, default=dict)
    station = TextField(max_length=32, required=False)


class StationInput(serializers.Serializer[Any]):
    code = TextField(max_length=32, validators=CODE_VALIDATOR)
    name = TextField(max_length=128)
    steps = serializers.ListField(child=TextField(max_length=64), min_length=1)
    room = TextField(max_length=64, required=False, allow_blank=True, default="")


class InputEntry(serializers.Serializer[Any]):
    item = TextField(max_length=512)
    quantity = NumberField(required=False, allow_null=True)
    unit = TextField(max_length=32, required=False, allow_null=True)
    consume = serializers.BooleanField(required=False, allow_null=True, default=None)


class StretchEntry(serializers.Serializer[Any]):
    item = TextField(max_length=512)
    from_m = NumberField(required=False, allow_null=True)
    to_m = NumberField(required=False, allow_null=True)
    reversed = serializers.BooleanField(required=False, default=False)


class OutputEntry(serializers.Serializer[Any]):
    kind = TextField(max_length=64)
    quantity = NumberField(required=False, allow_null=True)
    unit = TextField(max_length=32, required=False, allow_null=True)
    code = TextField(max_length=64, required=False, validators=CODE_VALIDATOR)
    lane = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=999)
    polarity = serializers.ChoiceField(choices=Polarity.choices, required=False, allow_null=True)
    rfid_epc = TextField(max_length=128, required=False, allow_null=True)
    attributes = serializers.DictField(required=False, default=dict)
    scrap_reason = TextField(max_length=255, required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be a class attribute.
        fields["from"] = StretchEntry(many=True, required=False)
        return fields


class ScrapEntry(serializers.Serializer[Any]):
    item = TextField(max_length=512)
    quantity = NumberField()
    unit = TextField(max_length=32)
    reason = TextField(max_length=255)


MAX_ENTRIES = 50_000


class OperationInput(serializers.Serializer[Any]):
    step = TextField(max_length=64)
    station = TextField(max_length=32)
    started_at = AwareDateTimeField(required=False, allow_null=True)
    ended_at = AwareDateTimeField(required=False, allow_null=True)
    inputs = InputEntry(many=True, required=False, max_length=MAX_ENTRIES)  # type: ignore[call-arg]
    outputs = OutputEntry(many=True, required=False, max_length=MAX_ENTRIES)  # type: ignore[call-arg]
    parameters = serializers.DictField(required=False, default=dict)
    scrap = ScrapEntry(many=True, required=False, max_length=1000)  # type: ignore[call-arg]


class FinishInput(serializers.Serializer[Any]):
    """When an open run ended."""

    ended_at = AwareDateTimeField()


class HoldInput(serializers.Serializer[Any]):
    item = TextField(max_length=512, required=False)
    from_m = NumberField(required=False, allow_null=True)
    to_m = NumberField(required=False, allow_null=True)
    station = TextField(max_length=32, required=False)
    reason = TextField(max_length=500)
    downstream = serializers.BooleanField(required=False, default=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = AwareDateTimeField(required=False)
        fields["to"] = AwareDateTimeField(required=False)
        return fields


class ReleaseInput(serializers.Serializer[Any]):
    reason = TextField(max_length=500, required=False, allow_blank=True, default="")


class ScrapItemInput(serializers.Serializer[Any]):
    reason = TextField(max_length=255)
    station = TextField(max_length=32, required=False)


class ScanInput(serializers.Serializer[Any]):
    code = TextField(max_length=512)
    station = TextField(max_length=32, required=False)


# --- Parameter catalog ------------------------------------------------------------------------


class CriticalitySerializer(serializers.Serializer[Any]):
    """How critical a parameter is for each model type; null where the paper gives none."""

    empirical = serializers.ChoiceField(choices=Criticality.choices, allow_null=True, allow_blank=True, required=False)
    continuum = serializers.ChoiceField(choices=Criticality.choices, allow_null=True, allow_blank=True, required=False)
    discrete = serializers.ChoiceField(choices=Criticality.choices, allow_null=True, allow_blank=True, required=False)
    ml = serializers.ChoiceField(choices=Criticality.choices, allow_null=True, allow_blank=True, required=False)


class ParameterSerializer(serializers.Serializer[Parameter]):
    code = TextField()
    name = TextField()
    scope = TextField()
    step = TextField(source="step_id", allow_null=True)
    category = TextField()
    unit = TextField()
    criticality = serializers.SerializerMethodField()
    measurability = serializers.SerializerMethodField()
    online = serializers.BooleanField(allow_null=True)
    techniques = serializers.ListField(child=TextField())
    typical_min = NumberField(allow_null=True)
    typical_max = NumberField(allow_null=True)
    accuracy = TextField()
    ontology_iri = TextField()
    source = TextField()  # type: ignore[assignment]  # DRF pops declared fields
    file_types = serializers.ListField(child=TextField())

    @extend_schema_field(CriticalitySerializer)
    def get_criticality(self, parameter: Parameter) -> dict[str, str | None]:
        return {model: parameter.criticality(model) or None for model in ModelType.values}

    @extend_schema_field(serializers.ChoiceField(choices=Criticality.choices, allow_null=True))
    def get_measurability(self, parameter: Parameter) -> str | None:
        return parameter.measurability or None


class ParameterInput(serializers.Serializer[Any]):
    """The shape of ParameterSerializer; with partial=True (PATCH) every field is optional."""

    code = serializers.SlugField(max_length=64)
    name = TextField(max_length=200)
    scope = serializers.ChoiceField(choices=Scope.choices, required=False)
    step = TextField(max_length=64, required=False, allow_null=True, allow_blank=True)
    category = serializers.ChoiceField(choices=Category.choices)
    unit = TextField(max_length=32)
    criticality = CriticalitySerializer(required=False)
    measurability = serializers.ChoiceField(
        choices=Criticality.choices, required=False, allow_null=True, allow_blank=True
    )
    online = serializers.BooleanField(required=False, allow_null=True)
    techniques = serializers.ListField(child=TextField(max_length=200), required=False, max_length=100)
    typical_min = NumberField(required=False, allow_null=True)
    typical_max = NumberField(required=False, allow_null=True)
    accuracy = TextField(max_length=64, required=False, allow_blank=True)
    ontology_iri = serializers.URLField(max_length=300, required=False, allow_blank=True)
    source = TextField(max_length=200, required=False, allow_blank=True)  # type: ignore[assignment]
    file_types = serializers.ListField(child=TextField(max_length=16), required=False, max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Flatten to the services' keywords: criticality.ml -> criticality_ml, null -> ""."""
        flat = dict(attrs)
        for model, grade in flat.pop("criticality", {}).items():
            flat[f"criticality_{model}"] = grade or ""
        if "measurability" in flat:
            flat["measurability"] = flat["measurability"] or ""
        return flat
