"""The demo line's measurements: what its gauges, its lab, the dry-room sensors and the cycler recorded.

`load_demo` builds the line through the services, then hands what it made (`LineMade`) to
`demo_measurements_record`, inside its own transaction. The machine parameters are not here: they
travel with the operations and `operation_record` turns them into measurements. Recorded here:
online profiles along the rolls (demo.measure_profiles), offline lab values and dry-room readings
(demo.measure_lab), stack and cell data (demo.measure_cells) and one formation voltage curve
(demo.measure_curve). The tables they draw on are in demo/data/.

Numbers come from a random.Random(SEED) used in a fixed order, so every load is the same.

Out of range, out of limits. The catalog's typical ranges are the paper's, and the paper gives
none for mass loading or capacity: those depend on the product. The demo product (DEMO_PRODUCT,
the `product` attribute of both slurries, inherited by all made from them) has specification
limits, set by the demo engineer through `limit_set` (audited) before any value is recorded: mass
loading per polarity within MASS_LOADING_TOLERANCE of its recipe's target, end-of-line capacity
from 4.40 Ah (`SPECS`). A value is stored with `out_of_range` against the catalog's typical range
and `out_of_limits` against the limit that applies to its item (measurements.selectors_limits,
the rule every write applies); the limits only flag (on_violation "flag"): load_demo places its
hold itself.

The rows are written with one bulk_create per kind of data, values already in the canonical unit
(each unit converted with `linear_to_canonical`, so a wrong unit fails loudly), and one audit event
per kind, as bulk ingest does. measurements.ingest is not used: it takes no operation.
"""

import random

from audit.services import Actor
from lots.models import Item
from measurements.models import Measurement, Parameter
from measurements.selectors_limits import limit_book
from measurements.services_limits import limit_set

from .line_data import DEMO_PRODUCT
from .measure_cells import cells, stacks
from .measure_curve import formation_curve
from .measure_data import CODES, DIP_CALENDERED_M, MASS_LOADING_TOLERANCE, SEED, SPECS
from .measure_lab import dry_room, electrolyte, lab
from .measure_profiles import defect, profiles
from .measure_rows import DemoMeasurements, LineMade, MeasurementRows


def demo_measurements_record(*, actor: Actor, line: LineMade) -> DemoMeasurements:
    """Record everything the demo line measured; call it inside load_demo's transaction."""
    parameters = {p.code: p for p in Parameter.objects.filter(code__in=CODES)}
    missing = sorted(set(CODES) - set(parameters))
    if missing:
        raise RuntimeError(f"The parameter catalog lacks {', '.join(missing)}; run `manage.py load_catalog`.")
    rng = random.Random(SEED)
    _limits_set(actor, line)
    # Every item of the line, scoped once (the demo database holds only the demo line).
    limits = limit_book(None, Item.objects.values_list("pk", flat=True))
    rows = MeasurementRows(actor, parameters, limits)
    result = DemoMeasurements()

    dip: list[Measurement] = []
    for electrode in line.electrodes:
        dip += profiles(rows, rng, electrode, line.operations)
    rows.write("online profiles", result)
    for electrode in line.electrodes:
        lab(rows, rng, electrode, line.operations)
    electrolyte(rows, line.electrolyte)
    rows.write("lab", result)
    dry_room(rows, rng, line.dry_room)
    rows.write("dry room", result)
    stacks(rows, rng, line)
    cells(rows, rng, line)
    rows.write("stacks and cells", result)
    result.curve_cell, result.curve_points = formation_curve(actor, rng, line)
    result.counts["formation curve (series)"] = 1
    result.counts["formation cycler export (file)"] = 1
    result.defect = defect(line, [m for m in dip if m.out_of_limits])
    return result


def _limits_set(actor: Actor, line: LineMade) -> None:
    """The demo product's specification limits: mass loading per polarity around its recipe's
    target, and the capacity the cells must reach (flag only)."""
    for electrode in line.electrodes:
        target = electrode.mass_loading_mg_cm2
        limit_set(
            actor=actor,
            parameter="mass_loading",
            polarity=electrode.polarity,
            product=DEMO_PRODUCT,
            target=target,
            lower=round(target * (1 - MASS_LOADING_TOLERANCE), 4),
            upper=round(target * (1 + MASS_LOADING_TOLERANCE), 4),
            unit="mg/cm**2",
        )
    for code, spec in SPECS.items():
        limit_set(actor=actor, parameter=code, product=DEMO_PRODUCT, lower=spec.lower, upper=spec.upper, unit=spec.unit)


def demo_measurements_report(measured: DemoMeasurements) -> list[str]:
    """The lines load_demo prints about the measurements: counts by kind, the curve, the defect."""
    machine = Measurement.objects.filter(item__isnull=True, operation__isnull=False).count()
    kinds = {"machine parameters (from the operations)": machine, **measured.counts}
    lines = [f"Measurements: {sum(kinds.values())}."]
    for kind, n in kinds.items():
        flagged = measured.flagged.get(kind, 0)
        lines.append(f"  {kind:<42} {n:>6}" + (f" ({flagged} out of range or limits)" if flagged else ""))
    lines.append(f"Formation voltage curve (a series of {measured.curve_points} points): cell {measured.curve_cell}.")
    defect = measured.defect
    if defect is None or not defect.cells:
        return lines
    first = defect.cells[0]
    return [
        *lines,
        f"Defect: mass-loading dip on cathode coated roll {defect.coated} at {defect.coated_from_m:g}-"
        f"{defect.coated_to_m:g} m ({defect.values} values out of limits), calendered into metres "
        f"{DIP_CALENDERED_M[0]:g}-{DIP_CALENDERED_M[1]:g} of {defect.calendered} and both its lanes.",
        f"  It is inside cells {', '.join(defect.cells)}. See it upstream of one:",
        '  curl -H "Authorization: Token $TOKEN" '
        f'"http://127.0.0.1:8000/api/measurements/?item={first}&upstream=true&parameter=mass_loading"',
    ]
