"""What a scan at a station says: the item, and what the operator must be warned of.

One statement of the rule for `POST /api/scan/` and the station page.
"""

from dataclasses import dataclass, field

from django.db.models import Q

from core.errors import ErrorCode, NotFound
from lots.models import Item, ItemKind, ItemStatus
from lots.selectors import item_get

from .models import Hold, Operation, Station
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
    try:
        item = item_get(text)  # a supplier's Digital Link finds the item captured from its EPCIS event
    except NotFound as missing:
        if missing.code == ErrorCode.FOREIGN_LABEL:
            raise NotFound(missing.message, field="code", code=ErrorCode.FOREIGN_LABEL) from None
        raise NotFound(
            f"Nothing on this line has the code {text!r}. Check the label, or scan it again.",
            field="code",
            code=ErrorCode.UNKNOWN_ITEM,
        ) from None
    scan = Scan(item=item)
    if item.status == ItemStatus.ON_HOLD:
        active = Hold.objects.filter(hold_items__item=item, released_at__isnull=True).order_by("pk")
        scan.warnings += [f"on hold: {hold.reason} (hold {hold.pk})" for hold in active] or ["on hold"]
    elif item.status != ItemStatus.ACTIVE:
        scan.warnings.append(f"{item.status}: this item cannot be used")
    scan.warnings += stretch_warnings(item)
    if station is not None:
        scan.next_steps = list(station.steps.values_list("code", flat=True))
    scan.open_operation = open_operation_of(item, station)
    return scan


def open_operation_of(item: Item, station: Station | None) -> Operation | None:
    """The open run (no `ended_at`) a scan is about. At the scanning station: the one the item is
    in (an output or an input of it), else the latest started there (the run the operator adds
    to or finishes). With no run open there, or no station: the open run the item is in,
    wherever it is, the latest started first. None when there is none."""
    open_runs = Operation.objects.filter(ended_at__isnull=True).order_by("-started_at", "-pk")
    holding = Q(outputs=item) | Q(inputs__item=item)
    if station is not None:
        at_station = open_runs.filter(station=station)
        found = at_station.filter(holding).first() or at_station.first()
        if found is not None:
            return found
    return open_runs.filter(holding).first()


def last_parameters(*, station: Station, step: str) -> dict[str, dict[str, object]]:
    """The machine parameters of the station's last operation of `step`, to pre-fill the next."""
    last = Operation.objects.filter(station=station, step_id=step).order_by("-started_at", "-pk").first()
    return dict(last.parameters) if last is not None else {}
