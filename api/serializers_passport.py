"""The battery passport's shape: the subset of BatteryPass v1.2 that CellTrace fills.

Output only (the view builds the body with interop.passport); these serializers document it in
OpenAPI and are the repo's own description of the subset the structural test checks against.
Field names are the data model's attribute names, `batteryTechicalProperties` spelling and all.
"""

from typing import Any

from rest_framework import serializers


def _number(unit: str, help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=f"{help_text}, in {unit}; null when not recorded.")


class DataModelSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.CharField()


class IdentificationSerializer(serializers.Serializer[Any]):
    model = serializers.CharField(help_text="GS1 Digital Link of the cell's kind: AI 01 (GTIN).")
    batch = serializers.CharField(allow_null=True, help_text="AI 01 + 10: the cell's lot; null when it has none.")
    serial = serializers.CharField(help_text="AI 01 + 21: the cell itself.")


class PostalAddressSerializer(serializers.Serializer[Any]):
    addressCountry = serializers.CharField()  # noqa: N815 - the data model's attribute names
    postalCode = serializers.CharField()  # noqa: N815
    streetAddress = serializers.CharField()  # noqa: N815


class GeneralProductInformationSerializer(serializers.Serializer[Any]):
    productIdentifier = serializers.CharField(help_text="The cell's Digital Link (01 + 21).")  # noqa: N815
    manufacturingDate = serializers.DateTimeField(  # noqa: N815
        allow_null=True, help_text="End (else start) of the operation that made the cell."
    )
    manufacturingPlace = PostalAddressSerializer(  # noqa: N815
        allow_null=True, help_text="The site's address (CELLTRACE_SITE_*); null until configured."
    )
    batteryMass = _number("kg", "Cell mass (eol_cell_mass)")  # noqa: N815


class BatteryChemistrySerializer(serializers.Serializer[Any]):
    shortName = serializers.CharField()  # noqa: N815
    clearName = serializers.CharField()  # noqa: N815


class MaterialCompositionSerializer(serializers.Serializer[Any]):
    batteryChemistry = BatteryChemistrySerializer(  # noqa: N815
        allow_null=True, help_text="The cell's recorded chemistry and its upstream active-material lots."
    )


class InternalResistanceSerializer(serializers.Serializer[Any]):
    ohmicResistance = serializers.FloatField(help_text="In ohm.")  # noqa: N815
    batteryComponent = serializers.ChoiceField(choices=["cell"])  # noqa: N815


class TechnicalPropertiesSerializer(serializers.Serializer[Any]):
    ratedCapacity = _number("Ah", "End-of-line capacity, else formation discharge capacity")  # noqa: N815
    ratedEnergy = _number("kWh", "End-of-line discharge energy")  # noqa: N815
    nominalVoltage = _number("V", "The cell's nominal_voltage_V attribute")  # noqa: N815
    minimumVoltage = _number("V", "Formation lower cut-off voltage")  # noqa: N815
    maximumVoltage = _number("V", "Formation upper cut-off voltage")  # noqa: N815
    initialInternalResistance = InternalResistanceSerializer(  # noqa: N815
        many=True, allow_null=True, help_text="End-of-line DCIR, else formation internal resistance."
    )
    initialSelfDischarge = _number("percent per month", "Self-discharge rate")  # noqa: N815


class PerformanceAndDurabilitySerializer(serializers.Serializer[Any]):
    batteryTechicalProperties = TechnicalPropertiesSerializer()  # noqa: N815 - sic, as the data model spells it


class PassportSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    dataModel = DataModelSerializer()  # noqa: N815
    identification = IdentificationSerializer()
    generalProductInformation = GeneralProductInformationSerializer()  # noqa: N815
    materialComposition = MaterialCompositionSerializer()  # noqa: N815
    performanceAndDurability = PerformanceAndDurabilitySerializer()  # noqa: N815
    sources = serializers.DictField(
        child=serializers.DictField(), help_text="Per JSON Pointer: the measurement, operation or attribute used."
    )
    missing = serializers.DictField(child=serializers.CharField(), help_text="Per JSON Pointer: why it is null.")
