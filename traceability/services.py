"""Writes of the line: stations and operations (with their lineage). Holds: holds.py; the output
items and edges an operation writes: outputs.py."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput
from core.units import parse_unit, quantity_in_kind_unit, to_decimal
from core.values import moment_check, number
from lots.models import Item, ItemLevel, ItemStatus
from lots.services import item_snapshot, item_status_set, status_check

from .models import PASSES_THROUGH, LineageEdge, Operation, OperationInput, Scrap, Station, Step
from .outputs import edges_into_carriers, edges_make, outputs_make
from .plans import (
    EPSILON,
    InputPlan,
    InputSpec,
    OutputSpec,
    ScrapSpec,
    StretchSpec,
    outputs_plan,
)
from .signals import operation_recorded
from .stretches import held_stretches_check

# The specs are part of this module's interface (api, web and cutting build them from here).
__all__ = ["EPSILON", "InputSpec", "OutputSpec", "ScrapSpec", "StretchSpec"]


@dataclass
class OperationResult:
    operation: Operation
    inputs: list[OperationInput]
    outputs: list[Item]


def step_get(code: object, *, field: str = "step") -> Step:
    try:
        return Step.objects.get(code=code)
    except (Step.DoesNotExist, ValueError, TypeError):
        raise InvalidInput(f"Unknown step {code!r}.", field=field, code=ErrorCode.UNKNOWN_STEP) from None


def station_unknown(code: object, *, field: str = "station") -> InvalidInput:
    """The 400 of a station code that names no station."""
    return InvalidInput(f"Unknown station {code!r}.", field=field, code=ErrorCode.UNKNOWN_STATION)


def station_get(code: object, *, field: str = "station") -> Station:
    try:
        return Station.objects.get(code=code)
    except (Station.DoesNotExist, ValueError, TypeError):
        raise station_unknown(code, field=field) from None


@transaction.atomic
def station_create(*, actor: Actor, code: str, name: str, steps: list[str], room: str = "") -> Station:
    if Station.objects.filter(code=code).exists():
        raise Conflict(f"Station {code!r} exists.", field="code", code=ErrorCode.DUPLICATE_CODE)
    step_objects = [step_get(s, field=f"steps[{i}]") for i, s in enumerate(steps)]
    if not step_objects:
        raise InvalidInput("A station runs at least one step.", field="steps")
    station = Station.objects.create(code=code, name=name, room=room)
    station.steps.set(step_objects)
    audit_record(
        actor=actor,
        action="station.create",
        entity="station",
        entity_id=code,
        after={"code": code, "name": name, "room": room, "steps": steps},
    )
    return station


def _parameters_check(parameters: dict[str, Any]) -> dict[str, Any]:
    """Machine parameters: {code: {"value": number, "unit": "pint unit"}} (unit optional)."""
    checked: dict[str, Any] = {}
    for code, entry in parameters.items():
        where = f"parameters.{code}"
        if not isinstance(entry, dict) or "value" not in entry:
            raise InvalidInput('Each parameter is {"value": ..., "unit": ...}.', field=where)
        value = entry["value"]
        if not isinstance(value, str):
            value = number(value, field=f"{where}.value")
        unit = entry.get("unit")
        if unit is not None:
            parse_unit(unit, field=f"{where}.unit")
        checked[code] = {"value": value, "unit": unit} if unit is not None else {"value": value}
    return checked


def _lock_inputs(inputs: list[InputSpec]) -> dict[str, Item]:
    """Lock every input row, in primary-key order so that two stations never deadlock (holds
    take theirs in the same order). The rows read are the last committed ones, after any wait,
    so an input a hold caught meanwhile is refused as on hold."""
    codes = [spec.item for spec in inputs]
    seen: set[str] = set()
    for index, code in enumerate(codes):
        if code in seen:
            raise InvalidInput(f"{code} is listed twice.", field=f"inputs[{index}].item")
        seen.add(code)
    locked = {
        item.code: item
        for item in Item.objects.select_for_update(of=("self",))
        .select_related("kind")
        .filter(code__in=codes)
        .order_by("pk")
    }
    for index, code in enumerate(codes):
        if code not in locked:
            raise InvalidInput(f"Unknown item {code!r}.", field=f"inputs[{index}].item", code=ErrorCode.UNKNOWN_ITEM)
    return locked


def _in_item_unit(item: Item, amount: float, unit: str, *, where: str, action: str) -> float:
    """`amount` `unit` of `item` in the item's own unit; kg of a litre-item through its density."""
    if not isinstance(unit, str):
        parse_unit(unit, field=f"{where}.unit")  # raises the field-named error
    value, _unit = quantity_in_kind_unit(
        item.kind,
        amount,
        unit,
        item.attributes.get("density") if isinstance(item.attributes, dict) else None,
        target=item.unit,
        subject=f"{item.kind_id} {item.code}",
        action=action,
        field=f"{where}.unit",
        value_field=f"{where}.quantity",
    )
    return value


