"""Liquids by mass or volume: a kind takes every unit of its dimensions, and mass and volume
convert into each other through the item's `density` attribute (issue 11, point 6)."""

import math
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User

from core.errors import ErrorCode, InvalidInput
from core.units import density_parse, kind_dimensions, quantity_in_kind_unit
from lots.models import Item, ItemKind
from lots.services import item_register
from traceability.models import OperationInput
from traceability.services import InputSpec, OutputSpec, operation_record

ITEMS = "/api/items/"
NMP = {"kind": "solvent", "quantity": 20, "unit": "kg", "supplier_lot": "NMP-24-3391"}


def _error(response: Any, status: int, code: str, field: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert field in body["errors"], body
    return str(body["errors"][field][0])


# --- The rule, in core.units ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "dimensions"),
    [
        ("cathode_active_material", ["mass"]),
        ("solvent", ["volume", "mass"]),
        ("electrolyte", ["volume", "mass"]),
        ("binder", ["mass", "volume"]),
        ("slurry", ["mass", "volume"]),
        ("current_collector_foil", ["length"]),
        ("coated_roll", ["length"]),
        ("electrode_sheet", ["count"]),
        ("cell", ["count"]),
    ],
)
def test_the_seeded_kinds_carry_their_dimensions(db: Any, kind: str, dimensions: list[str]) -> None:
    assert kind_dimensions(ItemKind.objects.get(code=kind)) == dimensions


def test_the_kinds_api_lists_the_dimensions_and_keeps_its_fields(operator_client: Any) -> None:
    body = operator_client.get("/api/kinds/").json()
    kinds = {k["code"]: k for k in (body["results"] if isinstance(body, dict) else body)}
    assert kinds["solvent"]["dimensions"] == ["volume", "mass"]
    assert kinds["solvent"]["default_unit"] == "L"
    assert kinds["tab"]["dimensions"] == ["count"]
    assert {"code", "name", "level", "default_unit", "is_roll", "on_electrode_path"} <= set(kinds["cell"])


@pytest.mark.parametrize(
    ("density", "litres"),
    [
        (1.028, 20 / 1.028),  # a number is g/cm**3
        ("1.028", 20 / 1.028),
        ("1.028 g/mL", 20 / 1.028),
        ("1028 kg/m**3", 20 / 1.028),
        ("1.028 kg/L", 20 / 1.028),
    ],
)
def test_mass_of_a_volume_kind_becomes_litres_through_the_density(db: Any, density: object, litres: float) -> None:
    solvent = ItemKind.objects.get(code="solvent")
    value, unit = quantity_in_kind_unit(solvent, 20, "kg", density)
    assert unit == "L"
    assert math.isclose(value, litres, rel_tol=1e-9)


def test_a_unit_of_the_kinds_own_dimension_stays_as_given(db: Any) -> None:
    solvent = ItemKind.objects.get(code="solvent")
    assert quantity_in_kind_unit(solvent, 500, "mL") == (500.0, "mL")
    assert quantity_in_kind_unit(solvent, 500, "mL", target="L") == (0.5, "L")


@pytest.mark.parametrize("raw", [0, -1, float("nan"), float("inf"), 1e300, "abc", "NaN", "1 kg", "-1 g/mL", [], True])
def test_absurd_densities_are_refused(raw: object) -> None:
    with pytest.raises(InvalidInput) as info:
        density_parse(raw, field="attributes.density")
    assert info.value.code == ErrorCode.BAD_QUANTITY
    assert list(info.value.errors) == ["attributes.density"]


# --- Registration through the API -------------------------------------------------------------


def test_kg_of_nmp_with_a_density_is_stored_in_litres(operator_client: Any) -> None:
    body = NMP | {"attributes": {"material": "NMP", "density": "1.028 g/mL"}}
    response = operator_client.post(ITEMS, body, format="json")
    assert response.status_code == 201, response.content
    item = response.json()
    assert item["unit"] == "L"
    assert item["quantity"] == pytest.approx(19.455253, abs=1e-6)
    assert item["attributes"]["density"] == "1.028 g/mL"
    stored = Item.objects.get(code=item["code"])
    assert stored.unit == "L" and stored.quantity == stored.initial_quantity == Decimal("19.455253")


def test_kg_of_nmp_without_a_density_is_a_400_that_says_what_is_missing(operator_client: Any) -> None:
    before = Item.objects.count()
    message = _error(
        operator_client.post(ITEMS, NMP, format="json"), 400, ErrorCode.DENSITY_REQUIRED, "attributes.density"
    )
    assert message == "solvent is measured in L; give its density to register it in kg."
    assert Item.objects.count() == before


@pytest.mark.parametrize("density", [0, -1, 1e300, "abc", "NaN", "nan g/mL", "3 m"])
def test_registration_with_an_absurd_density_is_a_400(operator_client: Any, density: object) -> None:
    body = NMP | {"attributes": {"density": density}}
    _error(operator_client.post(ITEMS, body, format="json"), 400, ErrorCode.BAD_QUANTITY, "attributes.density")
    # Checked even when no conversion needs it, so no stored density can fail a later consumption.
    body = NMP | {"unit": "L", "attributes": {"density": density}}
    _error(operator_client.post(ITEMS, body, format="json"), 400, ErrorCode.BAD_QUANTITY, "attributes.density")
    assert not Item.objects.filter(kind="solvent").exists()


