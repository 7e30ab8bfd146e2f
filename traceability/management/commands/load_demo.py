"""load_demo: a small pouch-cell pilot line (one electrode day, then assembly to end-of-line test).

Everything is written by the same service functions the API calls (`item_register`,
`station_create`, `operation_record`, `item_scrap`, `hold_place`), so the demo data obeys every
rule the line obeys: quantities taken from lots, lineage with positions along rolls, scrap,
statuses, audit rows. Nothing is inserted behind the services' back.

The line: raw lots -> cathode and anode slurry -> coated and dried rolls (500 m) -> calendered
rolls (500 m unwound last metre first, 520 m out) -> two slit lanes each, post-dried overnight ->
electrode sheets -> 24 stacks -> tab-welded stacks -> 24 pouch cells -> filling, wetting,
sealing, formation, degassing, aging, end-of-line test -> two cells scrapped, one anode lane
put on hold with everything made from it, and metres 12.0-13.5 of the other anode lane held (what
was made of them; the lane stays usable). Steps that change no item's identity (drying,
post-drying, filling to end-of-line test) take their item with consume=False and make nothing.

Every operation carries its machine parameters under catalog codes, so `operation_record` stores
them as measurements; the few settings the catalog has no code for stay in operation.parameters.
Then `measurements.demo` records what the gauges, the lab, the dry room and the cycler measured,
with one mass-loading dip on the cathode that ends up in a few cells (the summary names them).
"""

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count

from lots.models import Item, ItemStatus
from lots.services import item_register
from measurements.demo import (
    DEMO_PRODUCT,
    NOMINAL_CAPACITY_AH,
    DemoMeasurements,
    ElectrodeMade,
    LineMade,
    demo_measurements_record,
    demo_measurements_report,
)
from measurements.models import Parameter
from traceability.holds import hold_place
from traceability.models import Operation, Station
from traceability.scrapping import item_scrap
from traceability.services import (
    InputSpec,
    OutputSpec,
    ScrapSpec,
    StretchSpec,
    operation_record,
    station_create,
)

DEMO_USER = "demo-engineer"
DEMO_GROUP = "engineer"
MARKER_STATION = "MIX-01"  # if it exists, the demo is loaded
LINE_START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone(timedelta(hours=1)))
ELECTRODE_HALL = "electrode-hall"
DRY_ROOM = "dry-room-1"
FORMATION_HALL = "formation-hall"  # the cells are sealed: formation, aging and testing leave the dry room

CELLS = 24
CATHODES_PER_STACK = 10
ANODES_PER_STACK = 11  # one more anode than cathodes: anodes face every cathode
EOL_REJECTS = (7, 19)  # cell numbers (1-based) that fail the capacity check
ELECTROLYTE_ML = 10.0  # per cell

# (code, name, steps, room)
STATIONS: tuple[tuple[str, str, list[str], str], ...] = (
    ("MIX-01", "Planetary mixer 1", ["mixing"], ELECTRODE_HALL),
    ("COAT-01", "Slot-die coater with 3-zone dryer", ["coating", "drying"], ELECTRODE_HALL),
    ("CAL-01", "Calender 1", ["calendering"], ELECTRODE_HALL),
    ("SLT-01", "Slitter 1", ["slitting"], ELECTRODE_HALL),
    ("DRY-01", "Vacuum oven 1", ["post_drying"], DRY_ROOM),  # loaded from the dry room side
    ("CUT-01", "Laser notcher 1", ["cutting"], DRY_ROOM),
    ("STK-01", "Z-fold stacker 1", ["stacking"], DRY_ROOM),
    ("WELD-01", "Ultrasonic tab welder 1", ["tab_welding"], DRY_ROOM),
    ("PKG-01", "Pouch former and sealer 1", ["packaging"], DRY_ROOM),
    ("FILL-01", "Electrolyte dosing station 1", ["electrolyte_filling", "wetting"], DRY_ROOM),
    ("SEAL-01", "Vacuum sealer 1", ["sealing", "degassing"], DRY_ROOM),
    ("FORM-01", "Formation cycler 1 (32 channels)", ["formation", "aging"], FORMATION_HALL),
    ("EOL-01", "End-of-line tester 1", ["eol_test"], FORMATION_HALL),
)


