"""Two stations racing for the same material, each in its own thread and database connection.

transaction=True tests end with a TRUNCATE of every table, which also empties the item kinds
and steps that data migrations seeded; the fixtures put them back before each test and after the
last, so that the next run on the reused test database still finds them.
"""

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from core.errors import Conflict, ErrorCode
from lots.models import Item, ItemStatus
from tests.factories import register
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)
from traceability.holds import HoldResult, hold_items, hold_place
from traceability.models import LineageEdge, OperationInput
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

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


@pytest.mark.parametrize("stations_racing", [2, 20])
def test_stations_consuming_the_same_sheet_one_wins_the_others_are_refused(operator, stations, stations_racing):
    sheet = register(operator, "electrode_sheet", None, None, code="ES-RACE", polarity="cathode")
    codes = [f"STK-{i:02}" for i in range(stations_racing)]

    def stack(code: str) -> Callable[[], Any]:
        return lambda: operation_record(
            actor=operator,
            step="stacking",
            station="STK-01",
            inputs=[InputSpec(sheet.code)],
            outputs=[OutputSpec(kind="stack", code=code)],
        )

    outcomes = _race(*(stack(code) for code in codes))

    assert [kind for kind, _ in outcomes].count("ok") == 1, outcomes
    errors = [value for kind, value in outcomes if kind == "error"]
    assert len(errors) == stations_racing - 1
    for error in errors:
        assert isinstance(error, Conflict), error
        assert error.code == ErrorCode.ITEM_CONSUMED
        assert "inputs[0].item" in error.errors
    assert Item.objects.get(code="ES-RACE").status == ItemStatus.CONSUMED
    assert OperationInput.objects.filter(item=sheet, consumed=True).count() == 1
    assert LineageEdge.objects.filter(parent=sheet).count() == 1
    # Only the winner's stack exists.
    assert Item.objects.filter(code__in=codes).count() == 1


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


# --- A recall racing the line ----------------------------------------------------------------
# Whatever the order, once a recall commits every item made from the held lot is on hold and in
# the hold's list, and every operation that did not get in before it was refused as on hold.


def _mix(operator: Any, lot: str) -> Callable[[], Any]:
    return lambda: operation_record(
        actor=operator,
        step="mixing",
        station="MIX-01",
        inputs=[InputSpec(lot, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=1, unit="kg")],
    )


def _coat(operator: Any, slurry: str, foil: str) -> Callable[[], Any]:
    """Takes the whole slurry: the coated roll is a grandchild of the lot."""
    return lambda: operation_record(
        actor=operator,
        step="coating",
        station="COAT-01",
        inputs=[InputSpec(slurry), InputSpec(foil, 10, "m")],
        outputs=[
            OutputSpec(
                kind="coated_roll",
                quantity=10,
                unit="m",
                made_from=[StretchSpec(slurry), StretchSpec(foil, 0, 10)],
            )
        ],
    )


def _recall(engineer: Any, lot: str) -> Callable[[], HoldResult]:
    return lambda: hold_place(
        actor=engineer, reason="supplier recall", item=Item.objects.get(code=lot), downstream=True
    )


def _made_from(code: str) -> set[str]:
    """Every descendant of `code`, whatever its status."""
    found: set[str] = set()
    frontier = {code}
    while frontier:
        frontier = set(LineageEdge.objects.filter(parent__code__in=frontier).values_list("child__code", flat=True))
        frontier -= found
        found |= frontier
    return found


def _assert_recall_complete(lot: str, outcomes: list[tuple[str, Any]]) -> HoldResult:
    holds = [value for kind, value in outcomes if kind == "ok" and isinstance(value, HoldResult)]
    assert len(holds) == 1, outcomes
    for kind, value in outcomes:
        if kind == "error":
            assert isinstance(value, Conflict) and value.code == ErrorCode.ITEM_ON_HOLD, outcomes
        else:
            assert kind == "ok", outcomes
    held = set(hold_items(holds[0].hold))
    made = _made_from(lot)
    statuses = dict(Item.objects.filter(code__in=made | {lot}).values_list("code", "status"))
    still_there = {code for code, status in statuses.items() if status != ItemStatus.CONSUMED}
    assert {code: statuses[code] for code in still_there - held} == {}, "made from the lot, not held"
    assert {statuses[code] for code in still_there} == {ItemStatus.ON_HOLD}
    assert held == still_there
    return holds[0]


