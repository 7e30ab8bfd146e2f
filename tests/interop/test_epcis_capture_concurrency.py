"""The same document captured twice at once is stored once (PostgreSQL: the second capture
waits on the first's event rows, then finds its events already captured)."""

import threading
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from interop.epcis_capture import capture
from interop.models import CapturedEvent, GtinKind
from lots.models import Item, ItemKind
from tests.support import reseed_after_the_last_truncate, seed_kinds_and_steps  # noqa: F401

from .conftest import NMC, NMC_B
from .test_epcis_capture import add_lot, document

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("racers", [2, 6])
def test_parallel_captures_of_one_document_store_it_once(racers):
    seed_kinds_and_steps()
    engineer = User.objects.create_user(username="emil")
    engineer.groups.add(Group.objects.get_or_create(name="engineer")[0])
    for gtin in (NMC, NMC_B):
        GtinKind.objects.create(gtin=gtin, kind=ItemKind.objects.get(code="cathode_active_material"))
    doc = document(add_lot(NMC, "L1"), add_lot(NMC_B, "L1"))
    barrier = threading.Barrier(racers)
    outcomes: list[Any] = [None] * racers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = capture(doc, actor=engineer)
        except Exception as exc:  # the test inspects it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert sorted(o.stored for o in outcomes) == [0] * (racers - 1) + [2]
    assert all(o.duplicates == 2 for o in outcomes if o.stored == 0)
    assert CapturedEvent.objects.count() == 2
    assert Item.objects.filter(supplier_lot="L1").count() == 2
