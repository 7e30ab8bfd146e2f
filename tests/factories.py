"""A small but complete line built through the services, for tests of genealogy and holds."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import Group, User

from lots.models import Item
from lots.services import item_register
from traceability.models import Station
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record, station_create

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@dataclass
class Line:
    lots: dict[str, Item] = field(default_factory=dict)
    slurry: Item | None = None
    coated_roll: Item | None = None
    calendered_roll: Item | None = None
    lanes: list[Item] = field(default_factory=list)
    sheets: list[Item] = field(default_factory=list)
    cells: list[Item] = field(default_factory=list)


def user_create(name: str, role: str) -> User:
    user = User.objects.create_user(username=name)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def stations_create(engineer: User) -> dict[str, Station]:
    """One station per step family of an electrode and cell line (the `stations` fixture)."""
    layout = {
        "MIX-01": ["mixing"],
        "COAT-01": ["coating", "drying"],
        "CAL-01": ["calendering"],
        "SLT-01": ["slitting"],
        "CUT-01": ["cutting"],
        "STK-01": ["stacking", "tab_welding", "packaging"],
        "FORM-01": ["electrolyte_filling", "formation", "eol_test"],
    }
    return {
        code: station_create(actor=engineer, code=code, name=code, steps=steps, room="dry-room-1")
        for code, steps in layout.items()
    }


def register(actor: User, kind: str, quantity: float, unit: str, **extra: object) -> Item:
    return item_register(actor=actor, kind=kind, quantity=quantity, unit=unit, **extra)  # type: ignore[arg-type]


def build_line(
    actor: User,
    *,
    sheets_per_lane: int = 8,
    lanes: int = 2,
    sheets_per_cell: int = 4,
    nmc: dict[str, object] | None = None,
) -> Line:
    """Cathode path: lots -> slurry -> coated roll (100 m) -> calendered roll (104 m, unwound
    reversed) -> lanes -> sheets of 0.5 m -> cells of `sheets_per_cell` sheets."""
    line = Line()
    nmc_extra: dict[str, object] = {"supplier_lot": "NMC-A1", **(nmc or {})}
    line.lots["nmc"] = register(actor, "cathode_active_material", 25, "kg", **nmc_extra)
    line.lots["carbon"] = register(actor, "conductive_additive", 5, "kg")
    line.lots["pvdf"] = register(actor, "binder", 5, "kg")
    line.lots["foil"] = register(actor, "current_collector_foil", 1000, "m")
    mixing = operation_record(
        actor=actor,
        step="mixing",
        station="MIX-01",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        inputs=[
            InputSpec(line.lots["nmc"].code, 9.2, "kg"),
            InputSpec(line.lots["carbon"].code, 0.4, "kg"),
            InputSpec(line.lots["pvdf"].code, 400, "g"),
        ],
        outputs=[OutputSpec(kind="slurry", quantity=10, unit="kg", polarity="cathode")],
        parameters={"mixing_speed": {"value": 2000, "unit": "rpm"}},
    )
    line.slurry = mixing.outputs[0]
    coating = operation_record(
        actor=actor,
        step="coating",
        station="COAT-01",
        started_at=T0 + timedelta(hours=2),
        ended_at=T0 + timedelta(hours=3),
        inputs=[InputSpec(line.slurry.code, 8, "kg"), InputSpec(line.lots["foil"].code, 100, "m")],
        outputs=[
            OutputSpec(
                kind="coated_roll",
                quantity=100,
                unit="m",
                made_from=[StretchSpec(line.slurry.code), StretchSpec(line.lots["foil"].code, 0, 100)],
            )
        ],
    )
    line.coated_roll = coating.outputs[0]
    calendering = operation_record(
        actor=actor,
        step="calendering",
        station="CAL-01",
        started_at=T0 + timedelta(hours=4),
        ended_at=T0 + timedelta(hours=5),
        inputs=[InputSpec(line.coated_roll.code)],
        outputs=[
            OutputSpec(
                kind="calendered_roll",
                quantity=104,
                unit="m",
                made_from=[StretchSpec(line.coated_roll.code, 0, 100, reversed=True)],
            )
        ],
    )
    line.calendered_roll = calendering.outputs[0]
    cal = line.calendered_roll.code
    slitting = operation_record(
        actor=actor,
        step="slitting",
        station="SLT-01",
        started_at=T0 + timedelta(hours=6),
        inputs=[InputSpec(cal)],
        outputs=[
            OutputSpec(kind="slit_roll", quantity=104, unit="m", lane=lane, made_from=[StretchSpec(cal, 0, 104)])
            for lane in range(1, lanes + 1)
        ],
    )
    line.lanes = slitting.outputs
    for index, lane in enumerate(line.lanes):
        cutting = operation_record(
            actor=actor,
            step="cutting",
            station="CUT-01",
            started_at=T0 + timedelta(hours=7, minutes=index),
            inputs=[InputSpec(lane.code)],
            outputs=[
                OutputSpec(kind="electrode_sheet", made_from=[StretchSpec(lane.code, 10 + 0.5 * i, 10.5 + 0.5 * i)])
                for i in range(sheets_per_lane)
            ],
        )
        line.sheets.extend(cutting.outputs)
    for start in range(0, len(line.sheets) - sheets_per_cell + 1, sheets_per_cell):
        group = line.sheets[start : start + sheets_per_cell]
        stacking = operation_record(
            actor=actor,
            step="stacking",
            station="STK-01",
            started_at=T0 + timedelta(hours=9, minutes=start),
            inputs=[InputSpec(sheet.code) for sheet in group],
            outputs=[OutputSpec(kind="cell")],
        )
        line.cells.extend(stacking.outputs)
    return line
