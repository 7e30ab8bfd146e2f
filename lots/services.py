"""Writes on items: registration, code allocation, status changes."""

from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record_many
from core.errors import Conflict, ErrorCode, InvalidInput
from core.units import convert, density_parse, is_length, parse_unit, quantity_in_kind_unit, to_decimal
from core.values import number

from .identifiers import epc_normalize
from .models import (
    STATUS_TRANSITIONS,
    CodeSequence,
    Item,
    ItemKind,
    ItemLevel,
    ItemStatus,
    ItemStatusChange,
    Polarity,
    statuses_before,
)


def kind_get(code: object, *, field: str = "kind") -> ItemKind:
    try:
        return ItemKind.objects.get(code=code)
    except (ItemKind.DoesNotExist, ValueError, TypeError):
        raise _kind_unknown(code, field) from None


def _kind_unknown(code: object, field: str) -> InvalidInput:
    return InvalidInput(f"Unknown item kind {code!r}.", field=field, code=ErrorCode.UNKNOWN_KIND)


def codes_allocate(*, prefix: str, count: int) -> list[str]:
    """`count` fresh codes like CR-000042, in one UPDATE ... RETURNING (PostgreSQL and SQLite)."""
    CodeSequence.objects.get_or_create(prefix=prefix)
    table = CodeSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_value = last_value + %s WHERE prefix = %s RETURNING last_value",
            [count, prefix],
        )
        last = cursor.fetchone()[0]
    return [f"{prefix}-{n:06d}" for n in range(last - count + 1, last + 1)]


def kind_quantity(
    *, kind: ItemKind, quantity: object, unit: object, field: str, attributes: Mapping[str, Any] | None = None
) -> tuple[float, str]:
    """A registered or produced quantity as it is stored: (value, unit). The unit is any of the
    kind's dimensions (units.quantity_in_kind_unit); mass for a volume kind, or volume for a
    mass kind, goes through `attributes.density`, which is checked whenever it is given."""
    if kind.level == ItemLevel.INSTANCE and quantity is None:
        return 1.0, kind.default_unit
    if quantity is None:
        raise InvalidInput("A quantity is required.", field=f"{field}quantity", code=ErrorCode.BAD_QUANTITY)
    value = number(quantity, field=f"{field}quantity")
    if value <= 0:
        raise InvalidInput("The quantity must be positive.", field=f"{field}quantity", code=ErrorCode.BAD_QUANTITY)
    if unit is None or unit == "":
        raise InvalidInput("A unit is required.", field=f"{field}unit", code=ErrorCode.BAD_UNIT)
    if not isinstance(unit, str):
        parse_unit(unit, field=f"{field}unit")  # raises the field-named error
    density = (attributes or {}).get("density")
    density_field = f"{field}attributes.density"
    if density is not None:
        density_parse(density, field=density_field)
    stored, stored_unit = quantity_in_kind_unit(
        kind,
        value,
        str(unit),
        density,
        field=f"{field}unit",
        value_field=f"{field}quantity",
        density_field=density_field,
    )
    # The column holds 14 integer digits and 6 decimals; outside that a save fails or stores 0.
    if not 1e-6 <= round(stored, 6) < 1e14:
        raise InvalidInput(
            "The quantity must be between 0.000001 and 10**14.", field=f"{field}quantity", code=ErrorCode.BAD_QUANTITY
        )
    return stored, stored_unit


def length_of(value: float, unit: str) -> float | None:
    return convert(value, unit, "m", field="unit", value_field="quantity") if is_length(unit) else None


@dataclass(frozen=True)
class ItemSpec:
    """One item to register: what item_register takes, for items_register's list."""

    kind: str
    quantity: object = None
    unit: object = None
    code: str | None = None
    rfid_epc: str | None = None
    supplier_lot: str = ""
    polarity: str | None = None
    attributes: dict[str, Any] | None = None
    station: Any = None
    created_at: datetime | None = None
    gtin: str = ""
    gs1_serial: str = ""


def item_register(
    *,
    actor: Actor,
    kind: str,
    quantity: object = None,
    unit: object = None,
    code: str | None = None,
    rfid_epc: str | None = None,
    supplier_lot: str = "",
    polarity: str | None = None,
    attributes: dict[str, Any] | None = None,
    station: Any = None,
    created_at: datetime | None = None,
    gtin: str = "",
    gs1_serial: str = "",
) -> Item:
    """Register material entering the line (a powder lot, a foil roll, an electrolyte drum: supplier lots)."""
    spec = ItemSpec(kind=kind, quantity=quantity, unit=unit, code=code, rfid_epc=rfid_epc, supplier_lot=supplier_lot,
                    polarity=polarity, attributes=attributes, station=station, created_at=created_at, gtin=gtin,
                    gs1_serial=gs1_serial)  # fmt: skip
    return _register(actor=actor, specs=[spec], fields=[""])[0]


