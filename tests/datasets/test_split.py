"""Honest train/test splits: every cell of a group on one side, the same split for the same seed.

The line: 10 cathode slurries, each in 5 cells; every cell also holds an anode slurry, its own per
cathode slurry except that cathode slurries 0 and 1 share anode slurry 0. By slurry batch, the
groups are thus 9 components of cells that must stay together: one of 10 cells, eight of 5.
"""

from datetime import timedelta
from typing import Any

import pytest

from datasets.splits import assign_split, split_hash
from datasets.table import dataset_rows
from lots.services import item_register
from tests.factories import T0
from traceability.services import InputSpec, OutputSpec, operation_record

GROUPS, PER_GROUP = 10, 5


@pytest.fixture
def groups(engineer: Any, stations: Any) -> dict[str, Any]:
    cathodes = [
        item_register(actor=engineer, kind="slurry", quantity=10, unit="kg", polarity="cathode")  # type: ignore[arg-type]
        for _ in range(GROUPS)
    ]
    anodes = [
        item_register(actor=engineer, kind="slurry", quantity=10, unit="kg", polarity="anode")  # type: ignore[arg-type]
        for _ in range(GROUPS - 1)
    ]
    cells = []
    for g, cathode in enumerate(cathodes):
        anode = anodes[max(g - 1, 0)]
        for k in range(PER_GROUP):
            cells.append(
                operation_record(
                    actor=engineer,
                    step="stacking",
                    station="STK-01",
                    started_at=T0 + timedelta(minutes=10 * (g * PER_GROUP + k)),
                    inputs=[InputSpec(cathode.code, 0.1, "kg"), InputSpec(anode.code, 0.1, "kg")],
                    outputs=[OutputSpec(kind="cell")],
                ).outputs[0]
            )
    return {"cells": cells, "cathodes": cathodes, "anodes": anodes}


def _split(split: dict[str, Any]) -> dict[str, dict[str, Any]]:
    columns, rows = dataset_rows(split=split)
    assert "split" in [c.name for c in columns]
    return {row["code"]: row for row in rows}


@pytest.mark.django_db
def test_no_slurry_batch_lands_on_both_sides(groups: dict[str, Any]) -> None:
    rows = _split({"by": "slurry_batch", "test": 0.2, "seed": 1})
    assert len(rows) == GROUPS * PER_GROUP
    for column in ("cathode.slurry_batch", "anode.slurry_batch"):
        sides: dict[str, set[str]] = {}
        for row in rows.values():
            sides.setdefault(row[column], set()).add(row["split"])
        assert len(sides) == (GROUPS if column.startswith("cathode") else GROUPS - 1)
        assert all(len(found) == 1 for found in sides.values())
    # 20 % of 50 cells is 10: either the joined component of 10 cells or two of 5.
    assert sum(row["split"] == "test" for row in rows.values()) == 10
    assert sum(row["split"] == "train" for row in rows.values()) == 40
    # Cathode slurries 0 and 1 share an anode slurry, so they share a side.
    first, second = (groups["cathodes"][g].code for g in (0, 1))
    assert {row["split"] for row in rows.values() if row["cathode.slurry_batch"] in (first, second)} in (
        {"train"},
        {"test"},
    )


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_split(groups: dict[str, Any]) -> None:
    split = {"by": "slurry_batch", "test": 0.3, "seed": 7}
    first = {code: row["split"] for code, row in _split(split).items()}
    assert first == {code: row["split"] for code, row in _split(split).items()}
    # 30 % of 50 is 15: three components of 5, or the one of 10 and one of 5.
    assert list(first.values()).count("test") == 15


@pytest.mark.django_db
def test_cells_without_the_group_are_groups_of_their_own(groups: dict[str, Any]) -> None:
    rows = _split({"by": "calendered_roll", "test": 0.2, "seed": 1})
    assert sum(row["split"] == "test" for row in rows.values()) == 10  # 50 groups of one cell


@pytest.mark.django_db
def test_without_a_split_there_is_no_split_column(groups: dict[str, Any]) -> None:
    columns, _rows = dataset_rows()
    assert "split" not in [c.name for c in columns]


def test_the_hash_is_fixed_by_seed_and_key() -> None:
    assert split_hash(1, "group:S-A") == pytest.approx(0.8233667459464796, abs=1e-15)
    assert split_hash(2, "group:S-B") == pytest.approx(0.004506373657978499, abs=1e-15)


def test_groups_sharing_a_root_are_one_component() -> None:
    memberships: list[tuple[int, str, str | None]] = [
        (1, "C1", "S-A"),
        (2, "C2", "S-A"),
        (3, "C3", "S-B"),
        (3, "C3", "S-C"),  # joins S-B and S-C
        (4, "C4", "S-C"),
        (5, "C5", "S-D"),
        (6, "C6", "S-D"),
        (9, "C9", None),
    ]
    # Seed 1 orders the components C9 (0.35), S-B+S-C (0.61), S-A (0.82), S-D (0.89): with a
    # target of 0.3 * 7 = 2.1 rows, C9 (1) and then S-B+S-C (3) bring the test side nearer.
    sides = assign_split(memberships, 0.3, 1)
    assert sorted(root for root, side in sides.items() if side == "test") == [3, 4, 9]
    # Seed 2 orders S-B+S-C (0.0045) first: 2 rows, nearer 2.1 than anything added after.
    sides = assign_split(memberships, 0.3, 2)
    assert sorted(root for root, side in sides.items() if side == "test") == [3, 4]
    assert sides[1] == sides[2] == "train"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("split", "field"),
    [
        ({"by": "pallet", "test": 0.2}, "split by"),
        ({"by": "slurry_batch", "test": 1.5}, "split test"),
        ({"by": "slurry_batch", "test": 0}, "split test"),
        ({"by": "slurry_batch", "test": "0.2"}, "split test"),
        ({"by": "slurry_batch", "test": 0.2, "seed": "one"}, "split seed"),
        ({"by": "slurry_batch", "test": 0.2, "fraction": 0.1}, "split field fraction"),
    ],
)
def test_a_bad_split_names_the_field(split: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"(?i){field}"):
        dataset_rows(split=split)
