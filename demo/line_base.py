"""The demo line's bookkeeping: a clock, unwinders, and the base every stage of the line builds on.

Everything is written by the same service functions the API calls, so the demo data obeys every
rule the line obeys; nothing is inserted behind the services' back.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User

from lots.models import Item
from lots.services import item_register
from traceability.models import Operation
from traceability.services import InputSpec, OutputSpec, ScrapSpec, StretchSpec, operation_record, station_create

from .line_data import LINE_START, LOTS, STATIONS


@dataclass
class LineClock:
    """Sequential time on the line: each call books the next slot at a station."""

    now: datetime

    def slot(self, minutes: float, *, pause: float = 0) -> tuple[datetime, datetime]:
        start = self.now
        end = start + timedelta(minutes=minutes)
        self.now = end + timedelta(minutes=pause)
        return start, end

    def skip(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@dataclass(frozen=True)
class Unwound:
    """A stretch taken from a partly used roll: the operation's input and the lineage edge's parent."""

    input: InputSpec
    stretch: StretchSpec


@dataclass
class Unwinder:
    """Hands out consecutive stretches of a roll that is only partly used (separator, pouch foil)."""

    code: str
    position_m: float = 0.0

    def take(self, length_m: float) -> Unwound:
        start = self.position_m
        self.position_m = round(start + length_m, 6)
        return Unwound(
            input=InputSpec(item=self.code, quantity=length_m, unit="m", consume=False),
            stretch=StretchSpec(item=self.code, from_m=start, to_m=self.position_m),
        )


@dataclass
class Electrode:
    """What one polarity produced, kept for the assembly stages."""

    lanes: dict[int, Item]
    good_sheets: list[Item] = field(default_factory=list)


class LineBase:
    """State shared by the stages of the line, and the one way they record an operation."""

    def __init__(self, actor: User) -> None:
        self.actor = actor
        self.clock = LineClock(LINE_START)
        self.lots: dict[str, Item] = {}
        self.made: dict[str, dict[str, Item]] = {}  # polarity -> {"slurry", "coated", "calendered"}
        self.stacks: list[Item] = []
        self.welded: list[Item] = []
        self.cells: list[Item] = []
        # (step, code of an item the operation made or passed through) -> the operation
        self.operations: dict[tuple[str, str], Operation] = {}

    def op(
        self,
        step: str,
        station: str,
        *,
        minutes: float,
        inputs: Sequence[InputSpec],
        outputs: Sequence[OutputSpec] = (),
        parameters: dict[str, Any] | None = None,
        scrap: Sequence[ScrapSpec] = (),
        pause: float = 5,
    ) -> list[Item]:
        """Record one operation in the next time slot; returns its outputs."""
        started, ended = self.clock.slot(minutes, pause=pause)
        result = operation_record(
            actor=self.actor,
            step=step,
            station=station,
            started_at=started,
            ended_at=ended,
            inputs=list(inputs),
            outputs=list(outputs),
            parameters=parameters,
            scrap=list(scrap),
        )
        for code in [*(item.code for item in result.outputs), *(i.item for i in inputs if i.consume is False)]:
            self.operations[(step, code)] = result.operation
        return result.outputs

    def build_stations(self) -> None:
        for spec in STATIONS:
            station_create(actor=self.actor, code=spec.code, name=spec.name, steps=spec.steps, room=spec.room)

    def receive_lots(self) -> None:
        """Goods receipt on the Friday before the run."""
        received = LINE_START - timedelta(days=3, hours=-2)
        for spec in LOTS:
            self.lots[spec.key] = item_register(
                actor=self.actor,
                kind=spec.kind,
                quantity=spec.quantity,
                unit=spec.unit,
                supplier_lot=spec.supplier_lot,
                attributes=spec.attributes,
                created_at=received,
            )