def items_register(*, actor: Actor, specs: Sequence[ItemSpec]) -> list[Item]:
    """Register many items by item_register's rules in a few statements, whatever their number:
    one SELECT of their kinds, one code allocation per kind prefix, one INSERT of the items, one
    of their audit events per station. A refusal names the spec as `items[i].<field>`; then
    nothing is written."""
    if not specs:
        return []
    return _register(actor=actor, specs=specs, fields=[f"items[{i}]." for i in range(len(specs))])


@transaction.atomic
def _register(*, actor: Actor, specs: Sequence[ItemSpec], fields: list[str]) -> list[Item]:
    kinds = ItemKind.objects.in_bulk({s.kind for s in specs if isinstance(s.kind, str)})
    built = [
        _item_build(spec, _kind_of(kinds, spec.kind, field=f"{field}kind"), actor=actor, field=field)
        for spec, field in zip(specs, fields, strict=True)
    ]
    need: dict[str, int] = defaultdict(int)
    for item in built:
        if not item.code:
            need[item.kind.code_prefix] += 1
    fresh = {prefix: iter(codes_allocate(prefix=prefix, count=n)) for prefix, n in sorted(need.items())}
    for item in built:
        item.code = item.code or next(fresh[item.kind.code_prefix])
    _duplicates_refuse(built, fields)
    try:
        with transaction.atomic():
            Item.objects.bulk_create(built)
    except IntegrityError:
        _conflict_raise(built, fields)
    by_station: dict[str, list[Item]] = defaultdict(list)
    for item in built:
        by_station[item.station.code if item.station else ""].append(item)
    for station, items in by_station.items():
        audit_record_many(actor=actor, action="item.register", entity="item", station=station,
                          rows=[(item.code, None, item_snapshot(item)) for item in items])  # fmt: skip
    return built


def _kind_of(kinds: Mapping[str, ItemKind], code: object, *, field: str) -> ItemKind:
    found = kinds.get(code) if isinstance(code, str) else None
    if found is None:
        raise _kind_unknown(code, field)
    return found


def _item_build(spec: ItemSpec, item_kind: ItemKind, *, actor: Actor, field: str) -> Item:
    """The unsaved item of a spec, every rule of registration checked; its code may be empty."""
    value, unit_str = kind_quantity(
        kind=item_kind, quantity=spec.quantity, unit=spec.unit, field=field, attributes=spec.attributes
    )
    if spec.polarity is not None and spec.polarity not in Polarity.values:
        raise InvalidInput("Polarity is cathode or anode.", field=f"{field}polarity")
    if spec.polarity is not None and not item_kind.on_electrode_path:
        raise InvalidInput(f"A {item_kind.code} has no polarity.", field=f"{field}polarity")
    return Item(
        code=spec.code or "",
        kind=item_kind,
        quantity=to_decimal(value),
        initial_quantity=to_decimal(value),
        unit=unit_str,
        length_m=length_of(value, unit_str),
        polarity=spec.polarity,
        rfid_epc=epc_normalize(spec.rfid_epc, field=f"{field}rfid_epc") if spec.rfid_epc else None,
        supplier_lot=spec.supplier_lot,
        gtin=spec.gtin,
        gs1_serial=spec.gs1_serial,
        attributes=spec.attributes or {},
        created_at=spec.created_at or timezone.now(),
        created_by=actor_user(actor),
        station=spec.station,
    )


def _clashes(item: Item, codes: Container[str], serials: Container[tuple[str, str]], epcs: Container[str]) -> str:
    """Which unique key of `item` is among those given: code, gs1_serial, rfid_epc or ""."""
    if item.code in codes:
        return "code"
    if item.gs1_serial and (item.gtin, item.gs1_serial) in serials:
        return "gs1_serial"
    if item.rfid_epc and item.rfid_epc in epcs:
        return "rfid_epc"
    return ""


