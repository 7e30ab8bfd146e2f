"""load_demo builds the same line every time, and only once."""

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count
from django.test import override_settings

from audit.models import AuditEvent
from connectors.models import Connector
from demo.line_data import MARKER_STATION
from labfiles.models import ImportMapping
from labfiles.services import mapping_delete
from lots.models import Item
from measurements.models import Measurement
from tests.support import rows_for_every_test
from traceability.models import Hold, Station
from traceability.services import station_create


@pytest.fixture(scope="class")
def demo_output(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One load_demo for the class (it takes seconds); each test sees it as the command left it."""

    def load() -> str:
        call_command("load_catalog", stdout=StringIO())
        out = StringIO()
        call_command("load_demo", stdout=out)
        return out.getvalue()

    with override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("demo") / "media"):
        yield from rows_for_every_test(django_db_blocker, load)


class TestTheDemoLine:
    """The line load_demo builds, loaded once for these tests."""

    def test_the_demo_line(self, db: Any, demo_output: str) -> None:
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

    def test_the_values_are_seeded(self, db: Any, demo_output: str) -> None:
        """The first mass-loading value, as every load records it (random.Random(7) in a fixed order)."""
        first = Measurement.objects.filter(parameter__code="mass_loading").order_by("id").first()
        assert first is not None and first.position_m == 0.25 and first.item is not None
        assert first.item.code == "CR-000001" and first.sent_value == 18.313
        assert Measurement.objects.filter(parameter__code="mass_loading").count() == 2000

    def test_a_second_run_does_nothing(self, db: Any, demo_output: str) -> None:
        out = StringIO()
        call_command("load_demo", stdout=out)
        assert "already loaded" in out.getvalue()
        assert Item.objects.count() == 631
        assert "nothing to do" in out.getvalue()
        assert ImportMapping.objects.count() == 2 and Connector.objects.count() == 1

    def test_a_deleted_demo_mapping_stays_deleted(self, db: Any, demo_output: str) -> None:
        """`make run` reruns load_demo: what the user deleted is not saved again."""
        mapping_delete(actor=User.objects.get(username="demo-engineer"), code="balance-xlsx")
        out = StringIO()
        call_command("load_demo", stdout=out)
        assert "nothing to do" in out.getvalue()
        assert list(ImportMapping.objects.values_list("code", flat=True)) == ["balance-csv"]


def test_a_demo_loaded_before_the_configuration_gets_it_once(db: Any) -> None:
    """An old db.sqlite3: the line is there (its marker station) but no mapping or connector."""
    call_command("load_catalog", stdout=StringIO())
    station_create(actor=None, code=MARKER_STATION, name="Planetary mixer 1", steps=["mixing"], room="electrode-hall")
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "already loaded" in out.getvalue() and "added what was missing" in out.getvalue()
    assert "Lab-file mappings: balance-csv, balance-xlsx" in out.getvalue()
    assert list(Connector.objects.values_list("code", "enabled")) == [("dry-room-dew-point", False)]
    assert AuditEvent.objects.filter(action="import_mapping.create").count() == 2
    again = StringIO()
    call_command("load_demo", stdout=again)
    assert "nothing to do" in again.getvalue()
    assert ImportMapping.objects.count() == 2 and Connector.objects.count() == 1
    assert not Item.objects.exists()  # the line itself is not built over an existing one
