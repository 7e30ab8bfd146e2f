"""What an operation is asked to do (the specs) and what it will write (the plans).

operation_record (services) checks and shapes every output into an OutputPlan before it writes
anything; an OutputPlan's edges say which stretch of which input each output came from.
"""

from dataclasses import dataclass, field
from typing import Any

from core.errors import Conflict, ErrorCode, InvalidInput
from core.values import number
from lots.models import Item, ItemKind, Polarity
from lots.services import kind_get, kind_quantity, length_of

from .models import OperationInput, Scrap

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
    made_from: list[StretchSpec] | None = None  # the API's "from"
    scrap_reason: str | None = None
    # A supplier's GS1 identity of the output (captured EPCIS TransformationEvents): lots.Item's fields.
    gtin: str = ""
    supplier_lot: str = ""
    gs1_serial: str = ""


@dataclass(frozen=True)
class ScrapSpec:
    item: str
    quantity: float
    unit: str
    reason: str


@dataclass(frozen=True)
class EdgePlan:
    """One lineage edge into an output: the parent's stretch used and the child's stretch made,
    in metres; None for the whole item."""

    parent: Item
    parent_from_m: float | None = None
    parent_to_m: float | None = None
    child_from_m: float | None = None
    child_to_m: float | None = None
    reversed: bool = False

    @property
    def positioned(self) -> bool:
        return self.parent_from_m is not None and self.parent_to_m is not None

    @property
    def span(self) -> float:
        """Metres of the parent used; 0 for the whole item."""
        if self.parent_from_m is None or self.parent_to_m is None:
            return 0.0
        return self.parent_to_m - self.parent_from_m


@dataclass(frozen=True)
class OutputPlan:
    spec: OutputSpec
    kind: ItemKind
    value: float  # in `unit`, the kind's stored unit
    unit: str
    edges: list[EdgePlan]


@dataclass
class InputPlan:
    """The inputs taken (their rows, with the items' new quantity and status) and the scrap."""

    rows: list[OperationInput]
    scrap: list[Scrap]


def _stretch_parse(stretch: StretchSpec, parent: Item | None, here: str) -> EdgePlan:
    """One named stretch of an input, checked: both ends or neither, within the parent's length."""
    if parent is None:
        raise InvalidInput(
            f"{stretch.item} is not an input of this operation.", field=f"{here}.item", code=ErrorCode.FROM_NOT_AN_INPUT
        )
    if (stretch.from_m is None) != (stretch.to_m is None):
        raise InvalidInput("Give both from_m and to_m, or neither.", field=f"{here}.to_m", code=ErrorCode.BAD_POSITION)
    if stretch.from_m is None or stretch.to_m is None:
        return EdgePlan(parent=parent)
    lo = number(stretch.from_m, field=f"{here}.from_m")
    hi = number(stretch.to_m, field=f"{here}.to_m")
    if lo < 0:
        raise InvalidInput("from_m cannot be negative.", field=f"{here}.from_m", code=ErrorCode.BAD_POSITION)
    if hi <= lo:
        raise InvalidInput("to_m must be greater than from_m.", field=f"{here}.to_m", code=ErrorCode.BAD_POSITION)
    if parent.length_m is None:
        raise InvalidInput(
            f"{parent.code} has no length; positions do not apply.", field=f"{here}.from_m", code=ErrorCode.BAD_POSITION
        )
    if hi > parent.length_m * (1 + EPSILON):
        raise InvalidInput(
            f"to_m {hi:g} is beyond the {parent.length_m:g} m of {parent.code}.",
            field=f"{here}.to_m",
            code=ErrorCode.BAD_POSITION,
        )
    return EdgePlan(parent=parent, parent_from_m=lo, parent_to_m=hi, reversed=stretch.reversed)


def stretches_plan(spec: OutputSpec, index: int, locked: dict[str, Item], child_length: float | None) -> list[EdgePlan]:
    """The edges of an output naming its stretches (the API's "from").

    The child's own length is laid over its stretches in order, each in proportion to the
    stretch's length: calendering 500 m into 520 m gives the one edge a scale of 500/520.
    """
    where = f"outputs[{index}].from"
    parsed = [
        _stretch_parse(stretch, locked.get(stretch.item), f"{where}[{j}]")
        for j, stretch in enumerate(spec.made_from or [])
    ]
    total = sum(edge.span for edge in parsed)
    scale = (child_length / total) if (child_length and total) else 1.0
    result: list[EdgePlan] = []
    offset = 0.0
    for edge in parsed:
        if not edge.positioned:
            result.append(EdgePlan(parent=edge.parent))
            continue
        child_span = edge.span * scale
        result.append(
            EdgePlan(
                parent=edge.parent,
                parent_from_m=edge.parent_from_m,
                parent_to_m=edge.parent_to_m,
                child_from_m=round(offset, 6),
                child_to_m=round(offset + child_span, 6),
                reversed=edge.reversed,
            )
        )
        offset += child_span
    return result


def _output_plan(spec: OutputSpec, index: int, locked: dict[str, Item], kinds: dict[str, ItemKind]) -> OutputPlan:
    where = f"outputs[{index}]."
    kind = kinds.get(spec.kind)
    if kind is None:
        kind = kind_get(spec.kind, field=f"{where}kind")  # raises the field-named error
    value, unit = kind_quantity(
        kind=kind, quantity=spec.quantity, unit=spec.unit, field=where, attributes=spec.attributes
    )
    if spec.made_from is None:
        edges = [EdgePlan(parent=parent) for parent in locked.values()]
    elif not spec.made_from:
        raise InvalidInput("from names at least one input.", field=f"{where}from")
    else:
        edges = stretches_plan(spec, index, locked, length_of(value, unit))
    if spec.polarity is not None and spec.polarity not in Polarity.values:
        raise InvalidInput("Polarity is cathode or anode.", field=f"{where}polarity")
    if spec.polarity is not None and not kind.on_electrode_path:
        raise InvalidInput(f"A {kind.code} has no polarity.", field=f"{where}polarity")
    return OutputPlan(spec=spec, kind=kind, value=value, unit=unit, edges=edges)


def outputs_plan(outputs: list[OutputSpec], locked: dict[str, Item]) -> list[OutputPlan]:
    """Validate and shape every output before anything is written; refuse codes given twice or in use."""
    kinds = {k.code: k for k in ItemKind.objects.all()}
    planned = [_output_plan(spec, index, locked, kinds) for index, spec in enumerate(outputs)]
    given_codes = [plan.spec.code for plan in planned if plan.spec.code]
    if len(set(given_codes)) != len(given_codes):
        raise InvalidInput("Two outputs have the same code.", field="outputs", code=ErrorCode.DUPLICATE_CODE)
    taken = set(Item.objects.filter(code__in=given_codes).values_list("code", flat=True))
    if taken:
        raise Conflict(
            f"Codes already in use: {', '.join(sorted(taken))}.", field="outputs", code=ErrorCode.DUPLICATE_CODE
        )
    return planned
