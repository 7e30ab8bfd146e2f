"""An export of 24 cells writes only columns that carry information, may choose its aggregations,
links its dictionary, and names its two hashes apart: the rows' (stable) and the file's."""

import csv
import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from datasets.models import Export
from measurements.models import Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import T0, Line, build_line

URL = "/api/exports/"
PROFILE = "cathode.coating.mass_loading_ec"  # every 0.5 m of the coated roll: several per cell
THICKNESS = "cathode.coating.coating_thickness_ec"  # one whole-roll value: one per cell
CAPACITY = "formation.capacity_ec"  # one per cell
OCV = "formation.ocv_ec"  # two values for the first cell only


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _record(actor: User, parameter: str, value: float, unit: str, **where: Any) -> None:
    where.setdefault("measured_at", T0 + timedelta(hours=12))
    measurement_record(
        actor=actor, data=MeasurementInput(parameter=parameter, value=value, unit=unit, source="offline", **where)
    )


@pytest.fixture
def line(engineer: User, stations: Any) -> Line:
    """build_line with 2 lanes of 48 sheets: 24 cells of 4 sheets (2 m of a lane each)."""
    for code, step, unit in (
        ("mass_loading_ec", "coating", "mg/cm**2"),
        ("coating_thickness_ec", "coating", "um"),
        ("capacity_ec", "formation", "mA*h"),
        ("ocv_ec", "formation", "V"),
    ):
        Parameter.objects.create(code=code, name=code, scope="step", step_id=step, category="PP", unit=unit)
    line = build_line(engineer, sheets_per_lane=48)
    assert len(line.cells) == 24
    assert line.coated_roll is not None
    roll = line.coated_roll.code
    for index in range(80):  # coated metres 55.0 .. 94.5: lane metres 10-34 of every cell
        _record(engineer, "mass_loading_ec", 20 + (index % 7), "mg/cm**2", item=roll, position_m=55 + 0.5 * index)
    _record(engineer, "coating_thickness_ec", 150, "um", item=roll)
    for number, cell in enumerate(line.cells):
        _record(engineer, "capacity_ec", 1000 + number, "mA*h", item=cell.code)
    for value in (3.61, 3.65):
        _record(engineer, "ocv_ec", value, "V", item=line.cells[0].code)
    return line


def _export(client: APIClient, capture: Any, body: dict[str, Any]) -> dict[str, Any]:
    with capture(execute=True):
        response = client.post(URL, body, format="json")
    assert response.status_code == 202, response.content
    status = client.get(f"{URL}{response.json()['id']}/").json()
    assert status["status"] == "done", status
    return status


