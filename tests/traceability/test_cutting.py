"""traceability.cutting: a cut of a lane into sheets, each sheet the stretch [start + i*pitch,
start + (i+1)*pitch] of the lane, checked against the cuts already committed under the row lock."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from core.errors import InvalidInput
from lots.models import Item
from lots.services import item_register
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)
from tests.traceability.test_concurrency import _race
from traceability.cutting import Cut, cut_record
from traceability.models import LineageEdge
from traceability.services import InputSpec


@pytest.fixture(autouse=True)
def _seeded(db: None) -> None:
    """A transactional test's TRUNCATE empties the seeded kinds and steps."""
    seed_kinds_and_steps()


@pytest.fixture
def lane(engineer: User, stations: Any) -> Item:
    return item_register(actor=engineer, kind="slit_roll", quantity=10, unit="m", polarity="anode")


def _cut(actor: User, lane: Item, start: float, count: int = 4, pitch: float = 0.25, take: float | None = None) -> Any:
    return cut_record(
        actor=actor,
        step="cutting",
        station="CUT-01",
        started_at=None,
        ended_at=None,
        inputs=[InputSpec(item=lane.code, quantity=take if take is not None else count * pitch, unit="m")],
        cut=Cut(lane=lane.code, start_m=start, pitch_m=pitch, count=count),
    )


def test_each_sheet_is_one_pitch_of_the_lane_and_its_own_length(operator: User, lane: Item) -> None:
    sheets = _cut(operator, lane, 2.0).outputs
    edges = LineageEdge.objects.filter(parent=lane).order_by("parent_from_m")
    assert [(e.child.code, e.parent_from_m, e.parent_to_m, e.child_from_m, e.child_to_m) for e in edges] == [
        (sheet.code, 2.0 + i * 0.25, 2.25 + i * 0.25, 0.0, 0.25) for i, sheet in enumerate(sheets)
    ]
    assert [s.attributes["index"] for s in sheets] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("start", "count", "pitch", "field", "words"),
    [
        (1.9, 4, 0.25, "cut-from", "overlaps"),  # ends inside the first cut
        (2.5, 1, 0.25, "cut-from", "overlaps"),  # inside it
        (0.0, 20, 0.25, "cut-from", "overlaps"),  # around it
        (9.5, 4, 0.25, "output-count", "beyond the 10 m"),
        (-0.1, 1, 0.25, "cut-from", "cannot be negative"),
        (5.0, 0, 0.25, "output-count", "between 1 and 500"),
        (5.0, 501, 0.001, "output-count", "between 1 and 500"),
        (5.0, 2, 0.0, "cut-pitch", "must be positive"),
    ],
)
def test_a_stretch_off_the_lane_or_over_an_earlier_cut_is_refused(
    operator: User, lane: Item, start: float, count: int, pitch: float, field: str, words: str
) -> None:
    _cut(operator, lane, 2.0)
    before = LineageEdge.objects.count()
    with pytest.raises(InvalidInput) as refused:
        _cut(operator, lane, start, count=count, pitch=pitch, take=1.0)
    assert list(refused.value.errors) == [field] and words in refused.value.message
    assert LineageEdge.objects.count() == before


def test_cuts_that_touch_are_fine_and_a_take_shorter_than_the_sheets_is_not(operator: User, lane: Item) -> None:
    _cut(operator, lane, 2.0)
    _cut(operator, lane, 1.0)  # ends at 2.0, where the first begins
    _cut(operator, lane, 3.0)  # begins where the first ends
    with pytest.raises(InvalidInput) as short:
        _cut(operator, lane, 4.0, take=0.5)
    assert list(short.value.errors) == [f"input-{lane.code}-quantity"]


def test_a_lane_that_is_not_an_input_is_refused(operator: User, engineer: User, lane: Item) -> None:
    other = item_register(actor=engineer, kind="slit_roll", quantity=10, unit="m", polarity="anode")
    with pytest.raises(InvalidInput) as refused:
        cut_record(
            actor=operator,
            step="cutting",
            station="CUT-01",
            started_at=None,
            ended_at=None,
            inputs=[InputSpec(item=other.code, quantity=1, unit="m")],
            cut=Cut(lane=lane.code, start_m=0, pitch_m=0.25, count=4),
        )
    assert list(refused.value.errors) == ["inputs"]


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_cutters_racing_for_the_same_metres_one_wins(operator: User, lane: Item) -> None:
    outcomes = _race(lambda: _cut(operator, lane, 0.0), lambda: _cut(operator, lane, 0.5))
    assert [kind for kind, _ in outcomes].count("ok") == 1, outcomes
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, InvalidInput) and "overlaps" in error.message
    assert LineageEdge.objects.filter(parent=lane).count() == 4