def _scrap_rows(
    scrap: list[ScrapSpec], locked: dict[str, Item], operation: Operation
) -> tuple[list[Scrap], dict[str, float]]:
    """Scrap rows (the part of what an input gave that went into no output: edge trim), and
    how much of each input they scrap, in the item's unit."""
    scrapped: dict[str, float] = defaultdict(float)
    rows: list[Scrap] = []
    for index, cut in enumerate(scrap):
        where = f"scrap[{index}]"
        if cut.item not in locked:
            raise InvalidInput(
                f"{cut.item} is not an input of this operation.",
                field=f"{where}.item",
                code=ErrorCode.FROM_NOT_AN_INPUT,
            )
        if not cut.reason.strip():
            raise InvalidInput("A reason is required.", field=f"{where}.reason")
        item = locked[cut.item]
        amount = number(cut.quantity, field=f"{where}.quantity")
        if amount <= 0:
            raise InvalidInput("The quantity must be positive.", field=f"{where}.quantity", code=ErrorCode.BAD_QUANTITY)
        # Stored as given, in a numeric(20, 6) column that must stay > 0: refuse what it cannot hold.
        if not 1e-6 <= round(amount, 6) < 1e14:
            raise InvalidInput(
                "The quantity must be between 0.000001 and 10**14.",
                field=f"{where}.quantity",
                code=ErrorCode.BAD_QUANTITY,
            )
        scrapped[cut.item] += _in_item_unit(item, amount, cut.unit, where=where, action="scrap")
        rows.append(
            Scrap(operation=operation, item=item, quantity=to_decimal(amount), unit=cut.unit, reason=cut.reason)
        )
    return rows, scrapped


def _taken(spec: InputSpec, item: Item, where: str) -> float:
    """How much of `item` the input takes, in the item's unit."""
    if spec.quantity is None:
        # consume=false without a quantity: the item passes through (a cell at formation).
        return float(PASSES_THROUGH) if spec.consume is False else float(item.quantity)
    amount = number(spec.quantity, field=f"{where}.quantity")
    if amount <= 0:
        raise InvalidInput("The quantity must be positive.", field=f"{where}.quantity", code=ErrorCode.BAD_QUANTITY)
    if spec.unit is None:
        raise InvalidInput("A unit is required with a quantity.", field=f"{where}.unit", code=ErrorCode.BAD_UNIT)
    return _in_item_unit(item, amount, spec.unit, where=where, action="consume")


def _input_row(spec: InputSpec, item: Item, scrapped: float, where: str, operation: Operation) -> OperationInput:
    """Check the input can be taken; lower the item's remaining quantity; mark it consumed."""
    status_check(item, ItemStatus.CONSUMED, field=f"{where}.item")
    remaining = float(item.quantity)
    taken = _taken(spec, item, where)
    left = remaining - taken
    if left < -EPSILON * max(1.0, remaining):
        raise Conflict(
            f"{item.code} has {remaining:g} {item.unit} left; {taken:g} {item.unit} were asked for.",
            field=f"{where}.quantity",
            code=ErrorCode.INSUFFICIENT_QUANTITY,
        )
    if scrapped > taken * (1 + EPSILON):
        raise InvalidInput(
            f"More of {item.code} is scrapped ({scrapped:g} {item.unit}) than taken.",
            field="scrap",
            code=ErrorCode.BAD_QUANTITY,
        )
    left = max(left, 0.0)
    whole = left <= EPSILON * max(1.0, remaining)
    consume = (
        spec.consume
        if spec.consume is not None
        else (item.kind.level == ItemLevel.INSTANCE or whole or (item.kind.is_roll and spec.quantity is None))
    )
    item.quantity = to_decimal(0.0 if whole else left)
    if consume or whole:
        item.status = ItemStatus.CONSUMED  # written by _inputs_save
    return OperationInput(
        operation=operation,
        item=item,
        quantity=to_decimal(taken),
        unit=item.unit,
        consumed=item.status == ItemStatus.CONSUMED,
    )


