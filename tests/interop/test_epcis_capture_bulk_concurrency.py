"""Two documents registering overlapping new items, captured at once, register each item once:
the second waits for the first (an advisory lock on the lots and serials it names), then finds
the overlap already registered and is refused with a 400, never a 500 or a second copy."""

from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from interop.epcis_capture import CaptureRefused, capture
from interop.models import CapturedEvent, GtinKind
from lots.models import Item, ItemKind
from tests.support import reseed_after_the_last_truncate, seed_kinds_and_steps  # noqa: F401
from tests.traceability.test_concurrency import _race

from .conftest import CELL, NMC
from .test_epcis_capture import add_lot, document

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def _lots(*lots: str, quantity: float) -> dict[str, Any]:
    """Events of their own (another quantity), not the other document's: no dedupe by hash."""
    return document(*[add_lot(NMC, lot, quantity) for lot in lots])


def _cells(*serials: str) -> dict[str, Any]:
    epcs = [f"urn:epc:id:sgtin:4012345.000003.{s}" for s in serials]
    return document(add_lot(CELL, "x") | {"epcList": epcs, "quantityList": []})


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (_lots("L1", "L2", quantity=10), _lots("L2", "L3", quantity=20), "supplier_lot"),
        (_cells("S1", "S2"), _cells("S2", "S3"), "gs1_serial"),
    ],
)
def test_parallel_captures_of_overlapping_new_items_register_each_once(first, second, field):
    seed_kinds_and_steps()
    engineer = User.objects.create_user(username="emil")
    engineer.groups.add(Group.objects.get_or_create(name="engineer")[0])
    GtinKind.objects.create(gtin=NMC, kind=ItemKind.objects.get(code="cathode_active_material"))
    GtinKind.objects.create(gtin=CELL, kind=ItemKind.objects.get(code="cell"))
    race = _race(lambda: capture(first, actor=engineer), lambda: capture(second, actor=engineer))
    outcomes = [result for _how, result in race]  # a capture's result, or what it raised
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], CaptureRefused), outcomes
    assert "already registered" in str(refused[0].errors)
    winner = outcomes.index(next(o for o in outcomes if not isinstance(o, Exception)))
    names = sorted(Item.objects.exclude(**{field: ""}).values_list(field, flat=True))
    expected = {"supplier_lot": (["L1", "L2"], ["L2", "L3"]), "gs1_serial": (["S1", "S2"], ["S2", "S3"])}[field]
    assert names == expected[winner]
    assert CapturedEvent.objects.count() == outcomes[winner].stored
