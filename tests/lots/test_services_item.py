"""Item registration and scrapping through the services (no HTTP)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode, InvalidInput
from lots.models import CodeSequence, Item, ItemStatus
from lots.services import codes_allocate, item_register, status_check
from traceability.models import Scrap
from traceability.scrapping import item_scrap

SGTIN = "urn:epc:id:sgtin:0614141.812345.6789"
SGTIN_HEX = "3034257BF7194E4000001A85"


def _register(actor, kind="cathode_active_material", quantity=25, unit="kg", **extra):
    return item_register(actor=actor, kind=kind, quantity=quantity, unit=unit, **extra)


@pytest.fixture
def nothing_written(db):
    """Asserts, after the test body, that no item and no audit row was written."""
    before = (Item.objects.count(), AuditEvent.objects.count())
    yield
    assert (Item.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_register_stores_the_item_and_an_audit_row(operator):
    item = _register(operator, supplier_lot="NMC-A1", attributes={"d50_um": 11.2})
    item.refresh_from_db()
    assert item.code.startswith("CAM-")
    assert item.kind_id == "cathode_active_material"
    assert item.status == ItemStatus.ACTIVE
    assert item.quantity == item.initial_quantity == Decimal("25")
    assert item.unit == "kg"
    assert item.length_m is None
    assert item.supplier_lot == "NMC-A1"
    assert item.attributes == {"d50_um": 11.2}
    assert item.created_by == operator
    assert item.created_at.tzinfo is not None
    event = AuditEvent.objects.get(action="item.register", entity_id=item.code)
    assert event.entity == "item"
    assert event.actor == operator
    assert event.before is None
    after = dict(event.after)
    assert Decimal(after.pop("quantity")) == Decimal("25")
    assert after == {"code": item.code, "kind": "cathode_active_material", "status": "active", "unit": "kg"}


@pytest.mark.django_db
def test_generated_codes_are_unique_and_use_the_kind_prefix(operator):
    codes = [_register(operator).code for _ in range(3)]
    codes.append(_register(operator, "current_collector_foil", 1000, "m").code)
    codes.append(item_register(actor=operator, kind="cell").code)
    assert len(set(codes)) == len(codes)
    assert [c.split("-")[0] for c in codes] == ["CAM", "CAM", "CAM", "FOIL", "CELL"]
    assert all(c.split("-")[1].isdigit() for c in codes)


@pytest.mark.django_db
def test_codes_allocate_hands_out_consecutive_blocks():
    first = codes_allocate(prefix="ZZ", count=3)
    second = codes_allocate(prefix="ZZ", count=2)
    assert first == ["ZZ-000001", "ZZ-000002", "ZZ-000003"]
    assert second == ["ZZ-000004", "ZZ-000005"]
    assert CodeSequence.objects.get(prefix="ZZ").last_value == 5


@pytest.mark.django_db
def test_a_given_code_is_kept(operator):
    item = _register(operator, code="NMC-LOT-42")
    assert Item.objects.get(code="NMC-LOT-42") == item


@pytest.mark.django_db
def test_a_given_created_at_is_kept(operator, stations):
    at = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    item = _register(operator, created_at=at, station=stations["MIX-01"])
    item.refresh_from_db()
    assert item.created_at == at
    assert item.station == stations["MIX-01"]
    assert AuditEvent.objects.get(action="item.register", entity_id=item.code).station == "MIX-01"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "quantity", "unit", "length_m"),
    [
        ("current_collector_foil", 1000, "m", 1000.0),
        ("coated_roll", 0.5, "km", 500.0),
        ("separator", 2000, "cm", 20.0),
        ("binder", 5, "kg", None),
    ],
)
def test_rolls_get_their_length_in_metres(operator, kind, quantity, unit, length_m):
    item = _register(operator, kind, quantity, unit)
    item.refresh_from_db()
    assert item.unit == unit  # stored as given
    assert item.length_m == (pytest.approx(length_m) if length_m is not None else None)


@pytest.mark.django_db
def test_an_instance_kind_defaults_to_one_piece(operator):
    item = item_register(actor=operator, kind="cell")
    assert (item.quantity, item.unit) == (Decimal("1"), "count")


@pytest.mark.django_db
def test_quantities_are_stored_without_float_noise(operator):
    item = _register(operator, quantity=0.1 + 0.2)
    item.refresh_from_db()
    assert item.quantity == Decimal("0.3")


@pytest.mark.django_db
def test_polarity_on_an_electrode_path_kind(operator):
    item = _register(operator, "slurry", 10, "kg", polarity="cathode")
    item.refresh_from_db()
    assert item.polarity == "cathode"


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [SGTIN, SGTIN_HEX, "urn:epc:tag:sgtin-96:3.0614141.812345.6789"])
def test_the_epc_is_stored_as_its_pure_identity_urn(operator, raw):
    item = _register(operator, rfid_epc=raw)
    item.refresh_from_db()
    assert item.rfid_epc == SGTIN


@pytest.mark.django_db
def test_untagged_items_store_null_so_many_can_be_untagged(operator):
    first, second = _register(operator), _register(operator, rfid_epc="")
    assert first.rfid_epc is None and second.rfid_epc is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"kind": "unobtainium"}, "kind", ErrorCode.UNKNOWN_KIND),
        ({"quantity": -1}, "quantity", ErrorCode.BAD_QUANTITY),
        ({"quantity": 0}, "quantity", ErrorCode.BAD_QUANTITY),
        ({"quantity": None}, "quantity", ErrorCode.BAD_QUANTITY),
        ({"quantity": float("nan")}, "quantity", ErrorCode.BAD_QUANTITY),
        ({"quantity": float("inf")}, "quantity", ErrorCode.BAD_QUANTITY),
        ({"quantity": "lots"}, "quantity", ErrorCode.BAD_QUANTITY),
        ({"quantity": 1e15}, "quantity", ErrorCode.BAD_QUANTITY),  # more digits than the column holds
        ({"quantity": 1e-9}, "quantity", ErrorCode.BAD_QUANTITY),  # rounds to zero micro-units
        ({"unit": None}, "unit", ErrorCode.BAD_UNIT),
        ({"unit": ""}, "unit", ErrorCode.BAD_UNIT),
        ({"unit": "furlongz"}, "unit", ErrorCode.BAD_UNIT),
        ({"unit": "1/0"}, "unit", ErrorCode.BAD_UNIT),
        ({"unit": "m"}, "unit", ErrorCode.INCOMPATIBLE_UNIT),
        ({"kind": "coated_roll", "unit": "kg"}, "unit", ErrorCode.INCOMPATIBLE_UNIT),
        ({"polarity": "anode"}, "polarity", InvalidInput.code),
        ({"polarity": "north"}, "polarity", InvalidInput.code),
        ({"rfid_epc": "not-an-epc"}, "rfid_epc", ErrorCode.BAD_EPC),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(operator, nothing_written, kwargs, field, code):
    fields = {"kind": "cathode_active_material", "quantity": 25, "unit": "kg"} | kwargs
    sequences = list(CodeSequence.objects.values_list("prefix", "last_value"))
    with pytest.raises(InvalidInput) as info:
        item_register(actor=operator, **fields)
    assert info.value.code == code
    assert list(info.value.errors) == [field]
    assert list(CodeSequence.objects.values_list("prefix", "last_value")) == sequences


@pytest.mark.django_db
def test_duplicate_code_is_a_conflict(operator):
    _register(operator, code="NMC-LOT-42")
    before = (Item.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Conflict) as info:
        _register(operator, code="NMC-LOT-42")
    assert info.value.code == ErrorCode.DUPLICATE_CODE
    assert list(info.value.errors) == ["code"]
    assert (Item.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_duplicate_epc_is_a_conflict_whatever_its_spelling(operator):
    _register(operator, rfid_epc=SGTIN)
    before = (Item.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Conflict) as info:
        _register(operator, rfid_epc=SGTIN_HEX)
    assert info.value.code == ErrorCode.DUPLICATE_EPC
    assert list(info.value.errors) == ["rfid_epc"]
    assert (Item.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_scrap_marks_the_item_records_the_scrap_and_audits(operator):
    item = _register(operator, "current_collector_foil", 1000, "m")
    scrapped = item_scrap(actor=operator, code=item.code, reason="creased")
    item.refresh_from_db()
    assert scrapped.status == item.status == ItemStatus.SCRAPPED
    scrap = Scrap.objects.get(item=item)
    assert (scrap.quantity, scrap.unit, scrap.reason) == (Decimal("1000"), "m", "creased")
    event = AuditEvent.objects.get(action="item.scrap", entity_id=item.code)
    assert event.actor == operator
    assert event.before["status"] == "active"
    assert event.after["status"] == "scrapped"
    assert event.after["reason"] == "creased"


@pytest.mark.django_db
def test_scrap_twice_is_a_conflict_and_writes_nothing(operator):
    item = _register(operator)
    item_scrap(actor=operator, code=item.code, reason="wet")
    before = (Scrap.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Conflict) as info:
        item_scrap(actor=operator, code=item.code, reason="wet again")
    assert info.value.code == ErrorCode.ITEM_NOT_ACTIVE
    assert list(info.value.errors) == ["item"]
    assert (Scrap.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"code": "NOPE-1", "reason": "x"}, "item", ErrorCode.UNKNOWN_ITEM),
        ({"reason": "   "}, "reason", InvalidInput.code),
        ({"reason": ""}, "reason", InvalidInput.code),
    ],
)
def test_scrap_bad_input(operator, kwargs, field, code):
    item = _register(operator)
    with pytest.raises(InvalidInput) as info:
        item_scrap(actor=operator, **({"code": item.code} | kwargs))
    assert info.value.code == code
    assert list(info.value.errors) == [field]
    item.refresh_from_db()
    assert item.status == ItemStatus.ACTIVE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "new_status", "code"),
    [
        (ItemStatus.CONSUMED, ItemStatus.SCRAPPED, ErrorCode.ITEM_CONSUMED),
        (ItemStatus.ON_HOLD, ItemStatus.CONSUMED, ErrorCode.ITEM_ON_HOLD),
        (ItemStatus.SHIPPED, ItemStatus.CONSUMED, ErrorCode.ITEM_NOT_ACTIVE),
        (ItemStatus.SCRAPPED, ItemStatus.ACTIVE, ErrorCode.ITEM_NOT_ACTIVE),
    ],
)
def test_status_check_refuses_transitions_outside_the_map(operator, status, new_status, code):
    item = _register(operator)
    item.status = status
    with pytest.raises(Conflict) as info:
        status_check(item, new_status)
    assert info.value.code == code


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "new_status"),
    [(ItemStatus.ACTIVE, ItemStatus.SCRAPPED), (ItemStatus.ON_HOLD, ItemStatus.ACTIVE)],
)
def test_status_check_allows_transitions_in_the_map(operator, status, new_status):
    item = _register(operator)
    item.status = status
    status_check(item, new_status)  # no exception
