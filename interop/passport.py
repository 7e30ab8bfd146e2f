"""A cell's battery passport: the manufacturing and performance attributes of the BatteryPass
data model v1.2, filled from the genealogy and the formation and end-of-line measurements.

Only the attribute names of the data model are used (names are facts); none of its files is
copied. Every attribute is filled from a recorded source named in `SOURCES` or is null, with
the reason under `missing`: nothing is estimated, defaulted or derived from a typical value.
A fixed number of queries whatever the size of the cell's genealogy.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from core.errors import InvalidInput
from core.units import convert
from lots.identifiers import digital_link, kind_gtin
from lots.models import Item
from measurements.belonging import current_filter
from measurements.models import Measurement
from traceability.models import Operation, OperationInput
from traceability.selectors import lineage_walk

DATA_MODEL = {"name": "BatteryPass", "version": "1.2.0"}
CELL_KIND = "cell"
CATHODE_MATERIAL, ANODE_MATERIAL = "cathode_active_material", "anode_active_material"

# The groups of the response are the data model's aspects (GeneralProductInformation, ...).
GENERAL, MATERIALS, PERFORMANCE = "generalProductInformation", "materialComposition", "performanceAndDurability"
TECHNICAL = "batteryTechicalProperties"  # sic: the data model spells it so


@dataclass(frozen=True)
class Source:
    """Where a numeric attribute comes from: the first of `parameters` (catalog codes, in order
    of preference) with a current value about the cell or its operations, else the cell's own
    `attribute` (a design value recorded on the cell). `unit` is the data model's."""

    pointer: str
    unit: str
    parameters: tuple[str, ...] = ()
    attribute: str = ""


_TECH = f"/{PERFORMANCE}/{TECHNICAL}"
SOURCES: tuple[Source, ...] = (
    Source(f"/{GENERAL}/batteryMass", "kg", ("eol_cell_mass",)),
    Source(f"{_TECH}/ratedCapacity", "A*h", ("eol_capacity", "formation_discharge_capacity")),
    Source(f"{_TECH}/ratedEnergy", "kWh", ("eol_discharge_energy",)),
    Source(f"{_TECH}/nominalVoltage", "V", attribute="nominal_voltage_V"),
    Source(f"{_TECH}/minimumVoltage", "V", ("formation_lower_cutoff_voltage",)),
    Source(f"{_TECH}/maximumVoltage", "V", ("formation_upper_cutoff_voltage",)),
    Source(f"{_TECH}/initialInternalResistance", "ohm", ("eol_dcir", "formation_internal_resistance")),
    Source(f"{_TECH}/initialSelfDischarge", "percent/month", ("self_discharge_rate",)),
)
PARAMETER_CODES = sorted({code for source in SOURCES for code in source.parameters})


@dataclass
class Passport:
    code: str
    data: dict[str, Any]
    identification: dict[str, str | None]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "dataModel": DATA_MODEL,
            "identification": self.identification,
            **self.data,
            "sources": self.sources,
            "missing": self.missing,
        }


def _cell_check(item: Item) -> None:
    if item.kind_id != CELL_KIND:
        raise InvalidInput(f"{item.code} is a {item.kind_id}, not a cell: only cells have a passport.", field="code")


def _cell_measurements(item: Item) -> QuerySet[Measurement]:
    """Current values of the passport's parameters about the cell, or about an operation that
    made it or that it passed through (formation) without naming another item; newest first."""
    passed = OperationInput.objects.filter(item_id=item.pk).values("operation_id")
    about_operation = Q(item__isnull=True) & (Q(operation_id__in=passed) | Q(operation_id=item.produced_by_id))
    return (
        Measurement.objects.filter(current_filter(), parameter__code__in=PARAMETER_CODES, value__isnull=False)
        .filter(Q(item_id=item.pk) | about_operation)
        .select_related("parameter")
        .order_by("-measured_at", "-id")
    )


def _newest(measurements: QuerySet[Measurement]) -> dict[str, Measurement]:
    newest: dict[str, Measurement] = {}
    for measurement in measurements:  # newest first: keep the first seen of each parameter
        newest.setdefault(measurement.parameter.code, measurement)
    return newest


def _set(data: dict[str, Any], pointer: str, value: Any) -> None:
    *parents, leaf = pointer.strip("/").split("/")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _converted(passport: Passport, source: Source, value: float, unit: str, origin: dict[str, Any]) -> float | None:
    try:
        result = convert(value, unit, source.unit, field=source.pointer)
    except InvalidInput:
        passport.missing[source.pointer] = f"{origin} is in {unit!r}, which does not convert to {source.unit!r}."
        return None
    passport.sources[source.pointer] = origin | {"value": value, "unit": unit}
    return result


def _number(passport: Passport, source: Source, item: Item, newest: dict[str, Measurement]) -> float | None:
    for code in source.parameters:
        found = newest.get(code)
        if found is not None and found.value is not None:
            origin = {"parameter": code, "measurement": found.pk, "measured_at": found.measured_at.isoformat()}
            return _converted(passport, source, found.value, found.parameter.unit, origin)
    if source.attribute:
        raw = (item.attributes or {}).get(source.attribute)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return _converted(passport, source, float(raw), source.unit, {"attribute": source.attribute})
    named = [f"no current value of {', '.join(source.parameters)}"] if source.parameters else []
    named += [f"no number in the cell's attribute {source.attribute!r}"] if source.attribute else []
    passport.missing[source.pointer] = "; ".join(named) + "."
    return None