def _take_inputs(
    inputs: list[InputSpec], locked: dict[str, Item], scrap: list[ScrapSpec], operation: Operation
) -> InputPlan:
    scrap_rows, scrapped = _scrap_rows(scrap, locked, operation)
    rows = [
        _input_row(spec, locked[spec.item], scrapped[spec.item], f"inputs[{index}]", operation)
        for index, spec in enumerate(inputs)
    ]
    return InputPlan(rows=rows, scrap=scrap_rows)


def _inputs_save(items: list[Item], *, actor: Actor, operation: Operation) -> None:
    """One UPDATE per distinct remaining quantity (twenty sheets stacked into a cell are one
    statement, where bulk_update would build a CASE per row); the consumed ones through
    item_status_set, which records the change."""
    groups: dict[Any, list[int]] = defaultdict(list)
    for item in items:
        groups[item.quantity].append(item.pk)
    for quantity, ids in groups.items():
        Item.objects.filter(pk__in=ids).update(quantity=quantity)
    consumed = [item.pk for item in items if item.status == ItemStatus.CONSUMED]
    if consumed:
        item_status_set(consumed, ItemStatus.CONSUMED, actor=actor, operation=operation, reason="consumed")


def _operation_new(
    *, actor: Actor, step: str, station: str, started_at: datetime | None, ended_at: datetime | None, **rest: Any
) -> Operation:
    """The operation, checked (not saved): the station runs the step, times in range and in order."""
    step_obj = step_get(step)
    station_obj = station_get(station)
    if not station_obj.steps.filter(pk=step_obj.pk).exists():
        raise InvalidInput(f"Station {station} does not run {step}.", field="step", code=ErrorCode.STEP_NOT_AT_STATION)
    started = moment_check(started_at, field="started_at") if started_at else timezone.now()
    if ended_at is not None:
        moment_check(ended_at, field="ended_at")
    if ended_at is not None and ended_at < started:
        raise InvalidInput("ended_at is before started_at.", field="ended_at")
    if not rest["inputs"] and not rest["outputs"]:
        raise InvalidInput("An operation takes inputs or makes outputs.", field="inputs")
    return Operation(
        step=step_obj,
        station=station_obj,
        started_at=started,
        ended_at=ended_at,
        parameters=_parameters_check(rest["parameters"] or {}),
        created_by=actor_user(actor),
    )


def _operation_audit(
    actor: Actor, operation: Operation, before: list[dict[str, Any]], taken: InputPlan, items: list[Item]
) -> None:
    audit_record(
        actor=actor,
        action="operation.record",
        entity="operation",
        entity_id=operation.pk,
        station=operation.station.code,
        before={"inputs": before},
        after={
            "step": operation.step.code,
            "inputs": [item_snapshot(row.item) | {"taken": str(row.quantity)} for row in taken.rows],
            "outputs": [item.code for item in items],
            "scrap": [
                {"item": s.item.code, "quantity": str(s.quantity), "unit": s.unit, "reason": s.reason}
                for s in taken.scrap
            ],
        },
    )


@transaction.atomic
def operation_record(
    *,
    actor: Actor,
    step: str,
    station: str,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
    parameters: dict[str, Any] | None = None,
    scrap: list[ScrapSpec] | None = None,
) -> OperationResult:
    """Record one execution of a step: take the inputs, make the outputs, write the lineage.
    Everything is checked before anything is written; `operation_recorded` is sent inside the
    transaction (measurements records the machine parameters)."""
    operation = _operation_new(
        actor=actor,
        step=step,
        station=station,
        started_at=started_at,
        ended_at=ended_at,
        inputs=inputs,
        outputs=outputs,
        parameters=parameters,
    )
    locked = _lock_inputs(inputs)
    before = [item_snapshot(item) for item in locked.values()]
    taken = _take_inputs(inputs, locked, scrap or [], operation)
    planned = outputs_plan(outputs, locked)
    held_stretches_check(
        inputs=[(f"inputs[{i}]", row.item, float(row.quantity)) for i, row in enumerate(taken.rows)],
        outputs=[plan.edges for plan in planned],
    )
    items = outputs_make(planned, operation)
    operation.save()
    Item.objects.bulk_create(items)
    edges = edges_make(items, planned, operation)
    edges += edges_into_carriers(taken.rows, operation) if not items else []
    LineageEdge.objects.bulk_create(edges)
    OperationInput.objects.bulk_create(taken.rows)
    Scrap.objects.bulk_create(taken.scrap)
    _inputs_save([row.item for row in taken.rows], actor=actor, operation=operation)
    operation_recorded.send(sender=Operation, operation=operation, actor=actor)
    _operation_audit(actor, operation, before, taken, items)
    return OperationResult(operation=operation, inputs=taken.rows, outputs=items)
