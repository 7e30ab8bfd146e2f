"""Cutting a lane into sheets with their positions: sheet i of a cut from metre `start_m` at
`pitch_m` is metres [start + i*pitch, start + (i+1)*pitch] of the lane, so a hold on a stretch of
the lane and its roll map reach only the sheets cut from that stretch.

The operation is recorded by `operation_record`, the one path for every operation; this module
only checks the stretch against the lane (under the same row locks) and names the stretch each
sheet is made from.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from audit.services import Actor
from core.errors import ErrorCode, InvalidInput
from core.units import convert
from lots.models import Item

from .models import LineageEdge
from .services import EPSILON, InputSpec, OperationResult, OutputSpec, ScrapSpec, StretchSpec, operation_record

MAX_SHEETS = 500


@dataclass(frozen=True)
class Cut:
    lane: str
    start_m: float
    pitch_m: float
    count: int
    kind: str = "electrode_sheet"

    @property
    def end_m(self) -> float:
        return round(self.start_m + self.count * self.pitch_m, 6)

    def outputs(self) -> list[OutputSpec]:
        return [
            OutputSpec(
                kind=self.kind,
                attributes={"index": i + 1},
                made_from=[
                    StretchSpec(
                        item=self.lane,
                        from_m=round(self.start_m + i * self.pitch_m, 6),
                        to_m=round(self.start_m + (i + 1) * self.pitch_m, 6),
                    )
                ],
            )
            for i in range(self.count)
        ]


def cut_check(cut: Cut, lane: Item) -> None:
    """The stretch is on the lane and no earlier cut took any of it; fields are the page's."""
    if not 1 <= cut.count <= MAX_SHEETS:
        raise InvalidInput(f"The number of sheets is between 1 and {MAX_SHEETS}.", field="output-count")
    if not cut.pitch_m > 0:
        raise InvalidInput("The pitch (metres of lane per sheet) must be positive.", field="cut-pitch")
    if cut.start_m < 0:
        raise InvalidInput("The first metre cannot be negative.", field="cut-from", code=ErrorCode.BAD_POSITION)
    if lane.length_m is not None and cut.end_m > lane.length_m * (1 + EPSILON):
        raise InvalidInput(
            f"{cut.count} sheets of {cut.pitch_m:g} m from metre {cut.start_m:g} end at {cut.end_m:g} m, "
            f"beyond the {lane.length_m:g} m of {lane.code}: make fewer sheets.",
            field="output-count",
            code=ErrorCode.BAD_POSITION,
        )
    taken = (
        LineageEdge.objects.filter(
            parent=lane,
            parent_from_m__lt=cut.end_m - EPSILON,
            parent_to_m__gt=cut.start_m + EPSILON,
        )
        .order_by("parent_from_m")
        .values_list("parent_from_m", "parent_to_m", "child__code")
        .first()
    )
    if taken is not None:
        lo, hi, child = taken
        raise InvalidInput(
            f"Metres {lo:g} to {hi:g} of {lane.code} were already cut (into {child}): "
            f"the stretch {cut.start_m:g} to {cut.end_m:g} m overlaps it. Start at an unused metre.",
            field="cut-from",
            code=ErrorCode.BAD_POSITION,
        )


@transaction.atomic
def cut_record(
    *,
    actor: Actor,
    step: str,
    station: str,
    started_at: datetime | None,
    ended_at: datetime | None,
    inputs: list[InputSpec],
    cut: Cut,
    parameters: dict[str, Any] | None = None,
    scrap: list[ScrapSpec] | None = None,
) -> OperationResult:
    """Record a cut: lock the inputs (pk order, as operation_record does, so no deadlock), check
    the stretch against the cuts already committed, then record through operation_record."""
    codes = [spec.item for spec in inputs]
    locked = {i.code: i for i in Item.objects.select_for_update(of=("self",)).filter(code__in=codes).order_by("pk")}
    lane = locked.get(cut.lane)
    if lane is None:
        raise InvalidInput(f"{cut.lane} is not an input of this operation: scan the lane.", field="inputs")
    cut_check(cut, lane)
    spec = next(s for s in inputs if s.item == cut.lane)
    if spec.quantity is not None and spec.unit:
        taken = convert(spec.quantity, spec.unit, "m", field=f"input-{lane.code}-quantity")
        if cut.end_m - cut.start_m > taken * (1 + EPSILON) + EPSILON:
            raise InvalidInput(
                f"{cut.count} sheets of {cut.pitch_m:g} m need {cut.end_m - cut.start_m:g} m of {lane.code}; "
                f"the take says {taken:g} m. Take more, or make fewer sheets.",
                field=f"input-{lane.code}-quantity",
                code=ErrorCode.BAD_QUANTITY,
            )
    return operation_record(
        actor=actor,
        step=step,
        station=station,
        started_at=started_at,
        ended_at=ended_at,
        inputs=inputs,
        outputs=cut.outputs(),
        parameters=parameters,
        scrap=scrap,
    )
