"""What load_demo leaves for a newcomer besides the line: the lab-file mappings, a disabled
connector and an open calendering run, each read back through the API and pages the README uses,
and examples/lab/balance.csv imported with the demo's `balance-csv` (dry run first)."""

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from labfiles.models import LabImport
from measurements.models import Measurement
from tests.support import rows_for_every_test
from traceability.models import Operation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lab" / "balance.csv"


@pytest.fixture(scope="module")
def demo_tokens(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """`make run`'s commands, once for the module (load_demo takes seconds): the printed tokens."""

    def load() -> dict[str, str]:
        call_command("load_catalog", stdout=StringIO())
        call_command("load_demo", stdout=StringIO())
        out = StringIO()
        call_command("create_demo_users", stdout=out)
        return {line.split()[0]: line.split()[-1] for line in out.getvalue().splitlines()}

    with override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("demo") / "media"):
        yield from rows_for_every_test(django_db_blocker, load)


@pytest.fixture
def demo(db: Any, demo_tokens: dict[str, str]) -> dict[str, APIClient]:
    """The database as those commands left it (each test's changes roll back); API clients with
    the printed tokens."""
    clients = {}
    for role, token in demo_tokens.items():
        clients[role] = APIClient()
        clients[role].credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return clients


def test_the_demo_saves_two_lab_file_mappings_and_a_disabled_connector(demo: dict[str, APIClient]) -> None:
    engineer = demo["engineer"]
    mappings = engineer.get("/api/import-mappings/")
    assert mappings.status_code == 200, mappings.content
    body = mappings.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert {m["code"] for m in rows} == {"balance-csv", "balance-xlsx"}
    listed = engineer.get("/api/connectors/")
    assert listed.status_code == 200, listed.content
    body = listed.json()
    connectors = body["results"] if isinstance(body, dict) else body
    (connector,) = connectors
    assert (connector["code"], connector["kind"], connector["enabled"]) == ("dry-room-dew-point", "mqtt", False)
    assert connector["endpoint"] == "mqtt://127.0.0.1:1883"
    (mapping,) = connector["mappings"]
    assert (mapping["source"], mapping["room"], mapping["parameter"]) == (
        "celltrace/demo/+/dew_point",
        "dry-room-1",
        "dry_room_dew_point",
    )
    status = engineer.get("/api/connectors/dry-room-dew-point/status/")
    assert status.status_code == 200 and status.json()["state"] == "disabled", status.content


def test_the_open_calendering_run_took_the_values_sent_by_station_and_can_be_finished(
    demo: dict[str, APIClient],
) -> None:
    run = Operation.objects.get(ended_at__isnull=True)
    assert (run.step_id, run.station.code) == ("calendering", "CAL-01")
    roll = run.outputs.get()
    values = Measurement.objects.filter(operation=run, parameter__code="electrode_thickness_calendered")
    assert sorted((v.item_id, v.position_m) for v in values) == [(roll.pk, 20.0), (roll.pk, 40.0), (roll.pk, 60.0)]

    page = Client()
    page.force_login(User.objects.get(username="demo-operator"))
    html = page.get("/station/CAL-01/").content.decode()
    assert f"Finish run {run.pk}" in html and roll.code in html

    finish = f"/api/operations/{run.pk}/finish/"
    last = max(v.measured_at for v in values)
    early = demo["operator"].post(finish, {"ended_at": run.started_at.isoformat()}, format="json")
    assert early.status_code == 400, early.content  # before the values the calender already sent
    done = demo["operator"].post(finish, {"ended_at": last.isoformat()}, format="json")
    assert done.status_code == 200, done.content
    run.refresh_from_db()
    assert run.ended_at == last


def test_the_example_lab_file_imports_with_the_demo_mapping(demo: dict[str, APIClient]) -> None:
    operator, data = demo["operator"], EXAMPLE.read_bytes()
    before = Measurement.objects.count()

    def post(**fields: str) -> Any:
        upload = SimpleUploadedFile("balance.csv", data, content_type="text/csv")
        return operator.post("/api/imports/", {"file": upload, "mapping": "balance-csv", **fields}, format="multipart")

    dry = post(dry_run="true")
    assert dry.status_code == 200, dry.content
    assert dry.json() == {"rows": 6, "values": 6, "would_store": 6, "errors": [], "complete": True}
    assert Measurement.objects.count() == before and not LabImport.objects.exists()

    stored = post()
    assert stored.status_code == 201, stored.content
    assert stored.json()["stored"] == 6
    disc = Measurement.objects.get(instrument="balance-2", item__code="CR-000001", position_m=100.0)
    # 180.6 g/m**2 is 18.06 mg/cm**2, the catalog's unit; 14:05 in Berlin (+01:00) is 13:05 UTC.
    assert (disc.parameter.code, disc.sent_value, disc.sent_unit) == ("mass_loading", 180.6, "g/m**2")
    assert disc.value == pytest.approx(18.06)
    assert disc.measured_at.isoformat() == "2026-03-02T13:05:00+00:00"
    assert Measurement.objects.count() == before + 6

    again = post()
    assert again.status_code == 409, again.content  # the same file through the same mapping
    assert Measurement.objects.count() == before + 6