def _performance(passport: Passport, item: Item, newest: dict[str, Measurement]) -> None:
    for source in SOURCES:
        value = _number(passport, source, item, newest)
        if source.pointer.endswith("/initialInternalResistance") and value is not None:
            _set(passport.data, source.pointer, [{"ohmicResistance": value, "batteryComponent": "cell"}])
        else:
            _set(passport.data, source.pointer, value)


def _materials(item: Item) -> dict[str, list[tuple[str, str]]]:
    """(material, lot) of the active-material lots upstream of the cell, by kind."""
    kinds = {CATHODE_MATERIAL, ANODE_MATERIAL}
    codes = [node.code for node in lineage_walk(item=item, direction="upstream", kinds=kinds, edges=False).nodes]
    found: dict[str, list[tuple[str, str]]] = {CATHODE_MATERIAL: [], ANODE_MATERIAL: []}
    if not codes:
        return found
    for lot in (
        Item.objects.filter(code__in=codes).only("code", "kind_id", "supplier_lot", "attributes").order_by("code")
    ):
        material = (lot.attributes or {}).get("material")
        if isinstance(material, str) and material.strip():
            found[lot.kind_id].append((material.strip(), lot.supplier_lot or lot.code))
    return found


def _chemistry(passport: Passport, item: Item) -> None:
    pointer = f"/{MATERIALS}/batteryChemistry"
    lots = _materials(item)
    recorded = (item.attributes or {}).get("chemistry")
    own = recorded.strip() if isinstance(recorded, str) and recorded.strip() else None
    names = {kind: sorted({material for material, _lot in found}) for kind, found in lots.items()}
    cathode, anode = " + ".join(names[CATHODE_MATERIAL]), " + ".join(names[ANODE_MATERIAL])
    short = own or (f"{cathode}/{anode}" if cathode and anode else None)
    if short is None:
        missing = [kind for kind in (CATHODE_MATERIAL, ANODE_MATERIAL) if not names[kind]]
        passport.missing[pointer] = (
            "the cell records no chemistry and no material is recorded on the upstream "
            + " or ".join(k.replace("_", " ") for k in missing)
            + " lots."
        )
        _set(passport.data, pointer, None)
        return
    parts = [
        f"{kind.replace('_', ' ')}: " + ", ".join(f"{material} (lot {lot})" for material, lot in found)
        for kind, found in lots.items()
        if found
    ]
    _set(passport.data, pointer, {"shortName": short, "clearName": "; ".join(parts) or short})
    passport.sources[pointer] = {
        "attribute": "chemistry" if own else None,
        "lots": sorted(lot for found in lots.values() for _m, lot in found),
    }


def _place() -> dict[str, str] | None:
    site = (settings.CELLTRACE_SITE_COUNTRY, settings.CELLTRACE_SITE_POSTAL_CODE, settings.CELLTRACE_SITE_STREET)
    if not all(site):
        return None
    return {"addressCountry": site[0], "postalCode": site[1], "streetAddress": site[2]}


def _manufacturing(passport: Passport, item: Item) -> None:
    date_pointer, place_pointer = f"/{GENERAL}/manufacturingDate", f"/{GENERAL}/manufacturingPlace"
    made = Operation.objects.select_related("station").filter(outputs=item).first()
    when: datetime | None = None if made is None else (made.ended_at or made.started_at)
    _set(passport.data, date_pointer, None if when is None else when.isoformat())
    place = _place()
    _set(passport.data, place_pointer, place)
    if made is None:
        passport.missing[date_pointer] = "no operation made this cell (it was registered, not assembled)."
    else:
        origin = {"operation": made.pk, "step": made.step_id, "station": made.station.code}
        passport.sources[date_pointer] = origin
        if place is not None:
            passport.sources[place_pointer] = origin | {"settings": "CELLTRACE_SITE_*"}
    if place is None:
        passport.missing[place_pointer] = (
            "the site's postal address is not configured (CELLTRACE_SITE_COUNTRY, _POSTAL_CODE, _STREET)."
        )


def _identification(item: Item) -> dict[str, str | None]:
    """GS1 Digital Link: the model (01), the batch (01 + 10, the cell's lot if it has one), the
    serial (01 + 21, the cell's code)."""
    reference = item.kind.gtin_item_reference
    serial = digital_link(code=item.code, gtin_item_reference=reference, level="instance")
    batch = item.supplier_lot.strip()
    return {
        "model": f"https://{settings.CELLTRACE_RESOLVER}/01/{kind_gtin(reference)}",
        "batch": digital_link(code=batch, gtin_item_reference=reference, level="batch") if batch else None,
        "serial": serial,
    }


def cell_passport(item: Item) -> Passport:
    """The passport of a cell (InvalidInput naming `code` for any other item)."""
    _cell_check(item)
    identification = _identification(item)
    passport = Passport(code=item.code, data={}, identification=identification)
    _set(passport.data, f"/{GENERAL}/productIdentifier", identification["serial"])
    _manufacturing(passport, item)
    _chemistry(passport, item)
    _performance(passport, item, _newest(_cell_measurements(item)))
    if identification["batch"] is None:
        passport.missing["/identification/batch"] = "the cell records no batch or lot."
    return passport
