"""operation_record: converging and diverging flows, consumption, polarity, parameters, edges."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import Conflict, ErrorCode, InvalidInput
from lots.models import Item, ItemStatus
from tests.factories import T0, register
from tests.traceability.helpers import row_counts
from traceability.models import LineageEdge, Operation, OperationInput, Scrap
from traceability.services import InputSpec, OutputSpec, ScrapSpec, StretchSpec, operation_record

pytestmark = pytest.mark.django_db


def _lots(actor):
    return {
        "nmc": register(actor, "cathode_active_material", 25, "kg", code="NMC-1"),
        "carbon": register(actor, "conductive_additive", 5, "kg", code="C65-1"),
        "pvdf": register(actor, "binder", 5, "kg", code="PVDF-1"),
    }


def _mix(actor, **output):
    return operation_record(
        actor=actor,
        step="mixing",
        station="MIX-01",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        inputs=[InputSpec("NMC-1", 9.2, "kg"), InputSpec("C65-1", 0.4, "kg"), InputSpec("PVDF-1", 400, "g")],
        outputs=[OutputSpec(kind="slurry", quantity=10, unit="kg", **output)],
        parameters={"mixing_speed": {"value": 2000, "unit": "rpm"}, "mixing_time": {"value": 45, "unit": "min"}},
    )


def test_converging_flow_output_without_from_descends_from_every_input(operator, stations):
    _lots(operator)
    result = _mix(operator, polarity="cathode")
    slurry = result.outputs[0]
    edges = LineageEdge.objects.filter(child=slurry)
    assert sorted(e.parent.code for e in edges) == ["C65-1", "NMC-1", "PVDF-1"]
    # A whole-item edge: no positions on either side.
    assert {(e.parent_from_m, e.parent_to_m, e.child_from_m, e.child_to_m) for e in edges} == {(None, None, None, None)}
    assert {e.operation_id for e in edges} == {result.operation.pk}
    slurry.refresh_from_db()
    assert slurry.kind_id == "slurry"
    assert slurry.polarity == "cathode"
    assert slurry.produced_by_id == result.operation.pk
    assert slurry.station.code == "MIX-01"
    assert slurry.created_by == operator
    assert slurry.code.startswith("SLR-")


def test_partial_consumption_lowers_remaining_quantity_with_unit_conversion(operator, stations):
    _lots(operator)
    result = _mix(operator)
    nmc, carbon, pvdf = (Item.objects.get(code=c) for c in ("NMC-1", "C65-1", "PVDF-1"))
    assert nmc.quantity == Decimal("15.8")
    assert carbon.quantity == Decimal("4.6")
    # 400 g taken from a lot counted in kg.
    assert pvdf.quantity == Decimal("4.6")
    assert pvdf.unit == "kg"
    assert {nmc.status, carbon.status, pvdf.status} == {ItemStatus.ACTIVE}
    # What was registered stays what was registered.
    assert pvdf.initial_quantity == Decimal("5")
    taken = {row.item.code: row for row in OperationInput.objects.filter(operation=result.operation)}
    assert taken["PVDF-1"].quantity == Decimal("0.4")
    assert taken["PVDF-1"].unit == "kg"
    assert not any(row.consumed for row in taken.values())


def test_consuming_the_rest_marks_the_item_consumed(operator, stations):
    _lots(operator)
    _mix(operator)
    # 15.8 kg are left; take them as grams.
    result = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec("NMC-1", 15800, "g")],
        outputs=[OutputSpec(kind="slurry", quantity=16, unit="kg")],
    )
    nmc = Item.objects.get(code="NMC-1")
    assert nmc.status == ItemStatus.CONSUMED
    assert nmc.quantity == 0
    assert result.inputs[0].consumed is True
    with pytest.raises(Conflict) as excinfo:
        operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec("NMC-1", 1, "g")],
            outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg")],
        )
    assert excinfo.value.code == ErrorCode.ITEM_CONSUMED
    assert "inputs[0].item" in excinfo.value.errors


def test_a_batch_input_without_quantity_is_taken_whole(operator, stations):
    _lots(operator)
    operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec("C65-1")],
        outputs=[OutputSpec(kind="slurry", quantity=5, unit="kg")],
    )
    assert Item.objects.get(code="C65-1").status == ItemStatus.CONSUMED
    assert OperationInput.objects.get(item__code="C65-1").quantity == Decimal("5")


def test_consume_true_on_a_partial_quantity_marks_consumed_and_keeps_the_rest_recorded(operator, stations):
    _lots(operator)
    operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec("NMC-1", 5, "kg", consume=True)],
        outputs=[OutputSpec(kind="slurry", quantity=5, unit="kg")],
    )
    nmc = Item.objects.get(code="NMC-1")
    assert nmc.status == ItemStatus.CONSUMED
    assert nmc.quantity == Decimal("20")


def test_instance_input_is_consumed_by_default_and_passes_through_with_consume_false(operator, stations):
    sheet = register(operator, "electrode_sheet", None, None, code="ES-X1", polarity="cathode")
    cell = register(operator, "cell", None, None, code="CELL-X1")
    operation_record(actor=operator, step="stacking", station="STK-01", inputs=[InputSpec(sheet.code)], outputs=[])
    operation_record(
        actor=operator, step="formation", station="FORM-01", inputs=[InputSpec(cell.code, consume=False)], outputs=[]
    )
    sheet.refresh_from_db()
    cell.refresh_from_db()
    assert sheet.status == ItemStatus.CONSUMED
    assert cell.status == ItemStatus.ACTIVE
    assert OperationInput.objects.get(item=cell).consumed is False
    assert OperationInput.objects.get(item=cell).quantity == 0


def test_machine_parameters_are_stored(operator, stations):
    _lots(operator)
    result = _mix(operator)
    stored = Operation.objects.get(pk=result.operation.pk)
    assert stored.parameters == {
        "mixing_speed": {"value": 2000.0, "unit": "rpm"},
        "mixing_time": {"value": 45.0, "unit": "min"},
    }
    assert stored.step_id == "mixing"
    assert stored.station.code == "MIX-01"
    assert stored.started_at == T0
    assert stored.ended_at == T0 + timedelta(hours=1)
    assert stored.created_by == operator


def test_a_parameter_with_a_bad_unit_is_refused(operator, stations):
    _lots(operator)
    before = row_counts()
    with pytest.raises(InvalidInput) as excinfo:
        operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec("NMC-1", 1, "kg")],
            outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg")],
            parameters={"mixing_speed": {"value": 2000, "unit": "furlongs per bogus"}},
        )
    assert excinfo.value.code == ErrorCode.BAD_UNIT
    assert "parameters.mixing_speed.unit" in excinfo.value.errors
    assert row_counts() == before


def test_polarity_is_inherited_along_the_electrode_path(operator, stations):
    _lots(operator)
    slurry = _mix(operator, polarity="anode").outputs[0]
    foil = register(operator, "current_collector_foil", 500, "m", code="CU-1")
    coated = operation_record(
        actor=operator,
        step="coating",
        station="COAT-01",
        inputs=[InputSpec(slurry.code, 5, "kg"), InputSpec(foil.code, 50, "m")],
        outputs=[OutputSpec(kind="coated_roll", quantity=50, unit="m")],
    ).outputs[0]
    # The foil has no polarity; the slurry's is the only one, so the roll is an anode roll.
    assert coated.polarity == "anode"
    lanes = operation_record(
        actor=operator,
        step="slitting",
        station="SLT-01",
        inputs=[InputSpec(coated.code)],
        outputs=[
            OutputSpec(kind="slit_roll", quantity=50, unit="m", lane=n, made_from=[StretchSpec(coated.code, 0, 50)])
            for n in (1, 2)
        ],
    ).outputs
    assert [lane.polarity for lane in lanes] == ["anode", "anode"]
    sheet = operation_record(
        actor=operator,
        step="cutting",
        station="CUT-01",
        inputs=[InputSpec(lanes[0].code, 0.5, "m")],
        outputs=[OutputSpec(kind="electrode_sheet", made_from=[StretchSpec(lanes[0].code, 0, 0.5)])],
    ).outputs[0]
    assert Item.objects.get(pk=sheet.pk).polarity == "anode"


def test_mixed_polarities_are_not_guessed(operator, stations):
    cathode = register(operator, "slurry", 10, "kg", code="SLR-C", polarity="cathode")
    anode = register(operator, "slurry", 10, "kg", code="SLR-A", polarity="anode")
    out = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(cathode.code, 1, "kg"), InputSpec(anode.code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=2, unit="kg")],
    ).outputs[0]
    assert out.polarity is None


def test_diverging_flow_roll_to_lanes_to_sheets(operator, stations):
    roll = register(operator, "calendered_roll", 104, "m", code="CAL-D", polarity="cathode")
    slit = operation_record(
        actor=operator,
        step="slitting",
        station="SLT-01",
        inputs=[InputSpec(roll.code)],
        outputs=[
            OutputSpec(kind="slit_roll", quantity=104, unit="m", lane=n, made_from=[StretchSpec(roll.code, 0, 104)])
            for n in (1, 2, 3, 4)
        ],
    )
    lanes = slit.outputs
    assert len(lanes) == 4
    assert len({lane.code for lane in lanes}) == 4
    roll.refresh_from_db()
    assert roll.status == ItemStatus.CONSUMED
    edges = list(LineageEdge.objects.filter(parent=roll).order_by("lane"))
    assert [e.lane for e in edges] == [1, 2, 3, 4]
    assert [e.child_id for e in edges] == [lane.pk for lane in lanes]
    # Slitting keeps the length: one metre of the lane is one metre of the roll.
    assert {(e.parent_from_m, e.parent_to_m, e.child_from_m, e.child_to_m, e.reversed) for e in edges} == {
        (0.0, 104.0, 0.0, 104.0, False)
    }
    assert [lane.attributes["lane"] for lane in lanes] == [1, 2, 3, 4]
    assert all(lane.length_m == 104 for lane in lanes)

    lane = lanes[2]
    sheets = operation_record(
        actor=operator,
        step="cutting",
        station="CUT-01",
        inputs=[InputSpec(lane.code, 5, "m")],
        outputs=[
            OutputSpec(kind="electrode_sheet", made_from=[StretchSpec(lane.code, 12.3 + 0.25 * i, 12.55 + 0.25 * i)])
            for i in range(10)
        ],
    ).outputs
    assert len(sheets) == 10
    lane.refresh_from_db()
    # A partial cut of a roll leaves the rest active.
    assert lane.status == ItemStatus.ACTIVE
    assert lane.quantity == Decimal("99")
    sheet_edges = list(LineageEdge.objects.filter(parent=lane).order_by("parent_from_m"))
    assert [e.child_id for e in sheet_edges] == [s.pk for s in sheets]
    seventh = sheet_edges[6]
    assert seventh.parent_from_m == pytest.approx(13.8)
    assert seventh.parent_to_m == pytest.approx(14.05)
    # A sheet's own stretch is its whole self: its 0.25 m.
    assert (seventh.child_from_m, seventh.child_to_m) == (0.0, pytest.approx(0.25))
    assert sheets[6].length_m == pytest.approx(0.25)
    assert {s.quantity for s in sheets} == {Decimal("1")}
    assert {s.status for s in sheets} == {ItemStatus.ACTIVE}


def test_calendering_edge_maps_the_whole_child_onto_the_parent_stretch_reversed(operator, stations):
    coated = register(operator, "coated_roll", 500, "m", code="CR-500", polarity="cathode")
    result = operation_record(
        actor=operator,
        step="calendering",
        station="CAL-01",
        inputs=[InputSpec(coated.code)],
        outputs=[
            OutputSpec(
                kind="calendered_roll", quantity=520, unit="m", made_from=[StretchSpec(coated.code, 0, 500, True)]
            )
        ],
        parameters={"line_load": {"value": 1.2, "unit": "kN/mm"}},
    )
    edge = LineageEdge.objects.get(child=result.outputs[0])
    assert (edge.parent_from_m, edge.parent_to_m) == (0.0, 500.0)
    assert (edge.child_from_m, edge.child_to_m) == (0.0, pytest.approx(520.0))
    assert edge.reversed is True
    assert edge.lane is None
    assert result.outputs[0].length_m == pytest.approx(520)
    assert result.outputs[0].polarity == "cathode"
    coated.refresh_from_db()
    # A whole roll given without a quantity is consumed.
    assert coated.status == ItemStatus.CONSUMED


def test_two_stretches_spliced_share_the_child_in_proportion(operator, stations):
    a = register(operator, "coated_roll", 60, "m", code="CR-A", polarity="cathode")
    b = register(operator, "coated_roll", 40, "m", code="CR-B", polarity="cathode")
    out = operation_record(
        actor=operator,
        step="calendering",
        station="CAL-01",
        inputs=[InputSpec(a.code), InputSpec(b.code)],
        outputs=[
            OutputSpec(
                kind="calendered_roll",
                quantity=104,
                unit="m",
                made_from=[StretchSpec(a.code, 10, 60), StretchSpec(b.code, 0, 30, True)],
            )
        ],
    ).outputs[0]
    edges = {e.parent.code: e for e in LineageEdge.objects.filter(child=out)}
    # 50 m + 30 m become 104 m: the first 65 m of the child are CR-A's 50 m, the rest CR-B's 30 m.
    assert edges["CR-A"].child_from_m == 0
    assert edges["CR-A"].child_to_m == pytest.approx(65)
    assert edges["CR-B"].child_from_m == pytest.approx(65)
    assert edges["CR-B"].child_to_m == pytest.approx(104)
    assert edges["CR-B"].reversed is True
    assert edges["CR-A"].reversed is False


def test_scrap_rows_are_written_and_outputs_can_be_scrap(operator, stations):
    roll = register(operator, "calendered_roll", 100, "m", code="CAL-S", polarity="cathode")
    result = operation_record(
        actor=operator,
        step="slitting",
        station="SLT-01",
        inputs=[InputSpec(roll.code, 100, "m")],
        outputs=[
            OutputSpec(kind="slit_roll", quantity=96, unit="m", lane=1, made_from=[StretchSpec(roll.code, 2, 98)]),
            OutputSpec(
                kind="slit_roll", quantity=2, unit="m", scrap_reason="wrinkle", made_from=[StretchSpec(roll.code, 0, 2)]
            ),
        ],
        scrap=[ScrapSpec(roll.code, 200, "cm", "leader")],
    )
    scrap = Scrap.objects.get(operation=result.operation)
    assert (scrap.item_id, scrap.quantity, scrap.unit, scrap.reason) == (roll.pk, Decimal("200"), "cm", "leader")
    assert result.outputs[1].status == ItemStatus.SCRAPPED
    assert result.outputs[1].attributes["scrap_reason"] == "wrinkle"
    assert result.outputs[0].status == ItemStatus.ACTIVE


@pytest.mark.parametrize(
    ("scrap", "code", "field"),
    [
        ([ScrapSpec("NOT-AN-INPUT", 1, "m", "trim")], ErrorCode.FROM_NOT_AN_INPUT, "scrap[0].item"),
        ([ScrapSpec("CAL-S", 11, "m", "trim")], ErrorCode.BAD_QUANTITY, "scrap"),
        ([ScrapSpec("CAL-S", 0, "m", "trim")], ErrorCode.BAD_QUANTITY, "scrap[0].quantity"),
        ([ScrapSpec("CAL-S", 1, "kg", "trim")], ErrorCode.INCOMPATIBLE_UNIT, "scrap[0].unit"),
        ([ScrapSpec("CAL-S", 1, "m", "  ")], InvalidInput.code, "scrap[0].reason"),
    ],
)
def test_bad_scrap_is_refused_and_nothing_is_written(operator, stations, scrap, code, field):
    register(operator, "calendered_roll", 100, "m", code="CAL-S", polarity="cathode")
    before = row_counts()
    with pytest.raises(InvalidInput) as excinfo:
        operation_record(
            actor=operator,
            step="slitting",
            station="SLT-01",
            inputs=[InputSpec("CAL-S", 10, "m")],
            outputs=[OutputSpec(kind="slit_roll", quantity=10, unit="m", made_from=[StretchSpec("CAL-S", 0, 10)])],
            scrap=scrap,
        )
    assert excinfo.value.code == code
    assert field in excinfo.value.errors
    assert row_counts() == before
    assert Item.objects.get(code="CAL-S").quantity == 100


def test_an_input_listed_twice_is_refused(operator, stations):
    _lots(operator)
    with pytest.raises(InvalidInput) as excinfo:
        operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec("NMC-1", 1, "kg"), InputSpec("NMC-1", 1, "kg")],
            outputs=[OutputSpec(kind="slurry", quantity=2, unit="kg")],
        )
    assert "inputs[1].item" in excinfo.value.errors


def test_an_output_code_already_in_use_is_a_conflict(operator, stations):
    _lots(operator)
    before = row_counts()
    with pytest.raises(Conflict) as excinfo:
        operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec("NMC-1", 1, "kg")],
            outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg", code="C65-1")],
        )
    assert excinfo.value.code == ErrorCode.DUPLICATE_CODE
    assert row_counts() == before
    assert Item.objects.get(code="NMC-1").quantity == 25


def test_only_electrode_path_outputs_carry_a_polarity(operator, stations):
    """As at registration (item_register): a cell, stack or lot has no polarity."""
    register(operator, "electrode_sheet", None, None, code="ES-P1", polarity="cathode")
    before = row_counts()
    with pytest.raises(InvalidInput) as excinfo:
        operation_record(
            actor=operator,
            step="stacking",
            station="STK-01",
            inputs=[InputSpec("ES-P1")],
            outputs=[OutputSpec(kind="stack", polarity="cathode")],
        )
    assert "outputs[0].polarity" in excinfo.value.errors
    assert row_counts() == before
    # Not inherited either: a stack of cathode sheets is not a cathode.
    stack = operation_record(
        actor=operator, step="stacking", station="STK-01", inputs=[InputSpec("ES-P1")], outputs=[OutputSpec("stack")]
    ).outputs[0]
    assert stack.polarity is None