@dataclass(frozen=True)
class LotSpec:
    key: str
    kind: str
    quantity: float
    unit: str
    supplier_lot: str
    attributes: dict[str, Any]


# What goods receipt booked in the week before the run. A table, so kept one lot a line.
# fmt: off
LOTS: tuple[LotSpec, ...] = (
    LotSpec("nmc811", "cathode_active_material", 25, "kg", "NMC811-24-1187",
            {"supplier": "Umicore", "material": "NMC811", "d50_um": 12.1, "tap_density_g_cm3": 2.6}),
    LotSpec("graphite", "anode_active_material", 20, "kg", "SG-240915-03",
            {"supplier": "Imerys", "material": "spherical graphite", "d50_um": 17.4, "bet_m2_g": 1.9}),
    LotSpec("carbon_black", "conductive_additive", 5, "kg", "C65-2409-221",
            {"supplier": "Imerys", "material": "Super C65", "bet_m2_g": 62}),
    LotSpec("pvdf", "binder", 5, "kg", "S5130-24-077",
            {"supplier": "Solvay", "material": "PVDF Solef 5130", "for": "cathode"}),
    LotSpec("cmc", "binder", 2, "kg", "CMC-2407-015",
            {"supplier": "Nippon Paper", "material": "CMC MAC500LC", "for": "anode"}),
    LotSpec("sbr", "binder", 2, "kg", "SBR-2408-102",
            {"supplier": "Zeon", "material": "SBR BM-451B", "for": "anode"}),
    LotSpec("nmp", "solvent", 20, "L", "NMP-24-3391",
            {"supplier": "BASF", "material": "NMP", "water_ppm": 180, "density": "1.028 g/mL"}),
    LotSpec("water", "solvent", 50, "L", "DIW-2026-03-01",
            {"supplier": "in-house", "material": "deionised water", "conductivity_uS_cm": 0.8,
             "density": "0.997 g/mL"}),
    LotSpec("al_foil", "current_collector_foil", 1500, "m", "AL15-240812-R07",
            {"supplier": "Hydro", "material": "aluminium", "thickness_um": 15, "width_mm": 110}),
    LotSpec("cu_foil", "current_collector_foil", 1500, "m", "CU8-240903-R12",
            {"supplier": "Circuit Foil", "material": "copper", "thickness_um": 8, "width_mm": 114}),
    LotSpec("separator", "separator", 1000, "m", "SEP-PE12-2410-05",
            {"supplier": "Asahi Kasei", "material": "PE, ceramic coated", "thickness_um": 12, "width_mm": 56}),
    LotSpec("electrolyte", "electrolyte", 5, "L", "LP57-VC2-2411",
            {"supplier": "E-Lyte", "material": "1 M LiPF6 in EC:EMC 3:7 + 2 % VC", "water_ppm": 9,
             "density": "1.205 g/mL"}),
    LotSpec("pouch_foil", "pouch_foil", 100, "m", "PF153-2410-31",
            {"supplier": "DNP", "material": "Al-laminate", "thickness_um": 153, "width_mm": 120}),
    LotSpec("al_tabs", "tab", 200, "count", "TAB-AL-2409-44",
            {"supplier": "Soulbrain", "material": "aluminium", "for": "cathode", "width_mm": 8}),
    LotSpec("ni_tabs", "tab", 200, "count", "TAB-NI-2409-45",
            {"supplier": "Soulbrain", "material": "nickel-plated copper", "for": "anode", "width_mm": 8}),
)
# fmt: on


@dataclass(frozen=True)
class ElectrodeRecipe:
    """One polarity's path from lots to sheets; the numbers are a plausible pilot recipe."""

    polarity: str
    lots: dict[str, tuple[float, str]]  # lot key -> (quantity, unit) into the mixer
    slurry_kg: float
    solid_content_pct: float
    slurry_density_g_cm3: float
    foil: str
    coated_m: float
    slurry_for_coating_kg: float
    mass_loading_mg_cm2: float
    calendered_m: float
    lane_width_mm: float
    sheets_per_lane: int
    sheet_length_m: float
    sheet_pitch_m: float  # sheet plus the gap the notcher cuts away
    burr_sheets: dict[int, tuple[int, ...]]  # lane -> sheet indices rejected at cutting


