"""Electrode production on the demo line: mix, coat and dry, calender, slit, post-dry, cut.

Supplier lots -> slurry -> coated and dried rolls (500 m) -> calendered rolls (500 m unwound last metre
first, 520 m out) -> two slit lanes each, post-dried overnight -> electrode sheets. Steps that
change no item's identity (drying, post-drying) take their item with consume=False and make nothing.
"""

from collections.abc import Sequence
from datetime import timedelta

from lots.models import Item, ItemStatus
from traceability.services import InputSpec, OutputSpec, ScrapSpec, StretchSpec

from .line_base import Electrode, LineBase
from .line_data import (
    COATING_SPEED_M_MIN,
    DEMO_PRODUCT,
    LOT_KINDS,
    RECIPE_VERSION,
    SLITTING_TRIM_M,
    ElectrodeRecipe,
    step_parameters,
)


def formulation(recipe: ElectrodeRecipe) -> dict[str, float]:
    """The dry formulation (percent of the solids) as the catalog's mixing parameters."""
    solids = {key: q for key, (q, _unit) in recipe.lots.items() if LOT_KINDS[key] != "solvent"}  # all in kg
    total = sum(solids.values())

    def share(*of: str) -> float:
        return round(100 * sum(q for key, q in solids.items() if LOT_KINDS[key] in of) / total, 2)

    return {
        "am_content": share("cathode_active_material", "anode_active_material"),
        "conductive_additive_content": share("conductive_additive"),
        "binder_content": share("binder"),
    }


class ElectrodeStages(LineBase):
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
        parameters = step_parameters("mixing", recipe.polarity)
        parameters.update((code, {"value": share, "unit": "percent"}) for code, share in formulation(recipe).items())
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
                    attributes={"recipe": f"{recipe.polarity}-{RECIPE_VERSION}", "product": DEMO_PRODUCT},
                )
            ],
            parameters=parameters,
            pause=15,
        )
        self.made.setdefault(recipe.polarity, {})["slurry"] = slurry
        return slurry

    def coat(self, recipe: ElectrodeRecipe, slurry: Item) -> Item:
        """Coating makes the roll from a stretch of foil and part of the slurry; the inline dryer
        is its own operation (the drying parameters belong to the drying step) over the same
        window, a minute behind the slot die, with the roll passing through."""
        foil = self.lots[recipe.foil]
        length, speed = recipe.coated_m, COATING_SPEED_M_MIN
        slurry_ml = recipe.slurry_for_coating_kg / recipe.slurry_density_g_cm3 * 1000
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
                    made_from=[StretchSpec(item=foil.code, from_m=0, to_m=length), StretchSpec(item=slurry.code)],
                )
            ],
            parameters=step_parameters(
                "coating",
                recipe.polarity,
                coating_speed=speed,
                slurry_flow_rate=round(slurry_ml / (length / speed), 1),
            ),
            pause=0,
        )
        self.made[recipe.polarity]["coated"] = coated
        self.clock.now = started + timedelta(minutes=1)
        self.op(
            "drying",
            "COAT-01",
            minutes=length / speed,
            inputs=[InputSpec(item=coated.code, consume=False)],
            parameters=step_parameters("drying", recipe.polarity, drying_line_speed=speed),
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
                    made_from=[StretchSpec(item=coated.code, from_m=0, to_m=recipe.coated_m, reversed=True)],
                )
            ],
            parameters=step_parameters("calendering", recipe.polarity),
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
                made_from=[StretchSpec(item=calendered.code, from_m=0, to_m=length)],
            )
            for lane in range(1, lanes + 1)
        ]
        made = self.op(
            "slitting",
            "SLT-01",
            minutes=length / 100,
            inputs=[InputSpec(item=calendered.code)],
            outputs=outputs,
            parameters=step_parameters("slitting"),
            scrap=[ScrapSpec(item=calendered.code, quantity=SLITTING_TRIM_M, unit="m", reason="edge trim")],
            pause=10,
        )
        return {lane: item for lane, item in enumerate(made, start=1)}

    def post_dry(self, electrodes: Sequence[Electrode]) -> None:
        """Overnight in the vacuum oven, all lanes in one load; the lanes pass through."""
        lanes = [InputSpec(item=lane.code, consume=False) for e in electrodes for lane in e.lanes.values()]
        self.op(
            "post_drying", "DRY-01", minutes=12 * 60, inputs=lanes, parameters=step_parameters("post_drying"), pause=30
        )

    def cut(self, recipe: ElectrodeRecipe, electrode: Electrode) -> None:
        """Sheet i of a lane is metres [i*pitch, i*pitch + length] of it; a few have burrs."""
        for lane, lane_item in electrode.lanes.items():
            used_m = round(recipe.sheets_per_lane * recipe.sheet_pitch_m, 6)
            sheets = self.op(
                "cutting",
                "CUT-01",
                minutes=recipe.sheets_per_lane * 2 / 60,
                inputs=[InputSpec(item=lane_item.code, quantity=used_m, unit="m")],
                outputs=_sheets(recipe, lane, lane_item),
                parameters=step_parameters(
                    "cutting",
                    electrode_sheet_length=round(recipe.sheet_length_m * 1000, 3),
                    electrode_sheet_width=recipe.lane_width_mm,
                ),
                pause=5,
            )
            electrode.good_sheets += [s for s in sheets if s.status == ItemStatus.ACTIVE]


def _sheets(recipe: ElectrodeRecipe, lane: int, lane_item: Item) -> list[OutputSpec]:
    rejects = set(recipe.burr_sheets.get(lane, ()))
    outputs = []
    for i in range(recipe.sheets_per_lane):
        start = round(i * recipe.sheet_pitch_m, 6)
        outputs.append(
            OutputSpec(
                kind="electrode_sheet",
                scrap_reason="burr on edge" if i in rejects else None,
                attributes={"lane": lane, "index": i + 1},
                made_from=[
                    StretchSpec(item=lane_item.code, from_m=start, to_m=round(start + recipe.sheet_length_m, 6))
                ],
            )
        )
    return outputs
