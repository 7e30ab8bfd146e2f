"""Writes on items: registration, code allocation, status changes."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
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
        raise InvalidInput(f"Unknown item kind {code!r}.", field=field, code=ErrorCode.UNKNOWN_KIND) from None


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


@transaction.atomic
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
    item_kind = kind_get(kind)
    value, unit_str = kind_quantity(kind=item_kind, quantity=quantity, unit=unit, field="", attributes=attributes)
    if polarity is not None and polarity not in Polarity.values:
        raise InvalidInput("Polarity is cathode or anode.", field="polarity")
    if polarity is not None and not item_kind.on_electrode_path:
        raise InvalidInput(f"A {item_kind.code} has no polarity.", field="polarity")
    epc = epc_normalize(rfid_epc) if rfid_epc else None
    item = Item(
        code=code or codes_allocate(prefix=item_kind.code_prefix, count=1)[0],
        kind=item_kind,
        quantity=to_decimal(value),
        initial_quantity=to_decimal(value),
        unit=unit_str,
        length_m=length_of(value, unit_str),
        polarity=polarity,
        rfid_epc=epc,
        supplier_lot=supplier_lot,
        gtin=gtin,
        gs1_serial=gs1_serial,
        attributes=attributes or {},
        created_at=created_at or timezone.now(),
        created_by=actor_user(actor),
        station=station,
    )
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError:
        if Item.objects.filter(code=item.code).exists():
            raise Conflict(
                f"An item with code {item.code!r} exists.", field="code", code=ErrorCode.DUPLICATE_CODE
            ) from None
        if gs1_serial and Item.objects.filter(gtin=gtin, gs1_serial=gs1_serial).exists():
            raise Conflict(
                f"An item with GTIN {gtin} and serial {gs1_serial!r} exists.",
                field="gs1_serial",
                code=ErrorCode.DUPLICATE_EPC,
            ) from None
        raise Conflict(f"An item with EPC {epc!r} exists.", field="rfid_epc", code=ErrorCode.DUPLICATE_EPC) from None
    audit_record(
        actor=actor,
        action="item.register",
        entity="item",
        entity_id=item.code,
        station=station.code if station else "",
        after=item_snapshot(item),
    )
    return item


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
