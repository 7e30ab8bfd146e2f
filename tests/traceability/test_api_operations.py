"""POST /api/operations/: the contract's example, and every bad input a 4xx that writes nothing."""

import copy
from typing import Any

import pytest

from core.errors import ErrorCode, InvalidInput
from lots.models import Item, ItemStatus
from tests.contract import ITEM_FIELDS
from tests.factories import register
from tests.traceability.helpers import item_state, row_counts, slitting_body
from traceability.holds import hold_place
from traceability.models import LineageEdge, Operation, Scrap
from traceability.services import InputSpec, operation_record

pytestmark = pytest.mark.django_db

URL = "/api/operations/"


def test_the_contract_example_works_as_written(operator_client, operator, cal_roll):
    response = operator_client.post(URL, slitting_body(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {"id", "step", "station", "inputs", "outputs", "parameters"} <= set(body)
    assert body["step"] == "slitting"
    assert body["station"] == "SLT-01"
    assert body["parameters"] == {"slitting_speed": {"value": 100, "unit": "m/min"}}
    assert body["inputs"] == [{"item": "CAL-0007", "quantity": 520.0, "unit": "m", "consumed": True}]
    [lane] = body["outputs"]
    assert ITEM_FIELDS <= set(lane)
    assert lane["kind"] == "slit_roll"
    assert lane["level"] == "batch"
    assert lane["status"] == "active"
    assert (lane["quantity"], lane["unit"], lane["length_m"]) == (520.0, "m", 520.0)
    assert lane["polarity"] == "cathode"
    assert lane["station"] == "SLT-01"
    assert lane["created_by"] == operator.username
    assert lane["digital_link"].endswith("/" + lane["code"])

    assert Item.objects.get(code="CAL-0007").status == ItemStatus.CONSUMED
    scrap = Scrap.objects.get()
    assert (scrap.item.code, float(scrap.quantity), scrap.unit, scrap.reason) == ("CAL-0007", 3.0, "m", "edge trim")
    assert scrap.operation_id == body["id"]
    edge = LineageEdge.objects.get(child__code=lane["code"])
    assert (edge.parent.code, edge.parent_from_m, edge.parent_to_m, edge.lane) == ("CAL-0007", 0, 520, 1)
    operation = Operation.objects.get(pk=body["id"])
    # Times are kept with their instant: 08:00+01:00 is 07:00 UTC.
    assert operation.started_at.isoformat() == "2026-03-02T07:00:00+00:00"
    assert body["started_at"] == "2026-03-02T07:00:00Z"
    # The operation reads back the same.
    detail = operator_client.get(f"{URL}{body['id']}/")
    assert detail.status_code == 200
    assert detail.json()["outputs"][0]["code"] == lane["code"]


def test_an_operation_needs_a_token(anon_client, cal_roll):
    before = row_counts()
    response = anon_client.post(URL, slitting_body(), format="json")
    assert response.status_code == 401
    assert row_counts() == before


def _stock(engineer: Any) -> None:
    """CAL-0007 (520 m), NMC-1 (25 kg), a consumed cell and a held cell."""
    register(engineer, "calendered_roll", 520, "m", code="CAL-0007", polarity="cathode")
    register(engineer, "cathode_active_material", 25, "kg", code="NMC-1")
    register(engineer, "cell", None, None, code="CELL-USED")
    register(engineer, "cell", None, None, code="CELL-HELD")
    operation_record(actor=engineer, step="eol_test", station="FORM-01", inputs=[InputSpec("CELL-USED")], outputs=[])
    hold_place(actor=engineer, reason="swelling", item=Item.objects.get(code="CELL-HELD"))


def _set(path: str, value: Any):
    """A change to the example body: set `value` at a path like "inputs.0.quantity" (None deletes)."""

    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is None:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _cell_test(code: str):
    def change(body: dict[str, Any]) -> None:
        body.clear()
        body.update({"step": "eol_test", "station": "FORM-01", "inputs": [{"item": code}], "outputs": []})

    return change


def _lane(n: int, from_m: float, to_m: float) -> dict[str, Any]:
    return {
        "kind": "slit_roll",
        "quantity": 520,
        "unit": "m",
        "lane": n,
        "from": [{"item": "CAL-0007", "from_m": from_m, "to_m": to_m}],
    }


def _outputs(*outputs: dict[str, Any]):
    def change(body: dict[str, Any]) -> None:
        body["outputs"] = list(outputs)

    return change


# fmt: off
BAD_INPUTS = [
    # (id, change to the example, status, code, field)
    ("unknown step", _set("step", "levitation"), 400, ErrorCode.UNKNOWN_STEP, "step"),
    ("unknown station", _set("station", "NOPE-01"), 400, ErrorCode.UNKNOWN_STATION, "station"),
    ("step not at station", _set("step", "mixing"), 400, ErrorCode.STEP_NOT_AT_STATION, "step"),
    ("unknown input", _set("inputs.0.item", "CAL-9999"), 400, ErrorCode.UNKNOWN_ITEM, "inputs[0].item"),
    ("unknown output kind", _set("outputs.0.kind", "flux_capacitor"), 400, ErrorCode.UNKNOWN_KIND, "outputs[0].kind"),
    ("negative input", _set("inputs.0.quantity", -5), 400, ErrorCode.BAD_QUANTITY, "inputs[0].quantity"),
    ("zero input", _set("inputs.0.quantity", 0), 400, ErrorCode.BAD_QUANTITY, "inputs[0].quantity"),
    ("input without unit", _set("inputs.0.unit", None), 400, ErrorCode.BAD_UNIT, "inputs[0].unit"),
    ("input bad unit", _set("inputs.0.unit", "parsecs of doom"), 400, ErrorCode.BAD_UNIT, "inputs[0].unit"),
    ("input incompatible unit", _set("inputs.0.unit", "kg"), 400, ErrorCode.INCOMPATIBLE_UNIT, "inputs[0].unit"),
    ("negative output", _set("outputs.0.quantity", -1), 400, ErrorCode.BAD_QUANTITY, "outputs[0].quantity"),
    ("zero output", _set("outputs.0.quantity", 0), 400, ErrorCode.BAD_QUANTITY, "outputs[0].quantity"),
    ("output without unit", _set("outputs.0.unit", None), 400, ErrorCode.BAD_UNIT, "outputs[0].unit"),
    ("output incompatible unit", _set("outputs.0.unit", "L"), 400, ErrorCode.INCOMPATIBLE_UNIT, "outputs[0].unit"),
    ("to_m < from_m", _set("outputs.0.from.0", {"item": "CAL-0007", "from_m": 300, "to_m": 200}), 400,
     ErrorCode.BAD_POSITION, "outputs[0].from[0].to_m"),
    ("to_m == from_m", _set("outputs.0.from.0", {"item": "CAL-0007", "from_m": 200, "to_m": 200}), 400,
     ErrorCode.BAD_POSITION, "outputs[0].from[0].to_m"),
    ("negative from_m", _set("outputs.0.from.0.from_m", -1), 400, ErrorCode.BAD_POSITION,
     "outputs[0].from[0].from_m"),
    ("only from_m", _set("outputs.0.from.0.to_m", None), 400, ErrorCode.BAD_POSITION, "outputs[0].from[0].to_m"),
    ("to_m beyond the parent", _set("outputs.0.from.0.to_m", 521), 400, ErrorCode.BAD_POSITION,
     "outputs[0].from[0].to_m"),
    ("more than is left", _set("inputs.0.quantity", 521), 409, ErrorCode.INSUFFICIENT_QUANTITY, "inputs[0].quantity"),
    ("more than is left, in km", _set("inputs.0", {"item": "CAL-0007", "quantity": 0.6, "unit": "km"}), 409,
     ErrorCode.INSUFFICIENT_QUANTITY, "inputs[0].quantity"),
    ("from names a non-input", _set("outputs.0.from.0.item", "NMC-1"), 400, ErrorCode.FROM_NOT_AN_INPUT,
     "outputs[0].from[0].item"),
    ("scrap of a non-input", _set("scrap.0.item", "NMC-1"), 400, ErrorCode.FROM_NOT_AN_INPUT, "scrap[0].item"),
    ("scrap too small to store", _set("scrap.0.quantity", 1e-7), 400, ErrorCode.BAD_QUANTITY, "scrap[0].quantity"),
    ("scrap too big to store", _set("scrap.0", {"item": "CAL-0007", "quantity": 5e14, "unit": "pm", "reason": "x"}),
     400, ErrorCode.BAD_QUANTITY, "scrap[0].quantity"),
    ("output too big to store", _set("outputs.0.quantity", 1e300), 400, ErrorCode.BAD_QUANTITY,
     "outputs[0].quantity"),
    ("consumed input", _cell_test("CELL-USED"), 409, ErrorCode.ITEM_CONSUMED, "inputs[0].item"),
    ("held input", _cell_test("CELL-HELD"), 409, ErrorCode.ITEM_ON_HOLD, "inputs[0].item"),
    ("output code in use", _set("outputs.0.code", "NMC-1"), 409, ErrorCode.DUPLICATE_CODE, "outputs"),
    ("ends before it starts", _set("ended_at", "2026-03-02T07:59:00+01:00"), 400, InvalidInput.code, "ended_at"),
    ("quantity not a number", _set("inputs.0.quantity", "lots"), 400, InvalidInput.code, "inputs[0].quantity"),
    ("inputs not a list", _set("inputs", "CAL-0007"), 400, InvalidInput.code, "inputs"),
    ("lane zero", _set("outputs.0.lane", 0), 400, InvalidInput.code, "outputs[0].lane"),
    ("from without item", _set("outputs.0.from.0.item", None), 400, InvalidInput.code, "outputs[0].from[0].item"),
    ("last output bad", _outputs(_lane(1, 0, 520), _lane(2, 0, 520), _lane(3, 0, 600)), 400,
     ErrorCode.BAD_POSITION, "outputs[2].from[0].to_m"),
    ("last output unknown kind",
     _outputs(_lane(1, 0, 520), _lane(2, 0, 520) | {"kind": "slit_rol"}), 400,
     ErrorCode.UNKNOWN_KIND, "outputs[1].kind"),
]
# fmt: on


@pytest.mark.parametrize(
    ("change", "status", "code", "field"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_names_the_field_and_writes_nothing(operator_client, engineer, stations, change, status, code, field):
    _stock(engineer)
    body = copy.deepcopy(slitting_body())
    change(body)
    before = row_counts()
    states = {code_: item_state(code_) for code_ in ("CAL-0007", "NMC-1", "CELL-USED", "CELL-HELD")}

    response = operator_client.post(URL, body, format="json")

    assert response.status_code == status, response.json()
    payload = response.json()
    assert payload["code"] == code
    # A list given as something else carries DRF's "non_field_errors" under the field's name.
    assert field in payload["errors"] or f"{field}.non_field_errors" in payload["errors"], payload
    assert payload["detail"]
    assert row_counts() == before
    assert {code_: item_state(code_) for code_ in states} == states


def test_malformed_json_is_a_400_and_writes_nothing(operator_client, cal_roll):
    before = row_counts()
    response = operator_client.post(URL, '{"step": "slitting", "inputs": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == ErrorCode.MALFORMED
    assert "body" in response.json()["errors"]
    assert row_counts() == before


def test_a_good_operation_after_refused_ones_still_works(operator_client, cal_roll):
    """A refused operation leaves no lock, no half-taken quantity and no burnt code behind."""
    bad = slitting_body(outputs=[_lane(1, 0, 520), _lane(2, 0, 999)])
    assert operator_client.post(URL, bad, format="json").status_code == 400
    response = operator_client.post(URL, slitting_body(), format="json")
    assert response.status_code == 201
    assert response.json()["outputs"][0]["code"] == "SLT-000001"


def test_partial_consumption_over_http_reports_what_was_taken(operator_client, engineer, stations):
    register(engineer, "binder", 5, "kg", code="PVDF-1")
    body = {
        "step": "mixing",
        "station": "MIX-01",
        "inputs": [{"item": "PVDF-1", "quantity": 250, "unit": "g"}],
        "outputs": [{"kind": "slurry", "quantity": 250, "unit": "g", "polarity": "cathode"}],
    }
    response = operator_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["inputs"] == [{"item": "PVDF-1", "quantity": 0.25, "unit": "kg", "consumed": False}]
    item = operator_client.get("/api/items/PVDF-1/").json()
    assert (item["status"], item["quantity"], item["unit"]) == ("active", 4.75, "kg")
    [slurry] = response.json()["outputs"]
    assert (slurry["quantity"], slurry["unit"], slurry["polarity"]) == (250.0, "g", "cathode")


def test_operations_list_filters_by_item(operator_client, line, django_assert_num_queries):
    lane = line.lanes[0].code
    # token + user with its role groups, operations page, then one prefetch each for inputs,
    # outputs and scrap (the page size does not change the count).
    with django_assert_num_queries(5):
        response = operator_client.get(URL, {"item": lane})
    assert response.status_code == 200
    steps = sorted(op["step"] for op in response.json()["results"])
    # Made by slitting, consumed by cutting.
    assert steps == ["cutting", "slitting"]
