"""The roll map listing (GET /api/measurements/?item=&upstream=true) built from plain rows
(measurements.selectors_upstream) gives, field by field, the body the serializer path gave:
the contract (docs/api.md). On PostgreSQL and SQLite."""

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from api.serializers_measurements import MeasurementSerializer, UpstreamValueSerializer
from lots.models import Item
from measurements.selectors import measurements_upstream, rounded
from measurements.selectors_upstream_json import LISTED_KEYS, upstream_listing_json
from tests.factories import T0, register
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db

URL = "/api/measurements/"


def at(**delta: float) -> str:
    return (T0 + timedelta(**delta)).isoformat()


def post(client: Any, body: dict[str, Any]) -> int:
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


@pytest.fixture
def values(operator_client, line, catalog) -> list[int]:
    """Every way a value belongs: along the roll (inside and outside a sheet), about the whole
    roll, a series, on a sheet, by station and time, in the room, and a corrected value."""
    coated, sheet = line.coated_roll.code, line.sheets[0].code
    mass = {"parameter": "mass_loading_t", "unit": "mg/cm**2", "measured_at": at(hours=2)}
    ids = [
        post(operator_client, mass | {"item": coated, "value": 21.0, "position_m": 90.0, "uncertainty": 0.2}),
        post(operator_client, mass | {"item": coated, "value": 21.5, "position_m": 95.0}),
        post(operator_client, mass | {"item": coated, "value": 21.2, "instrument": "beta-gauge-2"}),
        post(
            operator_client,
            mass | {"item": coated, "series": {"x": [89.0, 91.0], "y": [21.0, 21.1], "x_kind": "position"}},
        ),
        post(
            operator_client,
            {"parameter": "sheet_mass_t", "value": 15, "unit": "mg", "item": sheet, "measured_at": at(hours=5)},
        ),
        post(operator_client, mass | {"station": "COAT-01", "value": 20.9, "measured_at": at(hours=2, minutes=30)}),
        post(
            operator_client,
            {
                "parameter": "dew_point_t",
                "value": -50,
                "unit": "degC",
                "room": "dry-room-1",
                "measured_at": at(hours=2, minutes=30),
            },
        ),
    ]
    corrected = operator_client.post(
        f"{URL}{ids[2]}/correct/", {"value": 21.3, "unit": "mg/cm**2", "reason": "gauge recalibrated"}, format="json"
    )
    assert corrected.status_code == 201, corrected.content
    return ids + [int(corrected.json()["id"])]


@pytest.mark.parametrize("query", [{}, {"parameter": "mass_loading_t"}, {"step": "coating"}, {"step": "cutting"}])
def test_the_listing_equals_the_serializer_path_field_by_field(operator_client, line, values, query):
    for item in (line.cells[0], line.sheets[0], line.coated_roll):
        response = operator_client.get(URL, {"item": item.code, "upstream": "true"} | query)
        assert response.status_code == 200
        body = response.json()
        listed = measurements_upstream(item=Item.objects.get(pk=item.pk), parameter=query.get("parameter"))
        if query.get("step"):
            listed = [v for v in listed if v.measurement.parameter.step_id == query["step"]]
        expected = UpstreamValueSerializer(listed, many=True).data
        assert body["item"] == item.code
        assert len(body["results"]) == len(expected)
        for got, want in zip(body["results"], expected, strict=True):
            assert list(got) == list(want)  # the same keys in the same order
            for key in want:
                assert got[key] == want[key], key
    # Not vacuous: the cell lists the roll values in its stretch, the series, the sheet's, the
    # machine's, the room's and the correction (not the value it corrected).
    ids = {
        r["id"] for r in operator_client.get(URL, {"item": line.cells[0].code, "upstream": "true"}).json()["results"]
    }
    assert values[0] in ids and values[1] not in ids and values[2] not in ids and values[-1] in ids
    assert {values[3], values[4], values[5], values[6]} <= ids


