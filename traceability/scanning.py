"""What a scan at a station says: the item, and what the operator must be warned of.

One statement of the rule for `POST /api/scan/` and the station page.
"""

import functools
from dataclasses import dataclass, field

from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from core.errors import ErrorCode, NotFound
from lots.identifiers import foreign_label
from lots.models import Item, ItemKind, ItemStatus
from lots.selectors import item_lookup_q, item_queryset

from .models import Hold, Operation, OperationInput, Station, Step
from .services import station_unknown
from .stretches import stretch_warnings


@dataclass
class Scan:
    item: Item
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    open_operation: Operation | None = None

    @property
    def usable(self) -> bool:
        """Active items may be taken into an operation; held, consumed, scrapped ones may not."""
        return self.item.status == ItemStatus.ACTIVE


# What each step takes in on a pouch-cell line, to stop a wrong scan at a station before the
# operation is recorded (the API records what a line PC sends; a station page guides a person).
_RAW_MIXING = ("cathode_active_material", "anode_active_material", "conductive_additive", "binder", "solvent")
STEP_INPUT_KINDS: dict[str, tuple[str, ...]] = {
    "mixing": (*_RAW_MIXING, "slurry"),
    "coating": ("slurry", "current_collector_foil"),
    "drying": ("coated_roll",),
    "calendering": ("coated_roll",),
    "slitting": ("calendered_roll", "coated_roll"),
    "post_drying": ("slit_roll", "calendered_roll", "electrode_sheet"),
    "cutting": ("slit_roll", "calendered_roll"),
    "stacking": ("electrode_sheet", "separator"),
    "winding": ("slit_roll", "separator"),
    "tab_welding": ("stack", "jelly_roll", "tab"),
    "packaging": ("stack", "jelly_roll", "pouch_foil"),
    "electrolyte_filling": ("cell", "electrolyte"),
    **{step: ("cell",) for step in ("wetting", "sealing", "formation", "degassing", "aging", "eol_test")},
}


def step_refuses(item: Item, step: str) -> str | None:
    """Why `step` does not take `item` (a slit roll at the calender), or None when it does."""
    kinds = STEP_INPUT_KINDS.get(step)
    if kinds is None or item.kind_id in kinds:
        return None
    names = dict(ItemKind.objects.filter(code__in=[item.kind_id, *kinds]).values_list("code", "name"))
    takes = ", ".join(names.get(kind, kind).lower() for kind in kinds)
    return (
        f"{item.code} is a {names.get(item.kind_id, item.kind_id).lower()}; "
        f"{step.replace('_', ' ')} takes {takes}. It was not added."
    )


def item_scan(*, code: str, station: Station | None = None) -> Scan:
    """The item a scanned code, Digital Link or EPC names, with warnings for an item that must not
    be used (on hold, with each hold's reason; consumed; scrapped; shipped)."""
    text = code.strip()
    # One query: the item, and whether any of its metres are held (rarely: then they are read).
    # A supplier's Digital Link finds the item captured from its EPCIS event, so the foreign
    # label is only the answer once nothing matched.
    item = item_queryset().filter(item_lookup_q(text)).annotate(stretch_held=_stretch_held()).first()
    if item is None:
        foreign = foreign_label(text)
        if foreign is not None:
            raise NotFound(foreign, field="code", code=ErrorCode.FOREIGN_LABEL)
        raise NotFound(
            f"Nothing on this line has the code {text!r}. Check the label, or scan it again.",
            field="code",
            code=ErrorCode.UNKNOWN_ITEM,
        )
    scan = Scan(item=item)
    if item.status == ItemStatus.ON_HOLD:
        active = Hold.objects.filter(hold_items__item=item, released_at__isnull=True).order_by("pk")
        scan.warnings += [f"on hold: {hold.reason} (hold {hold.pk})" for hold in active] or ["on hold"]
    elif item.status != ItemStatus.ACTIVE:
        scan.warnings.append(f"{item.status}: this item cannot be used")
    if item.stretch_held:  # type: ignore[attr-defined]
        scan.warnings += stretch_warnings(item)
    if station is not None:
        scan.next_steps = station_step_codes(station)
    scan.open_operation = open_operation_of(item, station)
    return scan


