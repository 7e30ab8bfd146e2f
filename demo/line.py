"""load_demo's line: a small pouch-cell pilot line (one electrode day, then assembly to end-of-line test).

The line: supplier lots -> cathode and anode slurry -> coated and dried rolls -> calendered rolls -> two
slit lanes each, post-dried overnight -> electrode sheets -> 24 stacks -> tab-welded stacks -> 24
pouch cells -> filling, wetting, sealing, formation, degassing, aging, end-of-line test -> two cells
scrapped, one anode lane put on hold with everything made from it, and metres 12.0-13.5 of the
other anode lane held (what was made of them; the lane stays usable). When it ends, a cathode roll
waits at the slitter and an anode roll is in the calender (an open run, demo.line_running); two
lab-file mappings and a disabled connector are saved (demo.configuration).

Every operation carries its machine parameters under catalog codes (demo/data/steps.toml), so
`operation_record` stores them as measurements; the few settings the catalog has no code for stay
in operation.parameters. Then demo.measure_record records what the gauges, the lab, the dry room
and the cycler measured, with one mass-loading dip on the cathode that ends up in a few cells.
"""

from dataclasses import dataclass, replace
from datetime import timedelta

from django.contrib.auth.models import Group, User

from lots.models import Item, ItemStatus

from .configuration import DemoConfiguration, demo_configuration_record
from .line_assembly import AssemblyStages
from .line_base import Electrode
from .line_cells import CellStages
from .line_data import ANODE, CATHODE, DRY_ROOM, LINE_START, LOT_KINDS, WAITING_CATHODE
from .line_running import RunningCalendering, RunningStages
from .measure_record import demo_measurements_record
from .measure_rows import DemoMeasurements, ElectrodeMade, LineMade

DEMO_USER = "demo-engineer"
DEMO_GROUP = "engineer"


@dataclass(frozen=True)
class DemoSummary:
    rejects: list[str]  # cells scrapped at the end-of-line test
    held: list[str]  # everything the lane hold caught
    stretch_held: list[str]  # everything the stretch hold caught
    measurements: DemoMeasurements
    running: RunningCalendering  # the open run at the calender
    configuration: DemoConfiguration  # lab-file mappings, connectors


class DemoLine(RunningStages, AssemblyStages, CellStages):  # RunningStages: the ElectrodeStages and more
    """Builds the demo in line order; each method of the stages is one stage of the line."""

    def build(self) -> DemoSummary:
        self.build_stations()
        self.receive_lots()
        electrodes = self.electrodes((CATHODE, ANODE))
        self.post_dry(list(electrodes.values()))
        self.clock.now = max(self.clock.now, LINE_START + timedelta(days=1))  # assembly starts on day 2
        for recipe in (CATHODE, ANODE):
            self.cut(recipe, electrodes[recipe.polarity])
        self.assemble(electrodes["cathode"], electrodes["anode"])
        self.finish_cells()
        rejects = self.reject_at_eol()
        held = self.hold_lane(electrodes)
        stretch_held = self.hold_stretch(electrodes)
        measured = demo_measurements_record(actor=self.actor, line=self.line_made(electrodes, rejects))
        self.waiting = self.roll_for_the_slitter()
        running = self.calender_running()
        measured.counts["sent by station into the open run"] = len(running.values)
        return DemoSummary(
            rejects=[c.code for c in rejects],
            held=held,
            stretch_held=stretch_held,
            measurements=measured,
            running=running,
            configuration=demo_configuration_record(actor=self.actor),
        )

    def roll_for_the_slitter(self) -> Item:
        """A second cathode roll, coated and calendered from the rest of the slurry, left waiting
        at the slitter: something for a newcomer to slit on the station page."""
        first = dict(self.made["cathode"])
        roll = WAITING_CATHODE
        short = replace(
            CATHODE,
            coated_m=roll.coated_m,
            slurry_for_coating_kg=roll.slurry_for_coating_kg,
            calendered_m=roll.calendered_m,
        )
        waiting = self.calender(short, self.coat(short, first["slurry"]))
        self.made["cathode"] = first  # the measurements and the report speak of the first roll
        return waiting

    def line_made(self, electrodes: dict[str, Electrode], rejects: list[Item]) -> LineMade:
        """What the measurements need to know of the line; the formation curve goes to the example cell."""
        made = [
            ElectrodeMade(
                polarity=recipe.polarity,
                active_lot=next(self.lots[key] for key in recipe.lots if LOT_KINDS[key].endswith("active_material")),
                foil=self.lots[recipe.foil],
                slurry=self.made[recipe.polarity]["slurry"],
                coated=self.made[recipe.polarity]["coated"],
                calendered=self.made[recipe.polarity]["calendered"],
                lanes=list(electrodes[recipe.polarity].lanes.values()),
                mass_loading_mg_cm2=recipe.mass_loading_mg_cm2,
                solid_content_pct=recipe.solid_content_pct,
                slurry_density_g_cm3=recipe.slurry_density_g_cm3,
            )
            for recipe in (CATHODE, ANODE)
        ]
        example = example_cell()
        return LineMade(
            electrodes=made,
            electrolyte=self.lots["electrolyte"],
            stacks=self.stacks,
            welded=self.welded,
            cells=self.cells,
            rejects=[c.code for c in rejects],
            curve_cell=example if example is not None else self.cells[0],
            operations=self.operations,
            dry_room=DRY_ROOM,
        )


def example_cell() -> Item | None:
    """The cell the summary shows: the first one neither scrapped nor held."""
    return Item.objects.filter(kind="cell", status=ItemStatus.ACTIVE).order_by("code").first()


def demo_actor() -> User:
    """The engineer every demo write is attributed to; it has no password (no login)."""
    user, created = User.objects.get_or_create(username=DEMO_USER)
    if created:
        user.set_unusable_password()
        user.save()
    user.groups.add(Group.objects.get_or_create(name=DEMO_GROUP)[0])
    return user
