"""load_demo builds the same line every time, and only once."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count

from lots.models import Item
from measurements.models import Measurement
from traceability.models import Hold, Station


@pytest.fixture
def demo_output(db: Any, settings: Any, tmp_path: Path) -> str:
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("load_catalog", stdout=StringIO())
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def test_the_demo_line(demo_output: str) -> None:
    assert Station.objects.count() == 13
    assert Item.objects.count() == 631
    cells = dict(Item.objects.filter(kind="cell").values_list("status").annotate(n=Count("id")).order_by())
    assert cells == {"active": 10, "on_hold": 12, "scrapped": 2}
    assert Measurement.objects.count() == 7658
    assert Measurement.objects.filter(out_of_limits=True).count() == 4
    assert Hold.objects.count() == 2
    assert "Cells: 24 (CELL-000007, CELL-000019 scrapped at the end-of-line test)." in demo_output
    assert "Example cell: CELL-000013." in demo_output
    assert "It is inside cells CELL-000005, CELL-000006, CELL-000018, CELL-000019." in demo_output
    assert "Waiting at the slitter SLT-01: calendered roll CAL-000003 (52.000000 m)." in demo_output


def test_the_values_are_seeded(demo_output: str) -> None:
    """The first mass-loading value, as every load records it (random.Random(7) in a fixed order)."""
    first = Measurement.objects.filter(parameter__code="mass_loading").order_by("id").first()
    assert first is not None and first.position_m == 0.25 and first.item is not None
    assert first.item.code == "CR-000001" and first.sent_value == 18.313
    assert Measurement.objects.filter(parameter__code="mass_loading").count() == 2000


def test_a_second_run_does_nothing(demo_output: str) -> None:
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "already loaded" in out.getvalue()
    assert Item.objects.count() == 631
