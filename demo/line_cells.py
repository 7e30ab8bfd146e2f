"""From filling to the end-of-line test, then the rejects and the holds.

None of these steps changes an item's identity: the cell passes through each operation
(consume=False, no quantity) and nothing new comes out.
"""

from lots.models import Item
from traceability.holds import hold_place
from traceability.models import Station
from traceability.scrapping import item_scrap
from traceability.services import InputSpec

from .line_base import Electrode, LineBase
from .line_data import ELECTROLYTE_ML, EOL_REJECTS, HELD_LANE, HELD_STRETCH, step_parameters


class CellStages(LineBase):
    def finish_cells(self) -> None:
        self.fill()
        self.op(
            "wetting",
            "FILL-01",
            minutes=12 * 60,
            inputs=self.everyone(),
            parameters=step_parameters("wetting"),
            pause=10,
        )
        self.each_cell("sealing", "SEAL-01", minutes=1)
        self.formation()
        self.each_cell("degassing", "SEAL-01", minutes=1.5)
        self.clock.skip(30)
        self.op(
            "aging", "FORM-01", minutes=72 * 60, inputs=self.everyone(), parameters=step_parameters("aging"), pause=60
        )
        self.each_cell("eol_test", "EOL-01", minutes=4)

    def everyone(self) -> list[InputSpec]:
        return [InputSpec(item=c.code, consume=False) for c in self.cells]

    def each_cell(self, step: str, station: str, *, minutes: float) -> None:
        """One operation a cell, back to back, the step's parameters each time."""
        for cell in self.cells:
            self.op(
                step,
                station,
                minutes=minutes,
                inputs=[InputSpec(item=cell.code, consume=False)],
                parameters=step_parameters(step),
                pause=0,
            )

    def fill(self) -> None:
        electrolyte = self.lots["electrolyte"].code
        for cell in self.cells:
            self.op(
                "electrolyte_filling",
                "FILL-01",
                minutes=2,
                inputs=[
                    InputSpec(item=cell.code, consume=False),
                    InputSpec(item=electrolyte, quantity=ELECTROLYTE_ML, unit="mL", consume=False),
                ],
                parameters=step_parameters("electrolyte_filling", electrolyte_volume=ELECTROLYTE_ML),
                pause=0,
            )

    def formation(self) -> None:
        """One cycler channel per cell, all channels started together."""
        started = self.clock.now
        for channel, cell in enumerate(self.cells, start=1):
            self.clock.now = started
            self.op(
                "formation",
                "FORM-01",
                minutes=20 * 60,
                inputs=[InputSpec(item=cell.code, consume=False)],
                parameters=step_parameters("formation", channel=f"CH{channel:02d}"),
                pause=30,
            )

    def reject_at_eol(self) -> list[Item]:
        eol = Station.objects.get(code="EOL-01")
        return [
            item_scrap(actor=self.actor, code=self.cells[n - 1].code, reason="capacity below spec", station=eol)
            for n in EOL_REJECTS
        ]

    def hold_lane(self, electrodes: dict[str, Electrode]) -> list[str]:
        """Last, because a held item cannot be consumed: a recall of one anode lane."""
        held = HELD_LANE
        result = hold_place(
            actor=self.actor, item=electrodes[held.polarity].lanes[held.lane], reason=held.reason, downstream=True
        )
        return result.items

    def hold_stretch(self, electrodes: dict[str, Electrode]) -> list[str]:
        """Metres of another anode lane: what holds them is caught, not the lane."""
        held = HELD_STRETCH
        result = hold_place(
            actor=self.actor,
            item=electrodes[held.polarity].lanes[held.lane],
            from_m=held.from_m,
            to_m=held.to_m,
            reason=held.reason,
            downstream=True,
        )
        return result.items
