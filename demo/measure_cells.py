"""Stack and cell data: stack weight and alignment, weld resistance, formation capacities,
coulombic efficiency and resistance, gas volume, OCV drop and K-value from aging, the end-of-line
OCV, resistance and capacity. The rejects fall short on capacity."""

import random

from measurements.models import Source
from traceability.models import Operation

from .measure_data import GOOD_CELLS, INSTRUMENTS, REJECTED_CELLS, STACKS, How, Normal
from .measure_rows import LineMade, MeasurementRows, end_of


def stacks(rows: MeasurementRows, rng: random.Random, line: LineMade) -> None:
    for stack, welded in zip(line.stacks, line.welded, strict=True):
        stacking = line.operations[("stacking", stack.code)]
        at = end_of(stacking)
        weight, offset = round(_draw(rng, STACKS.weight_g), 2), round(abs(_draw(rng, STACKS.offset_um)), 1)
        rows.add("stack_weight", weight, "g", at, INSTRUMENTS["stack_balance"], item=stack, operation=stacking)
        rows.add("stacking_offset", offset, "µm", at, INSTRUMENTS["stack_camera"], item=stack, operation=stacking)
        welding = line.operations[("tab_welding", welded.code)]
        resistance = round(STACKS.weld_floor_mohm + abs(rng.gauss(0, STACKS.weld_spread_mohm)), 3)
        rows.add(
            "weld_resistance",
            resistance,
            "mohm",
            end_of(welding),
            INSTRUMENTS["weld_meter"],
            item=welded,
            operation=welding,
        )


def cells(rows: MeasurementRows, rng: random.Random, line: LineMade) -> None:
    """Formation, degassing, aging and end-of-line values of every cell; the rejects lack capacity."""
    rejects = set(line.rejects)
    for cell in line.cells:
        bad = cell.code in rejects
        formation = line.operations[("formation", cell.code)]
        degassing = line.operations[("degassing", cell.code)]
        aging = line.operations[("aging", cell.code)]
        eol = line.operations[("eol_test", cell.code)]
        stats = REJECTED_CELLS if bad else GOOD_CELLS
        discharge = _draw(rng, stats.discharge_ah)
        efficiency = _draw(rng, stats.efficiency_pct)
        k_value = _draw(rng, stats.k_value_mv_day)
        channel = cycler(formation)
        formed = end_of(formation)
        for code, value, unit in (
            ("formation_charge_capacity", round(discharge / efficiency * 100, 3), "A*h"),
            ("formation_discharge_capacity", round(discharge, 3), "A*h"),
            ("formation_coulombic_efficiency", round(efficiency, 2), "percent"),
            ("formation_internal_resistance", round(_draw(rng, stats.formation_resistance_mohm), 2), "mohm"),
        ):
            rows.add(code, value, unit, formed, channel, item=cell, operation=formation)
        swelling = round(abs(rng.gauss(0.28, 0.04)), 3)
        rows.add("formation_cell_thickness_change", swelling, "mm", formed, INSTRUMENTS["thickness_gauge"], item=cell)
        gas = round(abs(rng.gauss(3.4, 0.35)), 2)
        rows.add(
            "gas_volume", gas, "ml", degassing.started_at, INSTRUMENTS["archimedes"], item=cell, operation=degassing
        )
        aged = end_of(aging)
        drop = k_value * (aged - aging.started_at).total_seconds() / 86400 + rng.gauss(0, 0.1)
        rows.add("k_value", round(k_value, 3), "mV/day", aged, INSTRUMENTS["ocv_scanner"], item=cell, operation=aging)
        rows.add("ocv_drop", round(drop, 2), "mV", aged, INSTRUMENTS["ocv_scanner"], item=cell, operation=aging)
        tested = end_of(eol)
        for code, value, unit in (
            ("eol_ocv", round(3.652 - drop / 1000 + rng.gauss(0, 0.001), 4), "V"),
            ("eol_dcir", round(_draw(rng, stats.eol_dcir_mohm), 2), "mohm"),
            ("eol_capacity", round(discharge * 0.975 + rng.gauss(0, 0.008), 3), "A*h"),
        ):
            rows.add(code, value, unit, tested, INSTRUMENTS["eol_tester"], item=cell, operation=eol)


def cycler(formation: Operation) -> How:
    return How(Source.ONLINE, f"cycler-FORM-01/{formation.parameters['channel']['value']}")


def _draw(rng: random.Random, normal: Normal) -> float:
    return rng.gauss(normal.mean, normal.sd)