def _blocked_on_a_lock() -> None:
    """Wait until another connection waits for a lock (the racing statement has reached it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("the second transaction never waited for the first")


def _first_holds_then_second(first: Callable[[], Any], second: Callable[[], Any]) -> list[tuple[str, Any]]:
    """`first` runs and keeps its transaction open until `second` waits for one of its locks."""
    ran, go = threading.Event(), threading.Event()
    outcomes: list[tuple[str, Any]] = [("not run", None)] * 2

    def open_then_commit() -> None:
        try:
            with transaction.atomic():
                outcomes[0] = ("ok", first())
                ran.set()
                go.wait(timeout=10)
        except Exception as exc:  # the test inspects it
            outcomes[0] = ("error", exc)
        finally:
            ran.set()
            connection.close()

    def after() -> None:
        try:
            outcomes[1] = ("ok", second())
        except Exception as exc:  # the test inspects it
            outcomes[1] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_then_commit), threading.Thread(target=after)]
    threads[0].start()
    ran.wait(timeout=10)
    threads[1].start()
    try:
        _blocked_on_a_lock()
    finally:
        go.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "deadlock?"
    return outcomes


def test_a_recall_waits_for_a_mixing_in_progress_and_holds_its_slurry(operator, engineer, stations):
    register(operator, "cathode_active_material", 10, "kg", code="NMC-IN-FLIGHT")

    outcomes = _first_holds_then_second(_mix(operator, "NMC-IN-FLIGHT"), _recall(engineer, "NMC-IN-FLIGHT"))

    (_, mixing), (_, recall) = outcomes
    assert mixing.outputs[0].code in recall.items
    _assert_recall_complete("NMC-IN-FLIGHT", outcomes)


def test_a_recall_waits_for_a_coating_in_progress_and_holds_the_roll(operator, engineer, stations):
    register(operator, "cathode_active_material", 10, "kg", code="NMC-GRAND")
    register(operator, "current_collector_foil", 100, "m", code="FOIL-GRAND")
    slurry = _mix(operator, "NMC-GRAND")().outputs[0].code

    outcomes = _first_holds_then_second(_coat(operator, slurry, "FOIL-GRAND"), _recall(engineer, "NMC-GRAND"))

    (_, coating), (_, recall) = outcomes
    assert coating.outputs[0].code in recall.items
    assert slurry not in recall.items  # consumed whole: walked through, not held
    _assert_recall_complete("NMC-GRAND", outcomes)


def test_an_operation_waiting_for_a_recall_in_progress_is_refused(operator, engineer, stations):
    for round_ in range(2):
        lot, foil = f"NMC-HELD-FIRST-{round_}", f"FOIL-HELD-FIRST-{round_}"
        register(operator, "cathode_active_material", 10, "kg", code=lot)
        register(operator, "current_collector_foil", 100, "m", code=foil)
        slurry = _mix(operator, lot)().outputs[0].code
        late = _mix(operator, lot) if round_ == 0 else _coat(operator, slurry, foil)

        outcomes = _first_holds_then_second(_recall(engineer, lot), late)

        assert outcomes[1][0] == "error", outcomes
        _assert_recall_complete(lot, outcomes)


def test_a_recall_after_the_line_and_the_line_after_a_recall(operator, engineer, stations):
    register(operator, "cathode_active_material", 20, "kg", code="NMC-SERIAL")
    mixed = _race(*[_mix(operator, "NMC-SERIAL")] * 5)
    assert [kind for kind, _ in mixed] == ["ok"] * 5, mixed
    recall = _recall(engineer, "NMC-SERIAL")()
    assert set(recall.items) == {"NMC-SERIAL"} | {value.outputs[0].code for _, value in mixed}

    late = _race(*[_mix(operator, "NMC-SERIAL")] * 5)
    _assert_recall_complete("NMC-SERIAL", [*mixed, ("ok", recall), *late])
    assert [kind for kind, _ in late] == ["error"] * 5


def _late(call: Callable[[], HoldResult], pause: float) -> Callable[[], HoldResult]:
    def late() -> HoldResult:
        time.sleep(pause)  # lands the recall anywhere among the operations
        return call()

    return late


def test_a_recall_racing_ten_mixings_misses_none_of_their_slurries(operator, engineer, stations):
    pauses = random.Random(7)
    for round_ in range(12):
        lot = f"NMC-RACE-{round_}"
        register(operator, "cathode_active_material", 20, "kg", code=lot)
        recall = _late(_recall(engineer, lot), pauses.uniform(0, 0.03))

        outcomes = _race(recall, *[_mix(operator, lot)] * 10)

        _assert_recall_complete(lot, outcomes)


def test_a_recall_racing_coatings_of_its_slurries_misses_none_of_the_rolls(operator, engineer, stations):
    pauses = random.Random(11)
    for round_ in range(6):
        lot, foil = f"NMC-COAT-{round_}", f"FOIL-{round_}"
        register(operator, "cathode_active_material", 20, "kg", code=lot)
        register(operator, "current_collector_foil", 100, "m", code=foil)
        slurries = [_mix(operator, lot)().outputs[0].code for _ in range(4)]
        recall = _late(_recall(engineer, lot), pauses.uniform(0, 0.03))

        outcomes = _race(recall, *[_coat(operator, s, foil) for s in slurries], *[_mix(operator, lot)] * 4)

        _assert_recall_complete(lot, outcomes)


def _fill(operator: Any, electrolyte: str, cell: str) -> Callable[[], Any]:
    """Electrolyte into a cell that passes through: the cell, older than the lot, becomes its child."""
    return lambda: operation_record(
        actor=operator,
        step="electrolyte_filling",
        station="FORM-01",
        inputs=[InputSpec(electrolyte, 5, "mL"), InputSpec(cell, consume=False)],
        outputs=[],
    )


def test_a_recall_catches_an_older_cell_filled_while_it_runs(operator, engineer, stations):
    register(operator, "cell", None, None, code="CELL-OLD")
    register(operator, "electrolyte", 1, "L", code="ELY-FILL")

    outcomes = _first_holds_then_second(_fill(operator, "ELY-FILL", "CELL-OLD"), _recall(engineer, "ELY-FILL"))

    assert "CELL-OLD" in outcomes[1][1].items
    _assert_recall_complete("ELY-FILL", outcomes)


def test_a_recall_racing_fillings_of_older_cells_neither_deadlocks_nor_misses_one(operator, engineer, stations):
    pauses = random.Random(13)
    for round_ in range(4):
        cells = [register(operator, "cell", None, None, code=f"CELL-{round_}-{i}").code for i in range(3)]
        lot = f"ELY-{round_}"
        register(operator, "electrolyte", 1, "L", code=lot)
        recall = _late(_recall(engineer, lot), pauses.uniform(0, 0.03))

        outcomes = _race(recall, *[_fill(operator, lot, cell) for cell in cells * 2])

        _assert_recall_complete(lot, outcomes)