def open_operation_of(item: Item, station: Station | None) -> Operation | None:
    """The open run (no `ended_at`) a scan is about. At the scanning station: the one the item is
    in (an output or an input of it), else the latest started there (the run the operator adds
    to or finishes). With no run open there, or no station: the open run the item is in,
    wherever it is, the latest started first. None when there is none. One query: the three
    preferences are a rank to order by."""
    station_id = station.pk if station is not None else None
    holding = [item.produced_by_id, item.pk]
    params = [*holding, station_id, station_id, *holding]
    return next(iter(Operation.objects.raw(_open_operation_sql(), params)), None)


@functools.cache
def _open_operation_sql() -> str:
    # Written once: the ORM took longer to compile this than the database to run it.
    # params: the holding test's (produced_by, item), the station, again both; a NULL station
    # matches no run, so only the runs the item is in are left.
    holding = (
        f"(o.id = %s OR EXISTS (SELECT 1 FROM {OperationInput._meta.db_table} i"
        " WHERE i.operation_id = o.id AND i.item_id = %s))"
    )
    return (
        f"SELECT o.*, CASE WHEN {holding} THEN 0 ELSE 1 END AS scan_not_in,"  # noqa: S608
        " CASE WHEN o.station_id = %s THEN 0 ELSE 1 END AS scan_elsewhere"
        f" FROM {Operation._meta.db_table} o WHERE o.ended_at IS NULL AND (o.station_id = %s OR {holding})"
        " ORDER BY scan_elsewhere, scan_not_in, o.started_at DESC, o.id DESC LIMIT 1"
    )


def _stretch_held() -> RawSQL:
    # As SQL text: an Exists of a queryset cost more to compile than the rest of the scan's query.
    holds, items = Hold._meta.db_table, Item._meta.db_table
    return RawSQL(
        f"EXISTS (SELECT 1 FROM {holds} h WHERE h.item_id = {items}.id"  # noqa: S608
        " AND h.released_at IS NULL AND h.from_m IS NOT NULL)",
        [],
        output_field=BooleanField(),
    )


def scan_station(code: str) -> Station:
    """The station a scan is made at, with its step codes in line order (`scan_steps`), in one
    query; an unknown code is station_get's 400 (station_unknown). No row is the answer itself: asking again could
    find a station created in between and leave nothing to return."""
    rows = list(Station.objects.raw(_station_sql(), [code]))
    if not rows:
        raise station_unknown(code)
    station = rows[0]
    station.scan_steps = [row.scan_step for row in rows if row.scan_step is not None]  # type: ignore[attr-defined]
    return station


@functools.cache
def _station_sql() -> str:
    # A row per step (one with no step for a station without): the ORM's join cost more to build.
    links = Station.steps.through._meta.db_table
    return (
        f"SELECT s.*, st.code AS scan_step FROM {Station._meta.db_table} s"  # noqa: S608
        f" LEFT JOIN {links} l ON l.station_id = s.id LEFT JOIN {Step._meta.db_table} st ON st.code = l.step_id"
        " WHERE s.code = %s ORDER BY st.sequence"
    )


def station_step_codes(station: Station) -> list[str]:
    """The station's steps in line order (read with the station by scan_station, else now)."""
    known: list[str] | None = getattr(station, "scan_steps", None)
    if known is not None:
        return known
    return list(station.steps.values_list("code", flat=True))


def last_parameters(*, station: Station, step: str) -> dict[str, dict[str, object]]:
    """The machine parameters of the station's last operation of `step`, to pre-fill the next."""
    last = Operation.objects.filter(station=station, step_id=step).order_by("-started_at", "-pk").first()
    return dict(last.parameters) if last is not None else {}