def test_an_item_with_nothing_upstream_lists_nothing(operator_client, line, catalog):
    response = operator_client.get(URL, {"item": line.slurry.code, "upstream": "true"})
    assert response.json() == {"item": line.slurry.code, "results": []}


@pytest.fixture
def awkward(operator_client, line, catalog, settings, tmp_path) -> list[int]:
    """Values whose text PostgreSQL must write as the serializer does: a time with microseconds,
    text to escape, an uploaded file (its download URL), large and small floats."""
    settings.MEDIA_ROOT = str(tmp_path)
    coated = line.coated_roll.code
    mass = {"parameter": "mass_loading_t", "unit": "mg/cm**2", "item": coated}
    ids = [
        post(
            operator_client,
            mass
            | {
                "value": 1e-7,
                "position_m": 90.0,
                "measured_at": at(hours=3, microseconds=123456),
                "instrument": 'gauge "B"\\2\n\u00b5-Pr\u00fcfer \U0001f50b',
                "method": "</script>",
            },
        ),
        post(operator_client, mass | {"value": 123456789.125, "position_m": 90.0, "measured_at": at(hours=3)}),
    ]
    body = mass | {"source": "offline", "measured_at": at(hours=4)}
    body["file"] = SimpleUploadedFile("loading-map.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    response = operator_client.post(URL, body, format="multipart")
    assert response.status_code == 201, response.content
    return ids + [int(response.json()["id"])]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_times_text_and_files_are_written_as_the_serializer_writes_them(operator_client, line, awkward, settings, zone):
    settings.TIME_ZONE = zone
    response = operator_client.get(URL, {"item": line.cells[0].code, "upstream": "true"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    got = {r["id"]: r for r in response.json()["results"]}
    want = {r["id"]: r for r in UpstreamValueSerializer(measurements_upstream(item=line.cells[0]), many=True).data}
    assert set(awkward) <= set(got) and set(got) == set(want)
    for key in awkward:
        assert list(got[key]) == list(want[key])
        assert got[key] == want[key]
    first, _, file = (got[key] for key in awkward)
    assert ".123456" in first["measured_at"] and first["measured_at"].endswith(
        {"UTC": "Z", "Europe/Berlin": "+01:00", "America/New_York": "-05:00", "Asia/Kolkata": "+05:30"}[zone]
    )
    assert first["instrument"] == 'gauge "B"\\2\n\u00b5-Pr\u00fcfer \U0001f50b' and first["value"] == 1e-7
    assert file["file"] == f"/api/measurements/{awkward[2]}/file/"


def test_the_postgresql_text_lists_the_serializer_fields_in_order():
    assert LISTED_KEYS == tuple(MeasurementSerializer().fields)


@pytest.mark.parametrize("places", [6, 9])
def test_python_rounds_metres_as_the_postgresql_listing_does(places):
    """The listing built in SQL rounds with round(CAST(x AS numeric), n); the Python listing
    (SQLite, and the dataclass path the tests compare with) must give the same float, halves
    and float noise included."""
    values = [
        0.1234565,
        2.0000005,
        12.3456785,
        1e-7,
        123456.7890125,
        0.30000000000000004,
        -3.0000005,
        0.0,
        1039.9999995,
    ]
    values += [v * 1.04 for v in values] + [v / 3 for v in values]
    if connection.vendor != "postgresql":
        assert rounded(0.1234565, 6) == 0.123457 and rounded(None, 6) is None
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT CAST(round(CAST(v AS numeric), {places}) AS double precision) "
            "FROM unnest(CAST(%s AS double precision[])) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [values],
        )
        sql = [row[0] for row in cursor.fetchall()]
    assert [rounded(v, places) for v in values] == sql
    if places == 6:  # not vacuous: Python's own round gives another float for some of them
        assert [round(v, places) for v in values] != sql


def test_the_postgresql_listing_is_one_query_after_the_item(operator_client, line, values, django_assert_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("the listing is built in SQL on PostgreSQL only")
    item = Item.objects.get(pk=line.cells[0].pk)
    with django_assert_num_queries(1):
        body = upstream_listing_json(item=item)
    listed = orjson.loads(body)
    want = UpstreamValueSerializer(measurements_upstream(item=item), many=True).data
    assert listed == [dict(w) for w in want] and len(listed) >= 6


def test_both_listings_are_one_type_and_agree_on_how_each_value_belongs(line, values):
    """The model path and the plain-row path list the same values the same way, as one type
    (a dataclass equals only its own class): each compared with its measurement as the id."""
    from measurements.selectors import UpstreamValue
    from measurements.selectors_upstream import upstream_listing

    cell = line.cells[0]
    by_models = [v.carrying(v.measurement.pk) for v in measurements_upstream(item=cell)]
    by_rows = [r.carrying(r.measurement[0]) for r in upstream_listing(item=cell)]
    assert len(by_models) >= len(values) - 1 and by_models == by_rows  # less the corrected one
    assert all(type(v) is UpstreamValue for v in by_models + by_rows)


def test_a_cell_on_its_own_lists_nothing_in_both_paths(operator_client, cell, catalog):
    """A cell registered alone: no walk, no values; the SQL text and the rows path agree on []."""
    response = operator_client.get(URL, {"item": cell.code, "upstream": "true"})
    assert response.status_code == 200
    assert response.json() == {"item": cell.code, "results": []}
    if connection.vendor == "postgresql":
        assert upstream_listing_json(item=cell) == b"[]"


def test_a_cell_of_sheets_from_no_roll_lists_the_sheet_and_machine_values(operator_client, engineer, stations, catalog):
    """Sheets registered on their own (no roll above them) stacked into a cell: the walk ends at
    the sheets, nothing has a stretch, and the listing still equals the serializer path."""

    sheets = [register(engineer, "electrode_sheet", 1, "pcs") for _ in range(2)]
    made = operation_record(
        actor=engineer,
        step="stacking",
        station="STK-01",
        started_at=T0 + timedelta(hours=9),
        ended_at=T0 + timedelta(hours=9, minutes=5),
        inputs=[InputSpec(sheet.code) for sheet in sheets],
        outputs=[OutputSpec(kind="cell")],
    ).outputs[0]
    on_sheet = post(
        operator_client,
        {"parameter": "sheet_mass_t", "value": 15, "unit": "mg", "item": sheets[1].code, "measured_at": at(hours=8)},
    )
    response = operator_client.get(URL, {"item": made.code, "upstream": "true"})
    assert response.status_code == 200
    results = response.json()["results"]
    want = UpstreamValueSerializer(measurements_upstream(item=made), many=True).data
    assert results == [dict(w) for w in want]
    hit = [r for r in results if r["id"] == on_sheet]
    assert len(hit) == 1 and hit[0]["upstream"]["item"] == sheets[1].code
    assert (hit[0]["upstream"]["from_m"], hit[0]["upstream"]["mapped_position_m"]) == (None, None)


@pytest.mark.parametrize(
    "query",
    [
        {"parameter": "' OR 1=1 --"},
        {"step": "coating'); DROP TABLE measurements_measurement; --"},
        {"parameter": "%(item)s"},
        {"step": "%s"},
        {"parameter": "\u00b5-\U0001f50b" * 200},
    ],
)
def test_hostile_filters_of_the_listing_match_nothing_and_break_nothing(operator_client, line, values, query):
    response = operator_client.get(URL, {"item": line.cells[0].code, "upstream": "true"} | query)
    assert response.status_code == 200, response.content
    assert response.json() == {"item": line.cells[0].code, "results": []}
    # The values are still there, and the unfiltered listing still finds them.
    listed = operator_client.get(URL, {"item": line.cells[0].code, "upstream": "true"}).json()["results"]
    assert values[0] in {r["id"] for r in listed}


def test_a_nul_in_a_filter_of_the_listing_is_a_400(operator_client, line, catalog):
    response = operator_client.get(URL, {"item": line.cells[0].code, "upstream": "true", "parameter": "mass\x00"})
    assert response.status_code == 400, response.content