CATHODE = ElectrodeRecipe(
    polarity="cathode",
    lots={"nmc811": (9.2, "kg"), "carbon_black": (0.4, "kg"), "pvdf": (0.4, "kg"), "nmp": (5.4, "L")},
    slurry_kg=15.5,
    solid_content_pct=65,
    slurry_density_g_cm3=2.02,
    foil="al_foil",
    coated_m=500,
    slurry_for_coating_kg=13.9,
    mass_loading_mg_cm2=18.0,
    calendered_m=520,
    lane_width_mm=48,
    sheets_per_lane=130,
    sheet_length_m=0.150,
    sheet_pitch_m=0.160,
    burr_sheets={1: (17, 88), 2: (54, 121)},
)
ANODE = ElectrodeRecipe(
    polarity="anode",
    lots={
        "graphite": (6.5, "kg"),
        "carbon_black": (0.07, "kg"),
        "cmc": (0.1, "kg"),
        "sbr": (0.15, "kg"),
        "water": (6.8, "L"),
    },
    slurry_kg=13.5,
    solid_content_pct=50,
    slurry_density_g_cm3=1.37,
    foil="cu_foil",
    coated_m=500,
    slurry_for_coating_kg=11.5,
    mass_loading_mg_cm2=11.2,
    calendered_m=520,
    lane_width_mm=50,
    sheets_per_lane=135,
    sheet_length_m=0.154,
    sheet_pitch_m=0.165,
    burr_sheets={1: (23, 64, 111), 2: (40, 97)},
)
HELD_LANE = ("anode", 1)
HOLD_REASON = "Wrinkles along the whole lane (inspection at the slitter)"
# A stretch hold: only the sheets cut from these metres, and what was made of them, are held;
# the lane itself stays usable.
HELD_STRETCH = ("anode", 2, 12.0, 13.5)
STRETCH_REASON = "Thickness deviation at 12.0-13.5 m (laser thickness gauge at the slitter)"


def param(value: float | str, unit: str | None = None) -> dict[str, Any]:
    """One machine parameter in the shape operations store."""
    return {"value": value} if unit is None else {"value": value, "unit": unit}


def formulation(recipe: ElectrodeRecipe) -> dict[str, float]:
    """The dry formulation (percent of the solids) as the catalog's mixing parameters."""
    kinds = {spec.key: spec.kind for spec in LOTS}
    solids = {key: q for key, (q, _unit) in recipe.lots.items() if kinds[key] != "solvent"}  # all in kg
    total = sum(solids.values())

    def share(*of: str) -> float:
        return round(100 * sum(q for key, q in solids.items() if kinds[key] in of) / total, 2)

    return {
        "am_content": share("cathode_active_material", "anode_active_material"),
        "conductive_additive_content": share("conductive_additive"),
        "binder_content": share("binder"),
    }


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


@dataclass
class Unwinder:
    """Hands out consecutive stretches of a roll that is only partly used (separator, pouch foil)."""

    code: str
    position_m: float = 0.0

    def take(self, length_m: float) -> tuple[InputSpec, StretchSpec]:
        start = self.position_m
        self.position_m = round(start + length_m, 6)
        return (
            InputSpec(item=self.code, quantity=length_m, unit="m", consume=False),
            StretchSpec(item=self.code, from_m=start, to_m=self.position_m),
        )


@dataclass
class Electrode:
    """What one polarity produced, kept for the assembly stages."""

    lanes: dict[int, Item]
    good_sheets: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class DemoSummary:
    rejects: list[str]  # cells scrapped at the end-of-line test
    held: list[str]  # everything the lane hold caught
    stretch_held: list[str]  # everything the stretch hold caught
    measurements: DemoMeasurements


