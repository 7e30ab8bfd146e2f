""" "A month of a line" for bench/trace.py, generated through the services the API uses
(lots.services.item_register, traceability.services.station_create and operation_record only).

Django is imported inside the functions: bench/trace.py (and the benches importing it) load
this module before django.setup().
"""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from trace_parallel import Progress, run_parallel
from trace_plan import (
    BASE_TIME,
    CALENDERED_M,
    COATED_M,
    HEAD_M,
    LANES_PER_ROLL,
    POLARITY,
    SHEET_M,
    SHEETS_PER_CELL_PER_POLARITY,
    SHEETS_PER_LANE,
    SLURRIES_PER_CAM_LOT,
    STATIONS,
    Schedule,
    Sizes,
    StageClock,
)

if TYPE_CHECKING:
    from audit.services import Actor


class CutJob(NamedTuple):
    lane: str
    sheet_codes: list[str]
    started: datetime
    ended: datetime

    @property
    def units(self) -> int:
        return 1


class StackJob(NamedTuple):
    station: str
    cathode: list[str]
    anode: list[str]
    code: str
    started: datetime
    ended: datetime

    @property
    def units(self) -> int:
        return 1


# --- 1. stations and raw material ----------------------------------------------------------------


def _supplier_lots(actor: Actor, pol: str, key: str, kind: str, count: int, quantity: float, unit: str) -> list[str]:
    """`count` supplier lots of the polarity's material `key`, received before the month starts."""
    from lots.services import item_register

    material = POLARITY[pol][key]
    return [
        item_register(
            actor=actor,
            kind=kind,
            quantity=quantity,
            unit=unit,
            supplier_lot=f"{material}-{i + 1:03d}",
            created_at=BASE_TIME - timedelta(days=2),
            attributes={"material": material},
        ).code
        for i in range(count)
    ]


def stations_and_lots(sizes: Sizes, actor: Actor) -> dict[str, dict[str, list[str]]]:
    """The stations, then per polarity the codes of its supplier lots by material."""
    from django.db import transaction

    from traceability.services import station_create

    rolls = sizes.rolls_per_polarity
    lots: dict[str, dict[str, list[str]]] = {}
    with transaction.atomic():
        for code, (name, steps, room) in STATIONS.items():
            station_create(actor=actor, code=code, name=name, steps=steps, room=room)
        for pol, p in POLARITY.items():
            r = p["recipe"]
            lots[pol] = {
                "am": _supplier_lots(
                    actor, pol, "am_name", p["am"], sizes.cam_lots, SLURRIES_PER_CAM_LOT * r["am"] + 20, "kg"
                ),
                "carbon": _supplier_lots(actor, pol, "carbon", "conductive_additive", 1, rolls * r["carbon"] + 5, "kg"),
                "binder": _supplier_lots(
                    actor, pol, "binder", "binder", math.ceil(rolls / 10), 10 * r["binder"] + 5, "kg"
                ),
                "solvent": _supplier_lots(
                    actor, pol, "solvent", "solvent", math.ceil(rolls / 5), 5 * r["solvent_l"] + 20, "L"
                ),
                "foil": _supplier_lots(
                    actor, pol, "foil", "current_collector_foil", math.ceil(rolls / 5), 5 * COATED_M + 200, "m"
                ),
            }
    return lots


# --- 2. electrode steps per coated roll ----------------------------------------------------------