def _conflict(item: Item, key: str, field: str, *, twice: bool = False) -> Conflict:
    named = {"code": f"code {item.code!r}", "gs1_serial": f"GTIN {item.gtin} and serial {item.gs1_serial!r}",
             "rfid_epc": f"EPC {item.rfid_epc!r}"}[key]  # fmt: skip
    error = ErrorCode.DUPLICATE_CODE if key == "code" else ErrorCode.DUPLICATE_EPC
    return Conflict(
        f"An item with {named} {'is given twice' if twice else 'exists'}.", field=f"{field}{key}", code=error
    )


def _duplicates_refuse(items: list[Item], fields: list[str]) -> None:
    """The same code, serial or EPC twice among the items: refused at the second."""
    codes: set[str] = set()
    serials: set[tuple[str, str]] = set()
    epcs: set[str] = set()
    for item, field in zip(items, fields, strict=True):
        key = _clashes(item, codes, serials, epcs)
        if key:
            raise _conflict(item, key, field, twice=True)
        codes.add(item.code)
        if item.gs1_serial:
            serials.add((item.gtin, item.gs1_serial))
        if item.rfid_epc:
            epcs.add(item.rfid_epc)


def _conflict_raise(items: list[Item], fields: list[str]) -> NoReturn:
    """After a refused INSERT: the first item whose code, serial or EPC is taken, as a Conflict."""
    serial_q = Q(pk__in=[])
    for item in items:
        if item.gs1_serial:
            serial_q |= Q(gtin=item.gtin, gs1_serial=item.gs1_serial)
    epcs = [item.rfid_epc for item in items if item.rfid_epc]
    taken = Item.objects.filter(Q(code__in=[i.code for i in items]) | serial_q | Q(rfid_epc__in=epcs))
    rows = list(taken.values_list("code", "gtin", "gs1_serial", "rfid_epc"))
    codes, serials = {r[0] for r in rows}, {(r[1], r[2]) for r in rows if r[2]}
    found = {r[3] for r in rows if r[3]}
    for item, field in zip(items, fields, strict=True):
        key = _clashes(item, codes, serials, found)
        if key:
            raise _conflict(item, key, field) from None
    first = next((item for item in items if item.rfid_epc), items[0])
    raise _conflict(first, "rfid_epc", fields[items.index(first)]) from None


def item_snapshot(item: Item) -> dict[str, Any]:
    return {
        "code": item.code,
        "kind": item.kind_id,
        "status": item.status,
        "quantity": float(item.quantity),
        "unit": item.unit,
    } | ({"gtin": item.gtin, "supplier_lot": item.supplier_lot, "gs1_serial": item.gs1_serial} if item.gtin else {})


def status_check(item: Item, new_status: str, *, field: str = "item") -> None:
    if new_status not in STATUS_TRANSITIONS[item.status]:
        code = {
            ItemStatus.CONSUMED: ErrorCode.ITEM_CONSUMED,
            ItemStatus.ON_HOLD: ErrorCode.ITEM_ON_HOLD,
        }.get(ItemStatus(item.status), ErrorCode.ITEM_NOT_ACTIVE)
        raise Conflict(f"{item.code} is {item.status}; it cannot become {new_status}.", field=field, code=code)


def item_status_set(
    items: "QuerySet[Any, Any] | Iterable[int]",
    status: str,
    *,
    actor: Actor,
    reason: str = "",
    operation: Any = None,
    hold: Any = None,
    at: datetime | None = None,
    field: str = "item",
) -> int:
    """The one writer of an item's status after creation; how many items changed.

    Set-based for the thousands a recall catches: one SELECT of those that may become `status`
    (STATUS_TRANSITIONS), one bulk INSERT of their ItemStatusChange rows, one UPDATE. Items
    already in `status` are left alone; any other one refuses the whole change (Conflict,
    field `field`). The caller holds the rows' locks, so the three statements see the same rows.
    """
    chosen = Item.objects.filter(pk__in=items)
    refused = chosen.exclude(status__in=[*statuses_before(status), status]).first()
    if refused is not None:
        status_check(refused, status, field=field)  # raises the error of its status
    movable = chosen.filter(status__in=statuses_before(status))
    moment, user = at or timezone.now(), actor_user(actor)
    changes = [
        ItemStatusChange(
            item_id=pk,
            from_status=previous,
            to_status=status,
            at=moment,
            actor=user,
            reason=reason,
            operation=operation,
            hold=hold,
        )
        for pk, previous in movable.values_list("pk", "status")
    ]
    if not changes:
        return 0
    ItemStatusChange.objects.bulk_create(changes, batch_size=2000)
    return movable.update(status=status)
