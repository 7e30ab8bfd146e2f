"""Item status changes: one writer (item_status_set) checking the map and recording each change."""

import pytest
from django.db import DatabaseError, connection, transaction

from core.errors import Conflict, ErrorCode
from lots.models import STATUS_TRANSITIONS, Item, ItemStatus, ItemStatusChange, statuses_before
from lots.services import item_status_set
from tests.factories import register
from traceability.holds import hold_place, hold_release
from traceability.scrapping import item_scrap
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db


def _changes(item: Item) -> list[tuple[str, str]]:
    return list(item.status_changes.order_by("id").values_list("from_status", "to_status"))


def test_every_status_has_its_transitions():
    assert set(STATUS_TRANSITIONS) == set(ItemStatus.values)
    assert statuses_before(ItemStatus.CONSUMED) == [ItemStatus.ACTIVE]
    assert set(statuses_before(ItemStatus.ON_HOLD)) == {ItemStatus.ACTIVE, ItemStatus.SHIPPED}


@pytest.mark.parametrize(
    ("status", "new_status", "code"),
    [
        (ItemStatus.CONSUMED, ItemStatus.ACTIVE, ErrorCode.ITEM_CONSUMED),
        (ItemStatus.SCRAPPED, ItemStatus.ON_HOLD, ErrorCode.ITEM_NOT_ACTIVE),
        (ItemStatus.ON_HOLD, ItemStatus.CONSUMED, ErrorCode.ITEM_ON_HOLD),
    ],
)
def test_a_forbidden_transition_is_refused_and_nothing_changes(operator, status, new_status, code):
    good = register(operator, "cathode_active_material", 5, "kg")
    bad = register(operator, "cathode_active_material", 5, "kg")
    Item.objects.filter(pk=bad.pk).update(status=status)
    with pytest.raises(Conflict) as info:
        item_status_set([good.pk, bad.pk], new_status, actor=operator, field="items")
    assert (info.value.code, list(info.value.errors)) == (code, ["items"])
    assert bad.code in str(info.value)
    assert Item.objects.get(pk=good.pk).status == ItemStatus.ACTIVE
    assert not ItemStatusChange.objects.exists()


def test_a_change_is_recorded_with_actor_and_reason_and_same_status_is_left_alone(operator):
    lots = [register(operator, "cathode_active_material", 5, "kg") for _ in range(3)]
    Item.objects.filter(pk=lots[0].pk).update(status=ItemStatus.ON_HOLD)
    changed = item_status_set([lot.pk for lot in lots], ItemStatus.ON_HOLD, actor=operator, reason="audit")
    assert changed == 2
    rows = ItemStatusChange.objects.order_by("item_id")
    assert [(r.item_id, r.from_status, r.to_status, r.actor, r.reason) for r in rows] == [
        (lot.pk, "active", "on_hold", operator, "audit") for lot in lots[1:]
    ]
    assert item_status_set([], ItemStatus.ON_HOLD, actor=operator) == 0


def test_a_hold_records_on_hold_with_the_hold_as_cause_and_release_records_the_way_back(engineer):
    lot = register(engineer, "cathode_active_material", 5, "kg")
    shipped = register(engineer, "cathode_active_material", 5, "kg")
    Item.objects.filter(pk=shipped.pk).update(status=ItemStatus.SHIPPED)
    first = hold_place(actor=engineer, reason="moisture", item=lot).hold
    hold_place(actor=engineer, reason="field return", item=shipped)
    rows = ItemStatusChange.objects.filter(hold=first)
    assert [(r.item_id, r.from_status, r.to_status, r.reason) for r in rows] == [
        (lot.pk, "active", "on_hold", "moisture")
    ]
    # A second hold on an item already on hold changes nothing, so records nothing.
    second = hold_place(actor=engineer, reason="again", item=lot).hold
    assert not ItemStatusChange.objects.filter(hold=second).exists()
    hold_release(actor=engineer, hold_id=first.pk, reason="dry")
    assert _changes(lot) == [("active", "on_hold")]  # the second hold still holds it
    hold_release(actor=engineer, hold_id=second.pk, reason="dry too")
    assert _changes(lot) == [("active", "on_hold"), ("on_hold", "active")]
    back = lot.status_changes.order_by("id").last()
    assert (back.hold_id, back.reason, back.actor) == (second.pk, "dry too", engineer)
    held = shipped.status_changes.get().hold
    hold_release(actor=engineer, hold_id=held.pk, reason="ok")
    assert _changes(shipped) == [("shipped", "on_hold"), ("on_hold", "shipped")]
    assert Item.objects.get(pk=shipped.pk).status == ItemStatus.SHIPPED


def test_consuming_and_scrapping_are_recorded(operator, stations):
    lot = register(operator, "cathode_active_material", 5, "kg")
    result = operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(item=lot.code)],
        outputs=[OutputSpec(kind="slurry", quantity=10, unit="kg")],
    )
    change = lot.status_changes.get()
    assert (change.from_status, change.to_status, change.operation_id) == ("active", "consumed", result.operation.pk)
    slurry = result.outputs[0]
    assert not slurry.status_changes.exists()  # made active: a creation, not a change
    item_scrap(actor=operator, code=slurry.code, reason="skinned over")
    assert _changes(slurry) == [("active", "scrapped")]
    assert slurry.status_changes.get().reason == "skinned over"


@pytest.mark.postgresql_only
def test_status_changes_are_append_only(operator):
    lot = register(operator, "cathode_active_material", 5, "kg")
    item_status_set([lot.pk], ItemStatus.SCRAPPED, actor=operator)
    table = ItemStatusChange._meta.db_table
    for sql in (f"UPDATE {table} SET reason = 'edited'", f"DELETE FROM {table}"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert ItemStatusChange.objects.get().reason == ""


def test_the_longest_hold_and_release_reasons_are_recorded_whole(engineer):
    """A hold's and a release's reason may be 500 characters; the change keeps all of them."""
    lot = register(engineer, "cathode_active_material", 5, "kg")
    hold = hold_place(actor=engineer, reason="h" * 500, item=lot).hold
    hold_release(actor=engineer, hold_id=hold.pk, reason="r" * 500)
    assert [len(r) for r in lot.status_changes.order_by("id").values_list("reason", flat=True)] == [500, 500]