class RollSteps:
    """The electrode steps of coated roll `r` of a polarity, each in its slot of the schedule."""

    def __init__(self, actor: Actor, schedule: Schedule, r: int, pol: str) -> None:
        self.actor, self.schedule, self.r, self.pol = actor, schedule, r, pol
        self.p = POLARITY[pol]

    def record(self, stage: int, step: str, station: str, **specs: Any) -> list[Any]:
        """The outputs of the roll's `stage`-th electrode step."""
        from traceability.services import operation_record

        start, end = self.schedule.electrode(self.r, self.pol, stage)
        return operation_record(
            actor=self.actor, step=step, station=station, started_at=start, ended_at=end, **specs
        ).outputs

    def mix(self, lots: dict[str, list[str]]) -> Any:
        from traceability.services import InputSpec, OutputSpec

        r, recipe = self.r, self.p["recipe"]
        (slurry,) = self.record(
            0,
            "mixing",
            "MIX-01",
            inputs=[
                InputSpec(lots["am"][r // SLURRIES_PER_CAM_LOT], recipe["am"], "kg"),
                InputSpec(lots["carbon"][0], recipe["carbon"], "kg"),
                InputSpec(lots["binder"][r // 10], recipe["binder"], "kg"),
                InputSpec(lots["solvent"][r // 5], recipe["solvent_l"], "L"),
            ],
            outputs=[OutputSpec(kind="slurry", quantity=self.p["slurry_kg"], unit="kg", polarity=self.pol)],
            parameters={
                "mixing_speed": {"value": 1500, "unit": "rpm"},
                "mixing_time": {"value": 120, "unit": "min"},
            },
        )
        return slurry

    def coat(self, slurry: Any, lots: dict[str, list[str]]) -> Any:
        """Part of the slurry on a 1000 m stretch of a foil roll."""
        from traceability.services import InputSpec, OutputSpec, StretchSpec

        foil = lots["foil"][self.r // 5]
        a = (self.r % 5) * COATED_M
        (coated,) = self.record(
            1,
            "coating",
            "COAT-01",
            inputs=[InputSpec(slurry.code, self.p["coat_kg"], "kg"), InputSpec(foil, COATED_M, "m")],
            outputs=[
                OutputSpec(
                    kind="coated_roll",
                    quantity=COATED_M,
                    unit="m",
                    made_from=[StretchSpec(slurry.code), StretchSpec(foil, a, a + COATED_M)],
                )
            ],
            parameters={
                "coating_speed": {"value": 5, "unit": "m/min"},
                "mass_loading": {"value": self.p["loading"], "unit": "mg/cm**2"},
            },
        )
        return coated

    def calender(self, coated: Any) -> Any:
        """Unwound from its outer end; 1000 m become 1040 m."""
        from traceability.services import InputSpec, OutputSpec, StretchSpec

        (calendered,) = self.record(
            2,
            "calendering",
            "CAL-01",
            inputs=[InputSpec(coated.code)],
            outputs=[
                OutputSpec(
                    kind="calendered_roll",
                    quantity=CALENDERED_M,
                    unit="m",
                    made_from=[StretchSpec(coated.code, 0.0, COATED_M, reversed=True)],
                )
            ],
            parameters={
                "line_load": {"value": 1.2, "unit": "kN/mm"},
                "roll_temperature": {"value": 80, "unit": "degC"},
            },
        )
        return calendered

    def slit(self, calendered: Any) -> list[Any]:
        from traceability.services import InputSpec, OutputSpec, StretchSpec

        return self.record(
            3,
            "slitting",
            "SLT-01",
            inputs=[InputSpec(calendered.code)],
            outputs=[
                OutputSpec(
                    kind="slit_roll",
                    quantity=CALENDERED_M,
                    unit="m",
                    lane=k,
                    made_from=[StretchSpec(calendered.code, 0.0, CALENDERED_M)],
                )
                for k in range(1, LANES_PER_ROLL + 1)
            ],
            parameters={"slitting_speed": {"value": 100, "unit": "m/min"}},
        )


def electrode_steps(
    sizes: Sizes, schedule: Schedule, actor: Actor, lots: dict[str, dict[str, list[str]]]
) -> dict[str, list[tuple[int, str]]]:
    """Mixing, coating, calendering, slitting of every coated roll (serial: few), one
    transaction per roll and polarity; per polarity the (roll, code) of each lane."""
    from django.db import transaction

    lanes: dict[str, list[tuple[int, str]]] = {"cathode": [], "anode": []}
    progress = Progress("mixing, coating, calendering, slitting", 2 * sizes.rolls_per_polarity)
    for r in range(sizes.rolls_per_polarity):
        for pol in POLARITY:
            roll = RollSteps(actor, schedule, r, pol)
            with transaction.atomic():
                slurry = roll.mix(lots[pol])
                made = roll.slit(roll.calender(roll.coat(slurry, lots[pol])))
                lanes[pol].extend((r, item.code) for item in made)
            progress.add()
    return lanes


# --- 3. cutting and 4. stacking ------------------------------------------------------------------


def cut_jobs(
    sizes: Sizes, schedule: Schedule, lanes: dict[str, list[tuple[int, str]]]
) -> tuple[list[CutJob], dict[str, list[str]]]:
    """One cutting job per lane, up to 1250 sheets of 0.8 m, codes taken up front in one
    codes_allocate call so that parallel workers do not queue on the code sequence; and per
    polarity the sheet codes in order."""
    from lots.models import ItemKind
    from lots.services import codes_allocate

    sheet_prefix = ItemKind.objects.get(code="electrode_sheet").code_prefix
    sheet_codes = iter(codes_allocate(prefix=sheet_prefix, count=2 * sizes.sheets_per_polarity))
    sheets: dict[str, list[str]] = {"cathode": [], "anode": []}
    jobs: list[CutJob] = []
    for pol in POLARITY:
        left = sizes.sheets_per_polarity
        for index, (r, lane) in enumerate(lanes[pol]):
            count = min(SHEETS_PER_LANE, left)
            if count <= 0:
                break
            codes = [next(sheet_codes) for _ in range(count)]
            start, end = schedule.electrode(r, pol, 4 + index % LANES_PER_ROLL)
            jobs.append(CutJob(lane, codes, start, end))
            sheets[pol].extend(codes)
            left -= count
    jobs.sort(key=lambda job: job.started)
    return jobs, sheets


def cut(actor: Actor, job: CutJob) -> int:
    from traceability.services import InputSpec, OutputSpec, ScrapSpec, StretchSpec, operation_record

    used = len(job.sheet_codes) * SHEET_M
    operation_record(
        actor=actor,
        step="cutting",
        station="CUT-01",
        started_at=job.started,
        ended_at=job.ended,
        inputs=[InputSpec(job.lane)],
        outputs=[
            OutputSpec(
                kind="electrode_sheet",
                code=code,
                made_from=[StretchSpec(job.lane, round(HEAD_M + i * SHEET_M, 4), round(HEAD_M + (i + 1) * SHEET_M, 4))],
            )
            for i, code in enumerate(job.sheet_codes)
        ],
        parameters={"cutting_speed": {"value": 60, "unit": "1/min"}},
        scrap=[ScrapSpec(job.lane, CALENDERED_M - used, "m", "head, tail and unused length")],
    )
    return 1


def stack_jobs(sizes: Sizes, schedule: Schedule, sheets: dict[str, list[str]]) -> list[StackJob]:
    """One stacking job per cell, 10 cathode + 10 anode sheets in, the cell (code taken up front) out."""
    from lots.models import ItemKind
    from lots.services import codes_allocate

    n = SHEETS_PER_CELL_PER_POLARITY
    cell_prefix = ItemKind.objects.get(code="cell").code_prefix
    cell_codes = codes_allocate(prefix=cell_prefix, count=sizes.cells)
    return [
        StackJob(
            ("STK-01", "STK-02")[i % 2],
            sheets["cathode"][i * n : (i + 1) * n],
            sheets["anode"][i * n : (i + 1) * n],
            cell_codes[i],
            *schedule.cell(i),
        )
        for i in range(sizes.cells)
    ]


def stack(actor: Actor, job: StackJob) -> int:
    from traceability.services import InputSpec, OutputSpec, operation_record

    operation_record(
        actor=actor,
        step="stacking",
        station=job.station,
        started_at=job.started,
        ended_at=job.ended,
        inputs=[InputSpec(code) for code in job.cathode + job.anode],
        outputs=[OutputSpec(kind="cell", code=job.code)],
        parameters={"stacking_speed": {"value": 0.8, "unit": "1/s"}},
    )
    return 1


def generate(sizes: Sizes, *, chunk: int, workers: int, actor: Actor) -> dict[str, dict[str, float]]:
    """The whole line; the seconds of each stage."""
    schedule = Schedule(sizes)
    clock = StageClock()
    lots = stations_and_lots(sizes, actor)
    clock.stage("stations and supplier lots")
    lanes = electrode_steps(sizes, schedule, actor, lots)
    clock.stage("mixing, coating, calendering, slitting")
    cutting, sheets = cut_jobs(sizes, schedule, lanes)
    run_parallel("cutting (one operation per lane)", cutting, functools.partial(cut, actor), workers, chunk=1)
    clock.stage("cutting")
    stacking = stack_jobs(sizes, schedule, sheets)
    run_parallel("stacking (one operation per cell)", stacking, functools.partial(stack, actor), workers, chunk=chunk)
    clock.stage("stacking")
    return {"stage_seconds": clock.seconds}
