"""A lane with sheets cut around metres 12.0-13.5, for the stretch hold tests (API and pages)."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import User

from lots.models import Item
from tests.factories import T0, register
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

# Sheets SH-0..SH-4 cut from lane metres 11.5-12.0, 12.0-12.5, ... 13.5-14.0: SH-0 and SH-4 only
# touch 12.0-13.5. The lane gives 2.5 m and stays active (consume=false).
SHEETS = [(11.5 + 0.5 * i, 12.0 + 0.5 * i) for i in range(5)]


@dataclass
class CutLane:
    lane: Item
    sheets: list[Item] = field(default_factory=list)
    cell_held: Item = field(default=None)  # type: ignore[assignment]  # of SH-2 (12.5-13.0)
    cell_free: Item = field(default=None)  # type: ignore[assignment]  # of SH-0 (11.5-12.0), touching


def cut_lane(actor: User, code: str = "LANE-1") -> CutLane:
    """Needs the `stations` fixture (CUT-01, STK-01)."""
    lane = register(actor, "slit_roll", 104, "m", code=code, polarity="cathode")
    cutting = operation_record(
        actor=actor,
        step="cutting",
        station="CUT-01",
        started_at=T0,
        inputs=[InputSpec(lane.code, 2.5, "m", consume=False)],
        outputs=[
            OutputSpec(kind="electrode_sheet", code=f"SH-{i}", made_from=[StretchSpec(lane.code, lo, hi)])
            for i, (lo, hi) in enumerate(SHEETS)
        ],
    )
    made = CutLane(lane=lane, sheets=cutting.outputs)
    for name, sheet in (("cell_held", 2), ("cell_free", 0)):
        stacking = operation_record(
            actor=actor,
            step="stacking",
            station="STK-01",
            started_at=T0 + timedelta(hours=1, minutes=sheet),
            inputs=[InputSpec(made.sheets[sheet].code)],
            outputs=[OutputSpec(kind="cell")],
        )
        setattr(made, name, stacking.outputs[0])
    return made
