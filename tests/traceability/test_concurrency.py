"""Two stations racing for the same material, each in its own thread and database connection.

transaction=True tests end with a TRUNCATE of every table, which also empties the item kinds
and steps that data migrations seeded; the fixtures put them back before each test and after the
last, so that the next run on the reused test database still finds them.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from lots.exceptions import Conflict, ErrorCode
from lots.models import Item, ItemStatus
from tests.factories import register
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)
from traceability.models import OperationInput
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded(db: None) -> None:
    """The previous test's TRUNCATE emptied them."""
    seed_kinds_and_steps()


def _race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run each call in its own thread, all released at once; ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = ("ok", call())
        except Exception as exc:  # the test inspects it
            outcomes[index] = ("error", exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a racing operation never finished (deadlock?)"
    return outcomes


def test_two_stations_consuming_the_same_sheet_one_wins(operator, stations):
    sheet = register(operator, "electrode_sheet", None, None, code="ES-RACE", polarity="cathode")

    def stack(code: str) -> Callable[[], Any]:
        return lambda: operation_record(
            actor=operator,
            step="stacking",
            station="STK-01",
            inputs=[InputSpec(sheet.code)],
            outputs=[OutputSpec(kind="stack", code=code)],
        )

    outcomes = _race(stack("STK-A"), stack("STK-B"))

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["error", "ok"], outcomes
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, Conflict)
    assert error.code == ErrorCode.ITEM_CONSUMED
    assert "inputs[0].item" in error.errors
    assert Item.objects.get(code="ES-RACE").status == ItemStatus.CONSUMED
    assert OperationInput.objects.filter(item__code="ES-RACE", consumed=True).count() == 1
    # Only the winner's stack exists.
    assert Item.objects.filter(code__in=["STK-A", "STK-B"]).count() == 1


def test_two_stations_taking_most_of_a_lot_cannot_both_have_it(operator, stations):
    register(operator, "cathode_active_material", 10, "kg", code="NMC-RACE")

    def mix() -> Any:
        return operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec("NMC-RACE", 6, "kg")],
            outputs=[OutputSpec(kind="slurry", quantity=6, unit="kg")],
        )

    outcomes = _race(mix, mix)

    assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, Conflict)
    assert error.code == ErrorCode.INSUFFICIENT_QUANTITY
    lot = Item.objects.get(code="NMC-RACE")
    assert (lot.status, float(lot.quantity)) == (ItemStatus.ACTIVE, 4.0)
    assert OperationInput.objects.filter(item=lot).count() == 1


def test_many_stations_drawing_on_one_lot_lose_nothing(operator, stations):
    register(operator, "binder", 5, "kg", code="PVDF-RACE")

    def mix() -> Any:
        return operation_record(
            actor=operator,
            step="mixing",
            station="MIX-01",
            inputs=[InputSpec("PVDF-RACE", 500, "g")],
            outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg")],
        )

    outcomes = _race(*[mix] * 6)

    assert [kind for kind, _ in outcomes] == ["ok"] * 6, outcomes
    # Six times 0.5 kg, none of them lost to a read-modify-write race.
    assert float(Item.objects.get(code="PVDF-RACE").quantity) == pytest.approx(2.0)
    # Codes were allocated without collisions.
    assert len({value.outputs[0].code for _, value in outcomes}) == 6
