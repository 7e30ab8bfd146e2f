"""The rows an operation writes for its outputs: the output items and the lineage edges, made
from the plans (plans.py) once every check has passed; operation_record (services) saves them."""

from collections import defaultdict

from core.units import to_decimal
from lots.identifiers import epc_normalize
from lots.models import Item, ItemLevel, ItemStatus
from lots.services import codes_allocate, length_of

from .models import LineageEdge, Operation, OperationInput
from .plans import OutputPlan


def edges_into_carriers(rows: list[OperationInput], operation: Operation) -> list[LineageEdge]:
    """Material added to an item that passes through (electrolyte filled into a cell).

    An operation without outputs whose inputs include instance items taken with consume=false
    (the carriers) makes every material it took a parent of each carrier, so the electrolyte lot
    shows in the cell's trace and a recall of that lot catches the cell.
    """
    carriers = [r.item for r in rows if r.item.kind.level == ItemLevel.INSTANCE and r.passes_through]
    materials = [r.item for r in rows if not r.passes_through]
    return [
        LineageEdge(parent=material, child=carrier, operation=operation)
        for carrier in carriers
        for material in materials
    ]


def _inherited_polarity(parents: list[Item]) -> str | None:
    polarities = {p.polarity for p in parents if p.polarity}
    return polarities.pop() if len(polarities) == 1 else None


def _output_item(plan: OutputPlan, code: str, operation: Operation) -> Item:
    spec, kind, edges = plan.spec, plan.kind, plan.edges
    polarity = spec.polarity
    if polarity is None and kind.on_electrode_path:
        polarity = _inherited_polarity([edge.parent for edge in edges])
    attributes = dict(spec.attributes)
    if spec.lane is not None:
        attributes.setdefault("lane", spec.lane)
    if spec.scrap_reason:
        attributes["scrap_reason"] = spec.scrap_reason
    length = length_of(plan.value, plan.unit)
    if length is None and edges and all(edge.positioned for edge in edges):
        # A sheet's own metres are the stretches it was cut from.
        length = round(sum(edge.span for edge in edges), 6)
    return Item(
        code=code,
        kind=kind,
        status=ItemStatus.SCRAPPED if spec.scrap_reason else ItemStatus.ACTIVE,
        quantity=to_decimal(plan.value),
        initial_quantity=to_decimal(plan.value),
        unit=plan.unit,
        length_m=length,
        polarity=polarity,
        rfid_epc=epc_normalize(spec.rfid_epc) if spec.rfid_epc else None,
        gtin=spec.gtin,
        supplier_lot=spec.supplier_lot,
        gs1_serial=spec.gs1_serial,
        attributes=attributes,
        created_at=operation.ended_at or operation.started_at,
        created_by=operation.created_by,
        station=operation.station,
        produced_by=operation,
    )


def outputs_make(planned: list[OutputPlan], operation: Operation) -> list[Item]:
    """The output items, with fresh codes for those that brought none (one UPDATE ... RETURNING
    per kind prefix); not yet saved."""
    need: dict[str, int] = defaultdict(int)
    for plan in planned:
        if not plan.spec.code:
            need[plan.kind.code_prefix] += 1
    fresh = {prefix: iter(codes_allocate(prefix=prefix, count=n)) for prefix, n in need.items()}
    return [_output_item(plan, plan.spec.code or next(fresh[plan.kind.code_prefix]), operation) for plan in planned]


def edges_make(items: list[Item], planned: list[OutputPlan], operation: Operation) -> list[LineageEdge]:
    return [
        LineageEdge(
            parent=edge.parent,
            child=child,
            operation=operation,
            parent_from_m=edge.parent_from_m,
            parent_to_m=edge.parent_to_m,
            child_from_m=edge.child_from_m,
            child_to_m=edge.child_to_m,
            reversed=edge.reversed,
            lane=plan.spec.lane,
        )
        for child, plan in zip(items, planned, strict=True)
        for edge in plan.edges
    ]
