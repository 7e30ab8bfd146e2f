"""items_register: many items by item_register's rules in a few statements; a refusal names the
spec (items[i].<field>) and writes nothing."""

import pytest
from django.db import connection

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode, InvalidInput
from lots.models import Item
from lots.services import ItemSpec, item_register, items_register

pytestmark = pytest.mark.django_db

CAM = "cathode_active_material"
SGTIN = "urn:epc:id:sgtin:0614141.812345.{}"


@pytest.fixture
def nothing_written(db):
    before = (Item.objects.count(), AuditEvent.objects.count())
    yield
    assert (Item.objects.count(), AuditEvent.objects.count()) == before


def test_many_items_are_registered_and_audited_in_a_bounded_number_of_queries(
    operator, stations, django_assert_max_num_queries
):
    item_register(actor=operator, kind=CAM, quantity=1, unit="kg")  # the code sequences made
    item_register(actor=operator, kind="cell")
    specs = [ItemSpec(kind=CAM, quantity=i + 1, unit="kg", supplier_lot=f"L{i}") for i in range(30)]
    specs += [ItemSpec(kind="cell", rfid_epc=SGTIN.format(i), station=stations["FORM-01"]) for i in range(30)]
    # savepoints 2, kinds 1, two prefixes 2 each, the items 1 (in its savepoint 2), the audit 2
    # stations; SQLite's INSERT takes at most 999 variables, so Django sends the 60 items in two
    inserts = 2 if connection.vendor == "sqlite" else 1
    with django_assert_max_num_queries(11 + inserts):
        items = items_register(actor=operator, specs=specs)
    assert [i.supplier_lot for i in items[:30]] == [f"L{i}" for i in range(30)]
    assert len({i.code for i in items}) == 60 and all(Item.objects.filter(pk=i.pk).exists() for i in items[::7])
    cell = Item.objects.get(rfid_epc=SGTIN.format(3))
    assert (cell.kind_id, float(cell.quantity), cell.station.code) == ("cell", 1.0, "FORM-01")
    audits = AuditEvent.objects.filter(action="item.register", entity_id__in=[i.code for i in items])
    assert audits.count() == 60
    assert audits.get(entity_id=cell.code).station == "FORM-01"
    assert audits.get(entity_id=items[4].code).after["quantity"] == 5.0


@pytest.mark.parametrize(
    ("bad", "field", "code"),
    [
        ({"kind": "nope"}, "items[1].kind", ErrorCode.UNKNOWN_KIND),
        ({"quantity": -1}, "items[1].quantity", ErrorCode.BAD_QUANTITY),
        ({"unit": ""}, "items[1].unit", ErrorCode.BAD_UNIT),
        ({"polarity": "anode"}, "items[1].polarity", ErrorCode.INVALID),
        ({"rfid_epc": "nonsense"}, "items[1].rfid_epc", ErrorCode.BAD_EPC),
    ],
)
def test_a_bad_spec_is_named_by_its_index_and_nothing_is_written(operator, nothing_written, bad, field, code):
    good = {"kind": CAM, "quantity": 2, "unit": "kg"}
    with pytest.raises(InvalidInput) as caught:
        items_register(actor=operator, specs=[ItemSpec(**good), ItemSpec(**(good | bad))])
    assert (list(caught.value.errors), caught.value.code) == ([field], code)


def test_the_same_epc_twice_among_the_specs_is_a_conflict_at_the_second(operator, nothing_written):
    specs = [ItemSpec(kind="cell", rfid_epc=SGTIN.format(1)), ItemSpec(kind="cell", rfid_epc=SGTIN.format(1))]
    with pytest.raises(Conflict) as caught:
        items_register(actor=operator, specs=specs)
    assert list(caught.value.errors) == ["items[1].rfid_epc"] and "twice" in caught.value.message


def test_an_epc_or_code_already_on_the_line_is_a_conflict_naming_the_spec(operator):
    item_register(actor=operator, kind="cell", rfid_epc=SGTIN.format(9), code="CELL-X")
    before = Item.objects.count()
    with pytest.raises(Conflict) as by_epc:
        items_register(actor=operator, specs=[ItemSpec(kind="cell"), ItemSpec(kind="cell", rfid_epc=SGTIN.format(9))])
    with pytest.raises(Conflict) as by_code:
        items_register(actor=operator, specs=[ItemSpec(kind="cell", code="CELL-X")])
    assert (list(by_epc.value.errors), by_epc.value.code) == (["items[1].rfid_epc"], ErrorCode.DUPLICATE_EPC)
    assert (list(by_code.value.errors), by_code.value.code) == (["items[0].code"], ErrorCode.DUPLICATE_CODE)
    assert Item.objects.count() == before


def test_no_specs_is_no_query(operator, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert items_register(actor=operator, specs=[]) == []
