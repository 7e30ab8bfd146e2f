"""Writes of the line: stations, operations (with their lineage), holds and releases."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput
from core.units import parse_unit, quantity_in_kind_unit, to_decimal
from core.values import moment_check, number
from lots.identifiers import epc_normalize
from lots.models import Item, ItemKind, ItemStatus, Level, Polarity
from lots.services import (
    codes_allocate,
    item_snapshot,
    kind_get,
    kind_quantity,
    length_of,
    status_check,
)

from .models import LineageEdge, Operation, OperationInput, Scrap, Station, Step
from .stretches import held_stretches_check

# Tolerance for comparing metres and quantities that went through unit conversion.
EPSILON = 1e-6


@dataclass(frozen=True)
class InputSpec:
    item: str
    quantity: float | None = None
    unit: str | None = None
    consume: bool | None = None


@dataclass(frozen=True)
class StretchSpec:
    item: str
    from_m: float | None = None
    to_m: float | None = None
    reversed: bool = False


@dataclass(frozen=True)
class OutputSpec:
    kind: str
    quantity: float | None = None
    unit: str | None = None
    code: str | None = None
    lane: int | None = None
    polarity: str | None = None
    rfid_epc: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    sources: list[StretchSpec] | None = None  # the API's "from"
    scrap_reason: str | None = None


@dataclass(frozen=True)
class ScrapSpec:
    item: str
    quantity: float
    unit: str
    reason: str


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


def station_get(code: object, *, field: str = "station") -> Station:
    try:
        return Station.objects.get(code=code)
    except (Station.DoesNotExist, ValueError, TypeError):
        raise InvalidInput(f"Unknown station {code!r}.", field=field, code=ErrorCode.UNKNOWN_STATION) from None


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


def _take_inputs(
    inputs: list[InputSpec], locked: dict[str, Item], scrap: list[ScrapSpec], operation: Operation
) -> tuple[list[OperationInput], list[Scrap]]:
    """Check each input can be taken; lower remaining quantities; mark consumed ones.

    Scrap is the part of what an input gave that did not go into any output (edge trim).
    """
    scrapped: dict[str, float] = defaultdict(float)
    scrap_rows: list[Scrap] = []
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
        scrap_rows.append(
            Scrap(operation=operation, item=item, quantity=to_decimal(amount), unit=cut.unit, reason=cut.reason)
        )

    rows: list[OperationInput] = []
    for index, spec in enumerate(inputs):
        where = f"inputs[{index}]"
        item = locked[spec.item]
        status_check(item, ItemStatus.CONSUMED, field=f"{where}.item")
        remaining = float(item.quantity)
        if spec.quantity is None:
            # consume=false without a quantity: the item passes through (a cell at formation).
            taken = 0.0 if spec.consume is False else remaining
        else:
            amount = number(spec.quantity, field=f"{where}.quantity")
            if amount <= 0:
                raise InvalidInput(
                    "The quantity must be positive.", field=f"{where}.quantity", code=ErrorCode.BAD_QUANTITY
                )
            if spec.unit is None:
                raise InvalidInput(
                    "A unit is required with a quantity.", field=f"{where}.unit", code=ErrorCode.BAD_UNIT
                )
            taken = _in_item_unit(item, amount, spec.unit, where=where, action="consume")
        left = remaining - taken
        if left < -EPSILON * max(1.0, remaining):
            raise Conflict(
                f"{item.code} has {remaining:g} {item.unit} left; {taken:g} {item.unit} were asked for.",
                field=f"{where}.quantity",
                code=ErrorCode.INSUFFICIENT_QUANTITY,
            )
        if scrapped[spec.item] > taken * (1 + EPSILON):
            raise InvalidInput(
                f"More of {item.code} is scrapped ({scrapped[spec.item]:g} {item.unit}) than taken.",
                field="scrap",
                code=ErrorCode.BAD_QUANTITY,
            )
        left = max(left, 0.0)
        whole = left <= EPSILON * max(1.0, remaining)
        consume = (
            spec.consume
            if spec.consume is not None
            else (item.kind.level == Level.INSTANCE or whole or (item.kind.is_roll and spec.quantity is None))
        )
        item.quantity = to_decimal(0.0 if whole else left)
        if consume or whole:
            item.status = ItemStatus.CONSUMED
        rows.append(
            OperationInput(
                operation=operation,
                item=item,
                quantity=to_decimal(taken),
                unit=item.unit,
                consumed=item.status == ItemStatus.CONSUMED,
            )
        )
    return rows, scrap_rows


def _stretches(
    spec: OutputSpec, index: int, locked: dict[str, Item], child_length: float | None
) -> list[tuple[Item, float | None, float | None, float | None, float | None, bool]]:
    """(parent, parent_from, parent_to, child_from, child_to, reversed) per named stretch.

    The child's own length is laid over its stretches in order, each in proportion to the
    stretch's length: calendering 500 m into 520 m gives the one edge a scale of 500/520.
    """
    where = f"outputs[{index}].from"
    parsed: list[tuple[Item, float | None, float | None, bool]] = []
    for j, stretch in enumerate(spec.sources or []):
        here = f"{where}[{j}]"
        parent = locked.get(stretch.item)
        if parent is None:
            raise InvalidInput(
                f"{stretch.item} is not an input of this operation.",
                field=f"{here}.item",
                code=ErrorCode.FROM_NOT_AN_INPUT,
            )
        if (stretch.from_m is None) != (stretch.to_m is None):
            raise InvalidInput(
                "Give both from_m and to_m, or neither.", field=f"{here}.to_m", code=ErrorCode.BAD_POSITION
            )
        if stretch.from_m is not None and stretch.to_m is not None:
            lo = number(stretch.from_m, field=f"{here}.from_m")
            hi = number(stretch.to_m, field=f"{here}.to_m")
            if lo < 0:
                raise InvalidInput("from_m cannot be negative.", field=f"{here}.from_m", code=ErrorCode.BAD_POSITION)
            if hi <= lo:
                raise InvalidInput(
                    "to_m must be greater than from_m.", field=f"{here}.to_m", code=ErrorCode.BAD_POSITION
                )
            if parent.length_m is None:
                raise InvalidInput(
                    f"{parent.code} has no length; positions do not apply.",
                    field=f"{here}.from_m",
                    code=ErrorCode.BAD_POSITION,
                )
            if hi > parent.length_m * (1 + EPSILON):
                raise InvalidInput(
                    f"to_m {hi:g} is beyond the {parent.length_m:g} m of {parent.code}.",
                    field=f"{here}.to_m",
                    code=ErrorCode.BAD_POSITION,
                )
            parsed.append((parent, lo, hi, stretch.reversed))
        else:
            parsed.append((parent, None, None, False))

    positioned = [(p, lo, hi) for p, lo, hi, _ in parsed if lo is not None and hi is not None]
    total = sum(hi - lo for _, lo, hi in positioned)
    scale = (child_length / total) if (child_length and total) else 1.0
    result: list[tuple[Item, float | None, float | None, float | None, float | None, bool]] = []
    offset = 0.0
    for parent, start, end, rev in parsed:
        if start is None or end is None:
            result.append((parent, None, None, None, None, False))
            continue
        child_span = (end - start) * scale
        result.append((parent, start, end, round(offset, 6), round(offset + child_span, 6), rev))
        offset += child_span
    return result


def _inputs_save(items: list[Item]) -> None:
    """One UPDATE per distinct (status, quantity): twenty sheets stacked into a cell are one
    statement, where bulk_update would build a CASE per row."""
    groups: dict[tuple[str, Any], list[int]] = defaultdict(list)
    for item in items:
        groups[(item.status, item.quantity)].append(item.pk)
    for (status, quantity), ids in groups.items():
        Item.objects.filter(pk__in=ids).update(status=status, quantity=quantity)


def _edges_into_carriers(rows: list[OperationInput], operation: Operation) -> list[LineageEdge]:
    """Material added to an item that passes through (electrolyte filled into a cell).

    An operation without outputs whose inputs include instance items taken with consume=false
    (the carriers) makes every material it took a parent of each carrier, so the electrolyte lot
    shows in the cell's trace and a recall of that lot catches the cell.
    """
    carriers = [r.item for r in rows if r.item.kind.level == Level.INSTANCE and r.quantity == 0]
    materials = [r.item for r in rows if r.quantity > 0]
    return [
        LineageEdge(parent=material, child=carrier, operation=operation)
        for carrier in carriers
        for material in materials
    ]


def _inherited_polarity(parents: list[Item]) -> str | None:
    polarities = {p.polarity for p in parents if p.polarity}
    return polarities.pop() if len(polarities) == 1 else None


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
    """Record one execution of a step: take the inputs, make the outputs, write the lineage."""
    step_obj = step_get(step)
    station_obj = station_get(station)
    if not station_obj.steps.filter(pk=step_obj.pk).exists():
        raise InvalidInput(f"Station {station} does not run {step}.", field="step", code=ErrorCode.STEP_NOT_AT_STATION)
    started = moment_check(started_at, field="started_at") if started_at else timezone.now()
    if ended_at is not None:
        moment_check(ended_at, field="ended_at")
    if ended_at is not None and ended_at < started:
        raise InvalidInput("ended_at is before started_at.", field="ended_at")
    if not inputs and not outputs:
        raise InvalidInput("An operation takes inputs or makes outputs.", field="inputs")

    operation = Operation(
        step=step_obj,
        station=station_obj,
        started_at=started,
        ended_at=ended_at,
        parameters=_parameters_check(parameters or {}),
        created_by=actor_user(actor),
    )
    locked = _lock_inputs(inputs)
    before = [item_snapshot(item) for item in locked.values()]
    input_rows, scrap_rows = _take_inputs(inputs, locked, scrap or [], operation)
    kinds = {k.code: k for k in ItemKind.objects.all()}

    # Validate and shape every output before writing anything.
    planned: list[tuple[OutputSpec, ItemKind, float, str, list[tuple[Any, ...]]]] = []
    given_codes: list[str] = []
    for index, spec in enumerate(outputs):
        where = f"outputs[{index}]."
        kind = kinds.get(spec.kind)
        if kind is None:
            kind = kind_get(spec.kind, field=f"{where}kind")  # raises the field-named error
        value, unit = kind_quantity(
            kind=kind, quantity=spec.quantity, unit=spec.unit, field=where, attributes=spec.attributes
        )
        child_length = length_of(value, unit)
        if spec.sources is None:
            stretches: list[tuple[Any, ...]] = [(p, None, None, None, None, False) for p in locked.values()]
        else:
            if not spec.sources:
                raise InvalidInput("from names at least one input.", field=f"{where}from")
            stretches = _stretches(spec, index, locked, child_length)
        if spec.polarity is not None and spec.polarity not in Polarity.values:
            raise InvalidInput("Polarity is cathode or anode.", field=f"{where}polarity")
        if spec.polarity is not None and not kind.on_electrode_path:
            raise InvalidInput(f"A {kind.code} has no polarity.", field=f"{where}polarity")
        if spec.code:
            given_codes.append(spec.code)
        planned.append((spec, kind, value, unit, stretches))
    if len(set(given_codes)) != len(given_codes):
        raise InvalidInput("Two outputs have the same code.", field="outputs", code=ErrorCode.DUPLICATE_CODE)
    taken = set(Item.objects.filter(code__in=given_codes).values_list("code", flat=True))
    if taken:
        raise Conflict(
            f"Codes already in use: {', '.join(sorted(taken))}.", field="outputs", code=ErrorCode.DUPLICATE_CODE
        )

    held_stretches_check(
        inputs=[(f"inputs[{i}]", row.item, float(row.quantity)) for i, row in enumerate(input_rows)],
        outputs=[stretches for *_spec, stretches in planned],
    )

    # Codes for outputs that brought none: one UPDATE ... RETURNING per kind prefix.
    need: dict[str, int] = defaultdict(int)
    for spec, kind, *_ in planned:
        if not spec.code:
            need[kind.code_prefix] += 1
    fresh = {prefix: iter(codes_allocate(prefix=prefix, count=n)) for prefix, n in need.items()}

    operation.save()
    now = ended_at or started
    user = operation.created_by
    items: list[Item] = []
    for spec, kind, value, unit, stretches in planned:
        polarity = spec.polarity
        if polarity is None and kind.on_electrode_path:
            polarity = _inherited_polarity([s[0] for s in stretches])
        attributes = dict(spec.attributes)
        if spec.lane is not None:
            attributes.setdefault("lane", spec.lane)
        if spec.scrap_reason:
            attributes["scrap_reason"] = spec.scrap_reason
        length = length_of(value, unit)
        if length is None and stretches and all(s[1] is not None for s in stretches):
            # A sheet's own metres are the stretches it was cut from.
            length = round(sum(s[2] - s[1] for s in stretches), 6)
        items.append(
            Item(
                code=spec.code or next(fresh[kind.code_prefix]),
                kind=kind,
                status=ItemStatus.SCRAPPED if spec.scrap_reason else ItemStatus.ACTIVE,
                quantity=to_decimal(value),
                initial_quantity=to_decimal(value),
                unit=unit,
                length_m=length,
                polarity=polarity,
                rfid_epc=epc_normalize(spec.rfid_epc) if spec.rfid_epc else None,
                attributes=attributes,
                created_at=now,
                created_by=user,
                station=station_obj,
                produced_by=operation,
            )
        )
    Item.objects.bulk_create(items)
    edges = [
        LineageEdge(
            parent=parent,
            child=child,
            operation=operation,
            parent_from_m=p_from,
            parent_to_m=p_to,
            child_from_m=c_from,
            child_to_m=c_to,
            reversed=rev,
            lane=spec.lane,
        )
        for child, (spec, _kind, _value, _unit, stretches) in zip(items, planned, strict=True)
        for parent, p_from, p_to, c_from, c_to, rev in stretches
    ]
    edges += _edges_into_carriers(input_rows, operation) if not items else []
    LineageEdge.objects.bulk_create(edges)
    OperationInput.objects.bulk_create(input_rows)
    Scrap.objects.bulk_create(scrap_rows)
    _inputs_save([row.item for row in input_rows])
    if operation.parameters:
        # Imported here: measurements builds on traceability, not the other way round.
        from measurements.services import operation_parameters_record

        operation_parameters_record(actor=actor, operation=operation)
    audit_record(
        actor=actor,
        action="operation.record",
        entity="operation",
        entity_id=operation.pk,
        station=station_obj.code,
        before={"inputs": before},
        after={
            "step": step_obj.code,
            "inputs": [item_snapshot(row.item) | {"taken": str(row.quantity)} for row in input_rows],
            "outputs": [item.code for item in items],
            "scrap": [
                {"item": s.item.code, "quantity": str(s.quantity), "unit": s.unit, "reason": s.reason}
                for s in scrap_rows
            ],
        },
    )
    return OperationResult(operation=operation, inputs=input_rows, outputs=items)