class DemoLine:
    """Builds the demo in line order; each method is one stage of the line."""

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

    # --- set-up -------------------------------------------------------------------------

    def build_stations(self) -> None:
        for code, name, steps, room in STATIONS:
            station_create(actor=self.actor, code=code, name=name, steps=steps, room=room)

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

    # --- electrode production -------------------------------------------------------------

    def electrodes(self, recipes: Sequence[ElectrodeRecipe]) -> dict[str, Electrode]:
        """Mix, coat (with its inline dryer), calender and slit: station by station, cathode then
        anode at each, as a pilot line schedules a day to avoid cleaning between polarities twice."""
        slurries = [self.mix(r) for r in recipes]
        coated = [self.coat(r, s) for r, s in zip(recipes, slurries, strict=True)]
        calendered = [self.calender(r, c) for r, c in zip(recipes, coated, strict=True)]
        return {r.polarity: Electrode(lanes=self.slit(r, c)) for r, c in zip(recipes, calendered, strict=True)}

    def mix(self, recipe: ElectrodeRecipe) -> Item:
        """Converging flow: partial quantities of several lots into one slurry batch."""
        inputs = [InputSpec(item=self.lots[key].code, quantity=q, unit=u) for key, (q, u) in recipe.lots.items()]
        (slurry,) = self.op(
            "mixing",
            "MIX-01",
            minutes=90,
            inputs=inputs,
            outputs=[
                OutputSpec(
                    kind="slurry",
                    quantity=recipe.slurry_kg,
                    unit="kg",
                    polarity=recipe.polarity,
                    attributes={"recipe": f"{recipe.polarity}-pilot-v3", "product": DEMO_PRODUCT},
                )
            ],
            parameters={
                "mixer_type": param("planetary, under vacuum"),
                "mixing_speed": param(2000 if recipe.polarity == "cathode" else 1500, "rpm"),
                "mixing_time": param(90, "min"),
                "mixing_temperature": param(25, "degC"),
                **{code: param(share, "percent") for code, share in formulation(recipe).items()},
            },
            pause=15,
        )
        self.made.setdefault(recipe.polarity, {})["slurry"] = slurry
        return slurry

    def coat(self, recipe: ElectrodeRecipe, slurry: Item) -> Item:
        """Coating makes the roll from a stretch of foil and part of the slurry; the inline dryer
        is its own operation (the drying parameters belong to the drying step) over the same
        window, a minute behind the slot die, with the roll passing through."""
        foil = self.lots[recipe.foil]
        length = recipe.coated_m
        speed = 25.0  # m/min, the slowest the dryer's catalog range allows
        slurry_ml = recipe.slurry_for_coating_kg / recipe.slurry_density_g_cm3 * 1000
        cathode = recipe.polarity == "cathode"
        started = self.clock.now
        (coated,) = self.op(
            "coating",
            "COAT-01",
            minutes=length / speed,
            inputs=[
                InputSpec(item=slurry.code, quantity=recipe.slurry_for_coating_kg, unit="kg"),
                InputSpec(item=foil.code, quantity=length, unit="m"),
            ],
            outputs=[
                OutputSpec(
                    kind="coated_roll",
                    quantity=length,
                    unit="m",
                    attributes={
                        "target_mass_loading_mg_cm2": recipe.mass_loading_mg_cm2,
                        "coated_width_mm": recipe.lane_width_mm * 2 + 4,
                        "sides": 2,
                    },
                    sources=[StretchSpec(item=foil.code, from_m=0, to_m=length), StretchSpec(item=slurry.code)],
                )
            ],
            parameters={
                "coating_method": param("slot die"),
                "coating_mode": param("continuous"),
                "coating_speed": param(speed, "m/min"),
                "coating_gap": param(190 if cathode else 230, "µm"),
                "slurry_flow_rate": param(round(slurry_ml / (length / speed), 1), "mL/min"),
                "coating_temperature": param(25, "degC"),
                "web_tension": param(40, "N"),
            },
            pause=0,
        )
        self.made[recipe.polarity]["coated"] = coated
        self.clock.now = started + timedelta(minutes=1)
        self.op(
            "drying",
            "COAT-01",
            minutes=length / speed,
            inputs=[InputSpec(item=coated.code, consume=False)],
            parameters={
                "drying_line_speed": param(speed, "m/min"),
                "drying_type": param("hot-air convection"),
                "drying_protocol": param("3 zones at 80/110/120 degC" if cathode else "3 zones at 60/80/90 degC"),
                "drying_temperature": param(120 if cathode else 90, "degC"),  # the hottest zone
                "drying_air_flow": param(8, "m/s"),
            },
            pause=20,
        )
        return coated

    def calender(self, recipe: ElectrodeRecipe, coated: Item) -> Item:
        """The coated roll was wound at the coater, so the calender unwinds it last metre first."""
        (calendered,) = self.op(
            "calendering",
            "CAL-01",
            minutes=recipe.calendered_m / 20,
            inputs=[InputSpec(item=coated.code)],
            outputs=[
                OutputSpec(
                    kind="calendered_roll",
                    quantity=recipe.calendered_m,
                    unit="m",
                    sources=[StretchSpec(item=coated.code, from_m=0, to_m=recipe.coated_m, reversed=True)],
                )
            ],
            parameters={
                "calendering_line_load": param(10 if recipe.polarity == "cathode" else 4, "kN/cm"),
                "roll_gap": param(110 if recipe.polarity == "cathode" else 135, "µm"),
                "calendering_temperature": param(80 if recipe.polarity == "cathode" else 50, "degC"),
                "calendering_speed": param(20, "m/min"),
            },
            pause=15,
        )
        self.made[recipe.polarity]["calendered"] = calendered
        return calendered

    def slit(self, recipe: ElectrodeRecipe, calendered: Item, lanes: int = 2) -> dict[int, Item]:
        """Diverging flow: one calendered roll into full-length lanes; the trim is scrap."""
        length = recipe.calendered_m
        outputs = [
            OutputSpec(
                kind="slit_roll",
                quantity=length,
                unit="m",
                lane=lane,
                attributes={"width_mm": recipe.lane_width_mm},
                sources=[StretchSpec(item=calendered.code, from_m=0, to_m=length)],
            )
            for lane in range(1, lanes + 1)
        ]
        made = self.op(
            "slitting",
            "SLT-01",
            minutes=length / 100,
            inputs=[InputSpec(item=calendered.code)],
            outputs=outputs,
            parameters={"slitting_speed": param(100, "m/min"), "slitting_tool": param("rotary shear knives")},
            scrap=[ScrapSpec(item=calendered.code, quantity=3, unit="m", reason="edge trim")],
            pause=10,
        )
        return {lane: item for lane, item in enumerate(made, start=1)}

    def post_dry(self, electrodes: Sequence[Electrode]) -> None:
        """Overnight in the vacuum oven, all lanes in one load; the lanes pass through."""
        lanes = [InputSpec(item=lane.code, consume=False) for e in electrodes for lane in e.lanes.values()]
        self.op(
            "post_drying",
            "DRY-01",
            minutes=12 * 60,
            inputs=lanes,
            parameters={
                "post_drying_method": param("vacuum"),
                "post_drying_temperature": param(120, "degC"),
                "post_drying_time": param(12, "h"),
                "post_drying_pressure": param(1, "mbar"),
            },
            pause=30,
        )

    def cut(self, recipe: ElectrodeRecipe, electrode: Electrode) -> None:
        """Sheet i of a lane is metres [i*pitch, i*pitch + length] of it; a few have burrs."""
        for lane, lane_item in electrode.lanes.items():
            rejects = set(recipe.burr_sheets.get(lane, ()))
            outputs = []
            for i in range(recipe.sheets_per_lane):
                start = round(i * recipe.sheet_pitch_m, 6)
                outputs.append(
                    OutputSpec(
                        kind="electrode_sheet",
                        scrap_reason="burr on edge" if i in rejects else None,
                        attributes={"lane": lane, "index": i + 1},
                        sources=[
                            StretchSpec(item=lane_item.code, from_m=start, to_m=round(start + recipe.sheet_length_m, 6))
                        ],
                    )
                )
            used_m = round(recipe.sheets_per_lane * recipe.sheet_pitch_m, 6)
            sheets = self.op(
                "cutting",
                "CUT-01",
                minutes=recipe.sheets_per_lane * 2 / 60,
                inputs=[InputSpec(item=lane_item.code, quantity=used_m, unit="m")],
                outputs=outputs,
                parameters={
                    "cutting_method": param("laser"),
                    "electrode_sheet_length": param(round(recipe.sheet_length_m * 1000, 3), "mm"),
                    "electrode_sheet_width": param(recipe.lane_width_mm, "mm"),
                },
                pause=5,
            )
            electrode.good_sheets += [s for s in sheets if s.status == ItemStatus.ACTIVE]

    # --- cell assembly --------------------------------------------------------------------

    def assemble(self, cathode: Electrode, anode: Electrode) -> None:
        """Stack, weld tabs, package: each of these adds material, so each makes a new item."""
        need_c, need_a = CELLS * CATHODES_PER_STACK, CELLS * ANODES_PER_STACK
        if len(cathode.good_sheets) < need_c or len(anode.good_sheets) < need_a:
            raise RuntimeError("The recipe cuts too few good sheets for the cells it promises.")
        cathodes, anodes = iter(cathode.good_sheets), iter(anode.good_sheets)
        separator = Unwinder(self.lots["separator"].code)
        pouch = Unwinder(self.lots["pouch_foil"].code)
        for n in range(1, CELLS + 1):
            stack = self.stack(take(cathodes, CATHODES_PER_STACK), take(anodes, ANODES_PER_STACK), separator)
            welded = self.weld(stack)
            self.cells.append(self.package(n, welded, pouch))

    def stack(self, cathodes: list[Item], anodes: list[Item], separator: Unwinder) -> Item:
        sep_input, sep_stretch = separator.take(3.9)  # z-fold: 21 sheets plus two outer wraps
        sheets = [InputSpec(item=s.code) for s in cathodes + anodes]
        (stack,) = self.op(
            "stacking",
            "STK-01",
            minutes=6,
            inputs=[*sheets, sep_input],
            outputs=[
                OutputSpec(
                    kind="stack",
                    attributes={"cathode_sheets": len(cathodes), "anode_sheets": len(anodes)},
                    sources=[*(StretchSpec(item=s.code) for s in cathodes + anodes), sep_stretch],
                )
            ],
            parameters={
                "stacking_mode": param("z-fold"),  # no catalog code: kept as a setting of the operation
                "stack_layer_count": param(len(cathodes) + len(anodes)),
                "stacking_speed": param(50, "1/min"),
                "separator_tension": param(2.5, "N"),
            },
            pause=1,
        )
        self.stacks.append(stack)
        return stack

    def weld(self, stack: Item) -> Item:
        """Tabs are material joining the cell, so welding makes a new stack with the tabs in its
        lineage (an operation without outputs writes no lineage edges)."""
        al, ni = self.lots["al_tabs"].code, self.lots["ni_tabs"].code
        (welded,) = self.op(
            "tab_welding",
            "WELD-01",
            minutes=2,
            inputs=[
                InputSpec(item=stack.code),
                InputSpec(item=al, quantity=1, unit="count"),
                InputSpec(item=ni, quantity=1, unit="count"),
            ],
            outputs=[OutputSpec(kind="stack", attributes={"tabs_welded": True, "welded_from": stack.code})],
            parameters={
                "welding_method": param("ultrasonic"),
                "welding_parameters": param("40 J, 30 µm amplitude, 0.3 MPa, 0.3 s"),
            },
            pause=1,
        )
        self.welded.append(welded)
        return welded

    def package(self, n: int, welded: Item, pouch: Unwinder) -> Item:
        pouch_input, pouch_stretch = pouch.take(0.25)
        (cell,) = self.op(
            "packaging",
            "PKG-01",
            minutes=3,
            inputs=[InputSpec(item=welded.code), pouch_input],
            outputs=[
                OutputSpec(
                    kind="cell",
                    attributes={
                        "format": "pouch",
                        "chemistry": "NMC811/graphite",
                        "nominal_capacity_Ah": NOMINAL_CAPACITY_AH,
                        "serial_in_batch": n,
                    },
                    sources=[StretchSpec(item=welded.code), pouch_stretch],
                )
            ],
            # The catalog has no packaging machine parameters; its sealing_* codes belong to the
            # sealing step, so the pouch former's three-side seal keeps its own names.
            parameters={
                "deep_drawing_depth": param(4.5, "mm"),
                "side_seal_temperature": param(190, "degC"),
                "side_seal_time": param(3, "s"),
            },
            pause=1,
        )
        return cell

    # --- filling to end-of-line -------------------------------------------------------------

    def finish_cells(self) -> None:
        """Filling to end-of-line test change no item's identity: the cell passes through each
        operation (consume=False, no quantity) and nothing new comes out."""
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
                parameters={
                    "electrolyte_volume": param(ELECTROLYTE_ML, "mL"),
                    "electrolyte_volume_factor": param(1.3),  # of the stack's pore volume, about 7.7 mL
                    "filling_chamber_pressure": param(50, "mbar"),
                    "dosing_cycles": param(3),
                    "dosing_speed": param(0.5, "mL/s"),
                    "filling_temperature": param(25, "degC"),
                },
                pause=0,
            )
        everyone = [InputSpec(item=c.code, consume=False) for c in self.cells]
        self.op(
            "wetting",
            "FILL-01",
            minutes=12 * 60,
            inputs=everyone,
            parameters={"wetting_time": param(12, "h"), "wetting_temperature": param(40, "degC")},
            pause=10,
        )
        for cell in self.cells:
            self.op(
                "sealing",
                "SEAL-01",
                minutes=1,
                inputs=[InputSpec(item=cell.code, consume=False)],
                parameters={
                    "sealing_method": param("hot bars under vacuum"),
                    "sealing_temperature": param(185, "degC"),
                    "sealing_pressure": param(0.4, "MPa"),
                    "sealing_time": param(3, "s"),
                    "vacuum_pressure": param(50, "mbar"),  # no catalog code: kept as a setting
                },
                pause=0,
            )
        self.formation()
        for cell in self.cells:
            self.op(
                "degassing",
                "SEAL-01",
                minutes=1.5,
                inputs=[InputSpec(item=cell.code, consume=False)],
                parameters={
                    "vacuum_pressure": param(20, "mbar"),
                    "degassing_time": param(30, "s"),
                    "final_seal_temperature": param(190, "degC"),
                },
                pause=0,
            )
        self.clock.skip(30)
        self.op(
            "aging",
            "FORM-01",
            minutes=72 * 60,
            inputs=everyone,
            parameters={
                "aging_time": param(72, "h"),
                "aging_temperature": param(45, "degC"),
                "state_of_charge": param(30, "percent"),
            },
            pause=60,
        )
        for cell in self.cells:
            self.op(
                "eol_test",
                "EOL-01",
                minutes=4,
                inputs=[InputSpec(item=cell.code, consume=False)],
                parameters={
                    "test_c_rate": param(0.5),
                    "charge_cutoff_voltage": param(4.2, "V"),
                    "discharge_cutoff_voltage": param(2.8, "V"),
                    "test_temperature": param(25, "degC"),
                },
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
                parameters={
                    "formation_c_rate": param(0.1, "1/h"),
                    "formation_upper_cutoff_voltage": param(4.2, "V"),
                    "formation_lower_cutoff_voltage": param(2.8, "V"),
                    "formation_temperature": param(25, "degC"),
                    "formation_pressure": param(0.2, "MPa"),
                    "formation_duration": param(20, "h"),
                    "channel": param(f"CH{channel:02d}"),
                },
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
        polarity, lane = HELD_LANE
        result = hold_place(
            actor=self.actor, item=electrodes[polarity].lanes[lane], reason=HOLD_REASON, downstream=True
        )
        return result.items

    def hold_stretch(self, electrodes: dict[str, Electrode]) -> list[str]:
        """Metres of another anode lane: what holds them is caught, not the lane."""
        polarity, lane, from_m, to_m = HELD_STRETCH
        result = hold_place(
            actor=self.actor,
            item=electrodes[polarity].lanes[lane],
            from_m=from_m,
            to_m=to_m,
            reason=STRETCH_REASON,
            downstream=True,
        )
        return result.items

    def build(self) -> "DemoSummary":
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
        return DemoSummary(
            rejects=[c.code for c in rejects], held=held, stretch_held=stretch_held, measurements=measured
        )

    def roll_for_the_slitter(self) -> Item:
        """A second cathode roll, coated and calendered from the rest of the slurry, left waiting
        at the slitter: something for a newcomer to slit on the station page."""
        first = dict(self.made["cathode"])
        short = replace(CATHODE, coated_m=50, slurry_for_coating_kg=1.4, calendered_m=52)
        waiting = self.calender(short, self.coat(short, first["slurry"]))
        self.made["cathode"] = first  # the measurements and the report speak of the first roll
        return waiting

    def line_made(self, electrodes: dict[str, Electrode], rejects: list[Item]) -> LineMade:
        """What the measurements need to know of the line; the formation curve goes to the example cell."""
        kinds = {spec.key: spec.kind for spec in LOTS}
        made = [
            ElectrodeMade(
                polarity=recipe.polarity,
                active_lot=next(self.lots[key] for key in recipe.lots if kinds[key].endswith("active_material")),
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


def take(items: Iterator[Item], n: int) -> list[Item]:
    return [next(items) for _ in range(n)]


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


class Command(BaseCommand):
    help = "Load a small demo pilot line (24 pouch cells) through the services; does nothing if loaded."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Parameter.objects.exists():
            call_command("load_catalog", stdout=self.stdout)
        if Station.objects.filter(code=MARKER_STATION).exists():
            self.stdout.write(f"The demo line is already loaded (station {MARKER_STATION} exists); nothing to do.")
            return
        began = time.monotonic()
        with transaction.atomic():
            actor = demo_actor()
            summary = DemoLine(actor).build()
        self.report(summary, time.monotonic() - began)

    def report(self, summary: DemoSummary, seconds: float) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo line loaded in {seconds:.1f} s (line day {LINE_START.isoformat()})."))
        out("Items by kind and status:")
        rows = (
            Item.objects.values("kind", "status")
            .annotate(n=Count("id"))
            .order_by("kind__gtin_item_reference", "status")
        )
        by_kind: dict[str, list[str]] = {}
        for row in rows:
            by_kind.setdefault(row["kind"], []).append(f"{row['n']} {row['status']}")
        for kind, counts in by_kind.items():
            out(f"  {kind:<24} {', '.join(counts)}")
        cells = Item.objects.filter(kind="cell")
        out(f"Cells: {cells.count()} ({', '.join(summary.rejects)} scrapped at the end-of-line test).")
        held_cells = cells.filter(code__in=summary.held).count()
        out(f"Hold on anode lane {HELD_LANE[1]}: {len(summary.held)} items on hold, {held_cells} of them cells.")
        polarity, lane, from_m, to_m = HELD_STRETCH
        caught = len(summary.stretch_held)
        stretch_cells = cells.filter(code__in=summary.stretch_held).count()
        out(
            f"Hold on metres {from_m:.1f}-{to_m:.1f} of {polarity} lane {lane}: {_n(caught, 'item')} on hold, "
            f"{_n(stretch_cells, 'cell')} among them; the lane itself stays usable."
        )
        waiting = Item.objects.filter(kind="calendered_roll", status="active").first()
        if waiting is not None:
            out(f"Waiting at the slitter SLT-01: calendered roll {waiting.code} ({waiting.quantity:g} {waiting.unit}).")
        example = example_cell()
        if example is not None:
            out(f"Example cell: {example.code}. Trace it (token: `manage.py create_api_user NAME --role engineer`):")
            out(f'  curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/items/{example.code}/trace/')
        for line in demo_measurements_report(summary.measurements):
            out(line)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
