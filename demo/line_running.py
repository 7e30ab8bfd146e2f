"""What is still running when the demo ends: an anode roll in the calender, an open run.

The morning after the line, a short anode roll is coated from the rest of the anode slurry, then
calendering starts the way the station page starts a run (traceability.runs.run_start, no
`ended_at`). The values the calender's caliper then sends with only the station and the time go
to the roll being made, at the metre the line speed gives (measurement_record, as
`POST /api/measurements/` with a station). The station page of CAL-01 offers to finish the run.
"""

from dataclasses import dataclass, replace
from datetime import timedelta

from lots.models import Item
from measurements.models import Measurement, Source
from measurements.services import MeasurementInput, measurement_record
from traceability.models import Operation
from traceability.runs import run_start
from traceability.services import InputSpec, OutputSpec, StretchSpec

from .line_data import ANODE, CATHODE, LINE_START, RUNNING_CALENDERING, step_parameters
from .line_electrodes import ElectrodeStages

RUNNING = RUNNING_CALENDERING
CALENDER = "CAL-01"


@dataclass(frozen=True)
class RunningCalendering:
    operation: Operation
    roll: Item  # the calendered roll being made
    values: list[Measurement]  # sent by station and time, assigned to the roll


class RunningStages(ElectrodeStages):
    """The electrode stages, and one more roll through them that is still in the calender."""

    def calender_running(self) -> RunningCalendering:
        """Coat a short roll at 08:00 the morning after the line's last operation, start
        calendering it (open), and record the caliper's values of the run's first minutes."""
        recipe = ANODE if RUNNING["polarity"] == ANODE.polarity else CATHODE
        local = self.clock.now.astimezone(LINE_START.tzinfo) + timedelta(days=1)
        self.clock.now = local.replace(hour=8, minute=0, second=0, microsecond=0)
        made = dict(self.made[recipe.polarity])
        short = replace(recipe, coated_m=RUNNING["coated_m"], slurry_for_coating_kg=RUNNING["slurry_for_coating_kg"])
        coated = self.coat(short, made["slurry"])
        self.made[recipe.polarity] = made  # the measurements and the report speak of the first roll
        started, length = self.clock.now, float(RUNNING["calendered_m"])
        result = run_start(
            actor=self.actor,
            step="calendering",
            station=CALENDER,
            started_at=started,
            inputs=[InputSpec(item=coated.code)],
            outputs=[
                OutputSpec(
                    kind="calendered_roll",
                    quantity=length,
                    unit="m",
                    made_from=[StretchSpec(item=coated.code, from_m=0, to_m=short.coated_m, reversed=True)],
                )
            ],
            parameters=step_parameters("calendering", recipe.polarity),
        )
        values = [
            measurement_record(
                actor=self.actor,
                data=MeasurementInput(
                    parameter="electrode_thickness_calendered",
                    value=value,
                    unit="um",
                    station=CALENDER,
                    measured_at=started + timedelta(minutes=minute),
                    source=Source.ONLINE,
                    instrument=RUNNING["caliper"],
                ),
            ).measurement
            for minute, value in enumerate(RUNNING["thickness_um"], start=1)
        ]
        return RunningCalendering(operation=result.operation, roll=result.outputs[0], values=values)