@pytest.mark.parametrize(
    ("kind", "unit", "allowed"),
    [
        ("solvent", "m", "solvent is measured by volume or mass; 'm' is a unit of length."),
        ("cathode_active_material", "L", "cathode_active_material is measured by mass; 'L' is a unit of volume."),
        ("current_collector_foil", "kg", "current_collector_foil is measured by length; 'kg' is a unit of mass."),
        ("electrolyte", "m**2", "electrolyte is measured by volume or mass; 'm**2' is a unit of neither."),
        ("cell", "kg", "cell is measured by count; 'kg' is a unit of mass."),
    ],
)
def test_a_unit_of_another_dimension_names_the_allowed_ones(
    operator_client: Any, kind: str, unit: str, allowed: str
) -> None:
    body = {"kind": kind, "quantity": 3, "unit": unit, "attributes": {"density": 1.2}}
    assert _error(operator_client.post(ITEMS, body, format="json"), 400, ErrorCode.INCOMPATIBLE_UNIT, "unit") == allowed


def test_litres_of_a_mass_kind_that_allows_volume_become_kg(operator: User) -> None:
    binder = item_register(actor=operator, kind="binder", quantity=2, unit="L", attributes={"density": 1.1})
    assert (binder.unit, binder.quantity) == ("kg", Decimal("2.2"))


def test_a_conversion_beyond_the_column_is_a_400(operator: User) -> None:
    with pytest.raises(InvalidInput) as info:
        item_register(actor=operator, kind="solvent", quantity=1e12, unit="kg", attributes={"density": 0.01})
    assert (info.value.code, list(info.value.errors)) == (ErrorCode.BAD_QUANTITY, ["quantity"])


# --- Consumption ------------------------------------------------------------------------------


def _filling(client: Any, electrolyte: str, quantity: float, unit: str) -> Any:
    body = {
        "step": "mixing",
        "station": "MIX-01",
        "inputs": [{"item": electrolyte, "quantity": quantity, "unit": unit}],
        "outputs": [{"kind": "slurry", "quantity": 1, "unit": "kg", "polarity": "cathode"}],
    }
    return client.post("/api/operations/", body, format="json")


def test_250_g_of_electrolyte_are_taken_from_a_litre_item_through_its_density(
    operator: User, operator_client: Any, stations: Any
) -> None:
    drum = item_register(actor=operator, kind="electrolyte", quantity=5, unit="L", attributes={"density": "1.25 g/mL"})
    response = _filling(operator_client, drum.code, 250, "g")
    assert response.status_code == 201, response.content
    drum.refresh_from_db()
    assert (drum.quantity, drum.unit) == (Decimal("4.8"), "L")
    taken = OperationInput.objects.get(item=drum)
    assert (taken.quantity, taken.unit) == (Decimal("0.2"), "L")


def test_kg_of_electrolyte_without_a_density_is_refused_with_the_sentence(
    operator: User, operator_client: Any, stations: Any
) -> None:
    drum = item_register(actor=operator, kind="electrolyte", quantity=5, unit="L", code="ELY-0003")
    response = _filling(operator_client, drum.code, 0.25, "kg")
    message = _error(response, 400, ErrorCode.DENSITY_REQUIRED, "inputs[0].unit")
    assert message == "electrolyte ELY-0003 is measured in L; give its density to consume it in kg."
    drum.refresh_from_db()
    assert drum.quantity == Decimal("5")
    assert not OperationInput.objects.exists()


def test_metres_of_solvent_are_refused_naming_its_dimensions(
    operator: User, operator_client: Any, stations: Any
) -> None:
    drum = item_register(actor=operator, kind="solvent", quantity=20, unit="L", attributes={"density": 1.028})
    message = _error(_filling(operator_client, drum.code, 1, "m"), 400, ErrorCode.INCOMPATIBLE_UNIT, "inputs[0].unit")
    assert message == "solvent is measured by volume or mass; 'm' is a unit of length."


def test_taking_more_mass_than_the_volume_left_is_a_conflict(operator: User, stations: Any) -> None:
    drum = item_register(actor=operator, kind="electrolyte", quantity=1, unit="L", attributes={"density": 1.2})
    with pytest.raises(Exception) as info:
        operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec(drum.code, 1.3, "kg")],
            outputs=[OutputSpec("slurry", 1, "kg", polarity="cathode")],
        )
    assert getattr(info.value, "code", None) == ErrorCode.INSUFFICIENT_QUANTITY
    assert "1.08333 L were asked for" in str(info.value)


def test_an_output_in_litres_of_a_slurry_with_a_density_is_stored_in_kg(operator: User, stations: Any) -> None:
    nmp = item_register(actor=operator, kind="solvent", quantity=20, unit="L")
    result = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(nmp.code, 2, "L")],
        outputs=[OutputSpec("slurry", 10, "L", polarity="cathode", attributes={"density": 2.0})],
    )
    assert (result.outputs[0].unit, result.outputs[0].quantity) == ("kg", Decimal("20"))
    with pytest.raises(InvalidInput) as info:
        operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec(nmp.code, 2, "L")],
            outputs=[OutputSpec("slurry", 10, "L", polarity="cathode")],
        )
    assert (info.value.code, list(info.value.errors)) == (ErrorCode.DENSITY_REQUIRED, ["outputs[0].attributes.density"])