def _download(client: APIClient, export_id: int) -> bytes:
    response = client.get(f"{URL}{export_id}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    return body


def test_a_24_cell_export_writes_no_column_without_information(
    engineer_client: APIClient, line: Line, django_capture_on_commit_callbacks: Any
) -> None:
    status = _export(engineer_client, django_capture_on_commit_callbacks, {"format": "parquet"})
    table = pq.read_table(io.BytesIO(_download(engineer_client, status["id"])))
    names = table.column_names
    assert (table.num_rows, table.num_columns) == (24, status["columns"])
    assert [name for name in names if table.column(name).null_count == table.num_rows] == []
    # Several values per cell: every aggregation, the std non-null; one per cell: the value alone.
    assert [n for n in names if n.startswith(PROFILE)] == [f"{PROFILE}.{a}" for a in ("mean", "min", "max", "std", "n")]
    assert table.column(f"{PROFILE}.std").null_count == 0
    assert min(table.column(f"{PROFILE}.n").to_pylist()) >= 3
    for single in (THICKNESS, CAPACITY):
        assert [n for n in names if n.startswith(single)] == [single]
    assert table.column(THICKNESS).to_pylist() == [150.0] * 24
    assert sorted(table.column(CAPACITY).to_pylist()) == [1000.0 + n for n in range(24)]
    # Two values in one cell are enough for the aggregates; the others have none.
    ocv = dict(zip(table.column("code").to_pylist(), table.column(f"{OCV}.std").to_pylist(), strict=True))
    assert ocv.pop(line.cells[0].code) == pytest.approx(0.0283, abs=1e-4)
    assert set(ocv.values()) == {None}
    assert not [n for n in names if n.endswith(".std") and not n.startswith((PROFILE, OCV))]

    response = engineer_client.get(status["dictionary_url"])
    assert response.status_code == 200
    entries = response.json()
    assert [entry["name"] for entry in entries] == names
    by_name = {entry["name"]: entry for entry in entries}
    assert (by_name[CAPACITY]["aggregation"], by_name[CAPACITY]["unit"], by_name[CAPACITY]["coverage"]) == (
        "value",
        "mA*h",
        24,
    )
    assert by_name[f"{OCV}.std"]["coverage"] == 1 and by_name[f"{PROFILE}.n"]["unit"] == "count"


def test_the_export_links_its_dictionary(
    engineer_client: APIClient, line: Line, django_capture_on_commit_callbacks: Any
) -> None:
    status = _export(engineer_client, django_capture_on_commit_callbacks, {"format": "csv"})
    assert status["dictionary_url"] == f"http://testserver{URL}{status['id']}/dictionary/"
    listed = engineer_client.get(URL).json()["results"][0]
    assert listed["dictionary_url"] == status["dictionary_url"]
    # The dictionary as CSV through the same link, one row per column of the file.
    header = next(csv.reader(io.StringIO(_download(engineer_client, status["id"]).decode())))
    rows = list(
        csv.DictReader(io.StringIO(engineer_client.get(status["dictionary_url"] + "?format=csv").content.decode()))
    )
    assert [row["name"] for row in rows] == header


def test_the_request_chooses_the_aggregations(
    engineer_client: APIClient, line: Line, django_capture_on_commit_callbacks: Any
) -> None:
    body = {"format": "parquet", "aggregations": ["n", "mean"]}
    status = _export(engineer_client, django_capture_on_commit_callbacks, body)
    assert status["aggregations"] == ["mean", "n"]
    assert Export.objects.get(pk=status["id"]).aggregations == ["mean", "n"]
    names = pq.read_table(io.BytesIO(_download(engineer_client, status["id"]))).column_names
    assert [n for n in names if n.startswith(PROFILE)] == [f"{PROFILE}.mean", f"{PROFILE}.n"]
    assert CAPACITY in names  # one value per cell: its value, whatever was asked
    assert not [n for n in names if n.endswith((".std", ".min", ".max"))]
    entries = engineer_client.get(status["dictionary_url"]).json()
    assert [entry["name"] for entry in entries] == names


@pytest.mark.parametrize("aggregations", [["median"], ["mean", "avg"], [], "mean", [1], ["mean", None], {"mean": 1}])
def test_bad_aggregations_are_a_400_naming_the_field_and_the_value(
    engineer_client: APIClient, aggregations: Any
) -> None:
    response = engineer_client.post(URL, {"format": "csv", "aggregations": aggregations}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body["errors"]) == ["aggregations"], body
    bad = (
        [a for a in aggregations if a not in ("mean", "min", "max", "std", "n")]
        if isinstance(aggregations, list)
        else []
    )
    if bad:
        assert repr(bad[0]) in body["detail"]
    assert not Export.objects.exists()


def test_the_rows_hash_is_the_same_for_the_same_data_and_the_file_hash_is_the_files(
    engineer_client: APIClient, engineer: User, line: Line, django_capture_on_commit_callbacks: Any
) -> None:
    exports = [
        _export(engineer_client, django_capture_on_commit_callbacks, {"format": fmt}) for fmt in ("parquet", "csv")
    ]
    again = _export(engineer_client, django_capture_on_commit_callbacks, {"format": "parquet"})
    assert again["id"] != exports[0]["id"]
    parquet, as_csv = exports
    # The rows' hash: equal across formats, exports and times for the same data.
    assert len(parquet["content_sha256"]) == 64
    assert parquet["content_sha256"] == as_csv["content_sha256"] == again["content_sha256"]
    # The file's: the sha256 of the bytes downloaded, different per format.
    for status in (parquet, as_csv, again):
        assert status["file_sha256"] == hashlib.sha256(_download(engineer_client, status["id"])).hexdigest()
    assert parquet["file_sha256"] != as_csv["file_sha256"]
    assert parquet["file_sha256"] != parquet["content_sha256"]
    # In the Parquet file as well.
    footer = pq.read_metadata(io.BytesIO(_download(engineer_client, parquet["id"]))).metadata
    assert footer[b"celltrace.content_sha256"].decode().strip('"') == parquet["content_sha256"]

    # Other data, another rows' hash.
    _record(engineer, "capacity_ec", 999, "mA*h", item=line.cells[1].code)
    changed = _export(engineer_client, django_capture_on_commit_callbacks, {"format": "csv"})
    assert changed["content_sha256"] != as_csv["content_sha256"]
