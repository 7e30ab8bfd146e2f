"""What the demo's measurements work on: the line's items (`LineMade`), the rows being written
(`MeasurementRows`: canonical units, flags, one bulk INSERT and one audit event per kind of data),
and the result the summary prints (`DemoMeasurements`)."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from audit.services import Actor, actor_user, audit_record
from lots.models import Item
from measurements.models import Measurement, Parameter
from measurements.selectors_limits import LimitBook
from measurements.services import Linear, linear_to_canonical, out_of_range
from traceability.models import Operation

from .measure_data import How


@dataclass(frozen=True)
class ElectrodeMade:
    """One polarity's items, as load_demo made them."""

    polarity: str
    active_lot: Item
    foil: Item
    slurry: Item
    coated: Item
    calendered: Item
    lanes: Sequence[Item]
    mass_loading_mg_cm2: float
    solid_content_pct: float
    slurry_density_g_cm3: float


@dataclass(frozen=True)
class LineMade:
    electrodes: Sequence[ElectrodeMade]
    electrolyte: Item
    stacks: Sequence[Item]
    welded: Sequence[Item]
    cells: Sequence[Item]
    rejects: Sequence[str]  # codes of the cells that fail the end-of-line capacity check
    curve_cell: Item  # the cell whose formation curve is stored as a series
    operations: Mapping[tuple[str, str], Operation]  # (step, code of an item it made or passed) -> operation
    dry_room: str


@dataclass(frozen=True)
class Defect:
    coated: str
    coated_from_m: float
    coated_to_m: float
    calendered: str
    values: int  # mass-loading values out of limits
    cells: list[str]  # the cells whose upstream measurements include them


@dataclass
class DemoMeasurements:
    counts: dict[str, int] = field(default_factory=dict)  # kind of data -> rows
    flagged: dict[str, int] = field(default_factory=dict)  # kind of data -> rows out of range or limits
    defect: Defect | None = None
    curve_cell: str = ""
    curve_points: int = 0


class MeasurementRows:
    """Measurement rows of one kind of data, in canonical units and flagged, written at once."""

    def __init__(self, actor: Actor, parameters: dict[str, Parameter], limits: LimitBook) -> None:
        self.actor = actor
        self.limits = limits
        self.user = actor_user(actor)
        self.parameters = parameters
        self.linears: dict[tuple[str, str], Linear] = {}
        self.rows: list[Measurement] = []

    def add(
        self,
        code: str,
        value: float,
        unit: str,
        at: datetime,
        how: How,
        *,
        item: Item | None = None,
        operation: Operation | None = None,
        room: str = "",
        position_m: float | None = None,
        uncertainty: float | None = None,
    ) -> Measurement:
        parameter = self.parameters[code]
        linear = self.linears.get((code, unit))
        if linear is None:
            linear = self.linears[(code, unit)] = linear_to_canonical(unit, parameter)
        canonical = linear(value)
        row = Measurement(
            parameter=parameter,
            item=item,
            operation=operation,
            station_id=operation.station_id if operation is not None else None,
            room=room,
            position_m=position_m,
            measured_at=at,
            source=how.source,
            instrument=how.instrument,
            method=how.method,
            uncertainty=abs(linear.scale) * uncertainty if uncertainty is not None else None,
            value=canonical,
            sent_value=value,
            sent_unit=unit,
            out_of_range=out_of_range(parameter, [canonical]),
            out_of_limits=self.limits.check(parameter.pk, item.pk if item is not None else None, [canonical]),
            created_by=self.user,
        )
        self.rows.append(row)
        return row

    def write(self, kind: str, result: DemoMeasurements) -> None:
        """One bulk INSERT and one audit event for the rows of one kind of data."""
        rows, self.rows = self.rows, []
        Measurement.objects.bulk_create(rows, batch_size=2000)
        flagged = sum(m.out_of_range or m.out_of_limits is True for m in rows)
        per_parameter = Counter(m.parameter.code for m in rows)
        result.counts[kind] = len(rows)
        result.flagged[kind] = flagged
        audit_record(
            actor=self.actor,
            action="measurement.bulk",
            entity="measurement",
            entity_id=f"load_demo:{kind}",
            after={
                "count": len(rows),
                "out_of_range": sum(m.out_of_range for m in rows),
                "out_of_limits": sum(m.out_of_limits is True for m in rows),
                "parameters": dict(sorted(per_parameter.items())),
            },
        )


def end_of(operation: Operation) -> datetime:
    assert operation.ended_at is not None
    return operation.ended_at


def along(operation: Operation, fraction: float) -> datetime:
    assert operation.ended_at is not None
    return operation.started_at + (operation.ended_at - operation.started_at) * fraction
