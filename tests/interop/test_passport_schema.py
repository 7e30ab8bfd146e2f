"""The passport against the repo's own description of the subset it fills (always), and against
the published BatteryPass v1.2 JSON schemas (when BATTERYPASS_SCHEMA_DIR names a copy).

The schemas are not in this repository (their licence is not ours to grant). The variable
names either a checkout of github.com/batterypass/BatteryPassDataModel or its bare git
directory; the files are read as the data model publishes them (some are UTF-16).
"""

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from jsonschema import Draft4Validator, FormatChecker
from rest_framework import serializers
from rest_framework.test import APIClient

from api.serializers_passport import PassportSerializer
from lots.services import item_register
from tests.interop.passport_line import SITE, formed_and_tested, passport_cell, url

pytestmark = pytest.mark.django_db

# Response group -> (the data model's aspect folder, its schema file's stem)
ASPECTS = {
    "generalProductInformation": ("io.BatteryPass.GeneralProductInformation", "GeneralProductInformation"),
    "materialComposition": ("io.BatteryPass.MaterialComposition", "MaterialComposition"),
    "performanceAndDurability": ("io.BatteryPass.Performance", "PerformanceAndDurability"),
}
# Entities of which the passport fills only some attributes: their `required` lists are dropped.
PARTLY_FILLED = {"BatteryTechnicalPropertiesEntity"}


@pytest.fixture
def bodies(operator_client: APIClient, engineer: User, stations: Any, catalog: None) -> list[dict[str, Any]]:
    full = passport_cell(engineer, chemistry="NMC811/graphite", nominal_voltage_V=3.65)
    formed_and_tested(engineer, full)
    bare = item_register(actor=engineer, kind="cell", quantity=1, unit="count", supplier_lot="L-1")
    with override_settings(**SITE):
        return [operator_client.get(url(cell.code)).json() for cell in (full, bare)]


# --- the repo's own description (api.serializers_passport) -----------------------------------


def _check(field: serializers.Field, value: Any, where: str) -> None:
    if value is None:
        assert field.allow_null, f"{where} is null but may not be"
        return
    if isinstance(field, serializers.ListSerializer):
        assert isinstance(value, list), where
        for index, entry in enumerate(value):
            _check(field.child, entry, f"{where}/{index}")
    elif isinstance(field, serializers.Serializer):
        assert isinstance(value, dict), where
        assert set(value) == set(field.fields), f"{where}: {sorted(set(value) ^ set(field.fields))}"
        for name, child in field.fields.items():
            _check(child, value[name], f"{where}/{name}")
    elif isinstance(field, serializers.DictField):
        assert isinstance(value, dict), where
    elif isinstance(field, serializers.FloatField):
        assert isinstance(value, int | float) and not isinstance(value, bool), where
    elif isinstance(field, serializers.DateTimeField):
        assert datetime.fromisoformat(value).tzinfo is not None, where
    elif isinstance(field, serializers.ChoiceField):
        assert value in field.choices, where
    else:
        assert isinstance(value, str), where


def test_the_response_has_exactly_the_described_keys_and_types(bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        _check(PassportSerializer(), body, "")


def test_the_structural_check_catches_a_wrong_type_and_an_extra_key(bodies: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(bodies[0]))
    broken["performanceAndDurability"]["batteryTechicalProperties"]["ratedCapacity"] = "4.6"
    with pytest.raises(AssertionError):
        _check(PassportSerializer(), broken, "")
    broken = json.loads(json.dumps(bodies[0]))
    broken["generalProductInformation"]["batteryWeight"] = 1.0
    with pytest.raises(AssertionError):
        _check(PassportSerializer(), broken, "")


# --- the published schemas --------------------------------------------------------------------


def _schema_text(root: Path, relative: str) -> bytes:
    if (root / "HEAD").is_file() and (root / "objects").is_dir():  # a bare git directory
        return subprocess.run(
            ["git", "--git-dir", str(root), "show", f"HEAD:{relative}"], check=True, capture_output=True
        ).stdout
    return (root / relative).read_bytes()


def _decode(raw: bytes) -> Any:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return json.loads(raw.decode("utf-16"))
    return json.loads(raw.decode("utf-8-sig"))


def published_schema(group: str) -> dict[str, Any]:
    root = os.environ.get("BATTERYPASS_SCHEMA_DIR", "")
    if not root or not Path(root).exists():
        pytest.skip("BATTERYPASS_SCHEMA_DIR names no copy of the BatteryPass data model (not shipped: its licence).")
    folder, stem = ASPECTS[group]
    return _decode(_schema_text(Path(root), f"BatteryPass/{folder}/1.2.0/gen/{stem}-schema.json"))


def _subset_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The aspect's schema for a passport that fills some of its attributes."""
    relaxed = json.loads(json.dumps(schema))
    relaxed.pop("required", None)
    for name in PARTLY_FILLED:
        relaxed["components"]["schemas"].get(name, {}).pop("required", None)
    return relaxed


def _without_nulls(value: Any) -> Any:
    """Null is how the passport says "not recorded"; the data model leaves such an attribute out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _properties(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A node's properties, through `$ref` and `allOf`."""
    if "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    found = dict(node.get("properties", {}))
    for part in node.get("allOf", []):
        found |= _properties(schema, part)
    return found


def _names_check(schema: dict[str, Any], node: dict[str, Any], value: Any, where: str) -> None:
    """Every key the passport sends is an attribute of the data model (the schemas allow extra
    keys, so a misspelt name would otherwise validate)."""
    if isinstance(value, list):
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node
        for entry in value:
            _names_check(schema, node.get("items", {}), entry, where)
        return
    if not isinstance(value, dict):
        return
    properties = _properties(schema, node)
    for key, child in value.items():
        assert key in properties, f"{where}/{key} is not an attribute of the data model"
        _names_check(schema, properties[key], child, f"{where}/{key}")


@pytest.mark.parametrize("group", sorted(ASPECTS))
def test_each_group_validates_against_the_published_schema(bodies: list[dict[str, Any]], group: str) -> None:
    schema = published_schema(group)
    validator = Draft4Validator(_subset_schema(schema), format_checker=FormatChecker())
    for body in bodies:
        document = _without_nulls(body[group])
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []
        _names_check(schema, schema, document, f"/{group}")


def test_the_published_schema_refuses_a_wrong_type(bodies: list[dict[str, Any]]) -> None:
    schema = published_schema("performanceAndDurability")
    validator = Draft4Validator(_subset_schema(schema), format_checker=FormatChecker())
    document = _without_nulls(bodies[0]["performanceAndDurability"])
    document["batteryTechicalProperties"]["initialInternalResistance"][0]["batteryComponent"] = "stack"
    document["batteryTechicalProperties"]["ratedCapacity"] = "4.6 Ah"
    assert len(list(validator.iter_errors(document))) == 2
    with pytest.raises(AssertionError):
        _names_check(schema, schema, {"batteryTechicalProperties": {"ratedCapacityAh": 1}}, "")
