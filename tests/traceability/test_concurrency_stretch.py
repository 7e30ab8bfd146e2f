"""A stretch hold racing a cutting of the same lane, each in its own thread and connection: the
cut either waits and is refused, or commits first and its sheet is caught (never missed)."""

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import Conflict, ErrorCode
from lots.models import Item, ItemStatus
from tests.factories import register
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from tests.traceability.test_concurrency import _first_holds_then_second, _seeded  # noqa: F401
from traceability.holds import HoldResult, hold_place
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def _cut(operator: Any, lane: str, lo: float, hi: float) -> Callable[[], Any]:
    def cut() -> Any:
        return operation_record(
            actor=operator,
            step="cutting",
            station="CUT-01",
            inputs=[InputSpec(lane, 0.5, "m", consume=False)],
            outputs=[OutputSpec(kind="electrode_sheet", made_from=[StretchSpec(lane, lo, hi)])],
        )

    return cut


def _hold(engineer: Any, lane: str) -> Callable[[], HoldResult]:
    def hold() -> HoldResult:
        item = Item.objects.get(code=lane)
        return hold_place(actor=engineer, item=item, from_m=12.0, to_m=13.5, reason="thickness", downstream=True)

    return hold


def test_a_stretch_hold_waits_for_a_cutting_in_progress_and_catches_its_sheet(operator, engineer, stations):
    register(operator, "slit_roll", 104, "m", code="LANE-RACE-1", polarity="anode")

    (cut_kind, cutting), (hold_kind, hold) = _first_holds_then_second(
        _cut(operator, "LANE-RACE-1", 13.0, 13.5), _hold(engineer, "LANE-RACE-1")
    )

    assert (cut_kind, hold_kind) == ("ok", "ok"), (cutting, hold)
    sheet = cutting.outputs[0].code
    assert hold.items == [sheet]
    assert Item.objects.get(code=sheet).status == ItemStatus.ON_HOLD
    assert Item.objects.get(code="LANE-RACE-1").status == ItemStatus.ACTIVE


@pytest.mark.parametrize(("lo", "hi", "refused"), [(13.0, 13.5, True), (13.5, 14.0, False)])
def test_a_cutting_waiting_for_a_stretch_hold_in_progress_is_refused_only_over_the_held_metres(
    operator, engineer, stations, lo, hi, refused
):
    register(operator, "slit_roll", 104, "m", code="LANE-RACE-2", polarity="anode")

    (hold_kind, hold), (cut_kind, cutting) = _first_holds_then_second(
        _hold(engineer, "LANE-RACE-2"), _cut(operator, "LANE-RACE-2", lo, hi)
    )

    assert hold_kind == "ok" and hold.items == [], hold
    if refused:
        assert cut_kind == "error" and isinstance(cutting, Conflict), cutting
        assert cutting.code == ErrorCode.STRETCH_ON_HOLD
        assert not Item.objects.filter(kind="electrode_sheet").exists()
    else:
        assert cut_kind == "ok", cutting
        assert cutting.outputs[0].status == ItemStatus.ACTIVE
