"""POST /api/measurements/bulk/ and measurements.ingest: all or nothing, row and field named."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import ErrorCode
from lots.models import Item
from measurements import ingest, ingest_rows
from measurements.ingest import measurements_ingest
from measurements.ingest_rows import BulkInvalid
from measurements.models import Measurement, Parameter
from tests.factories import register

pytestmark = pytest.mark.django_db

URL = "/api/measurements/bulk/"
KEY = "HTTP_IDEMPOTENCY_KEY"
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
HEADER = "parameter,value,unit,item,position_m,measured_at,source,instrument"


@pytest.fixture
def params(db):
    return {
        "loading": Parameter.objects.create(
            code="bulk_mass_loading",
            name="Mass loading",
            scope="step",
            step_id="coating",
            category="SP",
            unit="mg/cm**2",
            typical_min=10.0,
            typical_max=30.0,
        ),
        "thickness": Parameter.objects.create(
            code="bulk_thickness",
            name="Coating thickness",
            scope="step",
            step_id="coating",
            category="SP",
            unit="µm",
            typical_min=50.0,
            typical_max=200.0,
        ),
    }


@pytest.fixture
def roll(engineer):
    return register(engineer, "coated_roll", 500, "m", code="CR-0003", polarity="cathode")


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def csv_body(rows: list[str], header: str = HEADER) -> str:
    return header + "\n" + "\n".join(rows) + "\n"


def post_csv(client, text: str, **extra):
    return client.post(URL, text.encode(), content_type="text/csv", **extra)


def post_json(client, rows, **extra):
    # json.dumps writes NaN/Infinity literals, which the view reads so that it can name the row.
    return client.post(URL, json.dumps(rows), content_type="application/json", **extra)


def row_error(response, index: int, field: str) -> str:
    body = response.json()
    assert response.status_code == 400, body
    assert f"rows[{index}].{field}" in body["errors"], body["errors"]
    assert {"row": index + 1, "field": field} == {k: body["rows"][0][k] for k in ("row", "field")}
    assert f"Row {index + 1}, {field}" in body["detail"]
    return str(body["rows"][0]["message"])


# --- happy paths ----------------------------------------------------------------------------


def test_json_rows_are_converted_to_the_canonical_unit(operator_client, operator, params, roll):
    response = post_json(
        operator_client,
        [
            {
                "parameter": "bulk_mass_loading",
                "value": 214,
                "unit": "g/m**2",
                "item": "CR-0003",
                "position_m": 104.2,
                "measured_at": "2026-03-02T08:00:00+01:00",
                "source": "online",
                "instrument": "beta-gauge-2",
                "uncertainty": 2,
            },
            {
                "parameter": "bulk_thickness",
                "value": 0.12,
                "unit": "mm",
                "item": "CR-0003",
                "measured_at": "2026-03-02T08:00:01Z",
                "method": "micrometer",
            },
        ],
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {"created": 2, "out_of_range": 0, "out_of_limits": 0, "holds": 0}
    loading = Measurement.objects.get(parameter=params["loading"])
    assert loading.value == pytest.approx(21.4)
    assert (loading.sent_value, loading.sent_unit) == (214.0, "g/m**2")
    assert loading.uncertainty == pytest.approx(0.2)
    assert loading.item_id == roll.pk and loading.position_m == pytest.approx(104.2)
    assert loading.measured_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert (loading.source, loading.instrument, loading.created_by) == ("online", "beta-gauge-2", operator)
    assert loading.series is None and loading.file == "" and loading.out_of_range is False
    thickness = Measurement.objects.get(parameter=params["thickness"])
    assert thickness.value == pytest.approx(120.0)
    assert (thickness.source, thickness.method, thickness.position_m) == ("offline", "micrometer", None)


def test_csv_rows_are_stored_with_station_and_room_subjects(operator_client, params, roll, stations):
    # A value about the room stays a plain station subject (a step value would be assigned by time).
    Parameter.objects.create(code="bulk_dew_point", name="Dew point", scope="environment", category="PP", unit="degC")
    text = csv_body(
        [
            f"bulk_mass_loading,21.5,mg/cm**2,CR-0003,0,{at(0)},online,beta-gauge-2,,",
            f"bulk_mass_loading,0.22,kg/m**2, CR-0003 ,499.5,{at(1)},online,,,",
            "",  # a blank line is skipped (and counted)
            f"bulk_dew_point,-45,degC,,,{at(2)},offline,,COAT-01,dry-room-1",
        ],
        header=HEADER + ",station,room",
    )
    response = post_csv(operator_client, text)
    assert response.status_code == 201, response.json()
    assert response.json() == {"created": 3, "out_of_range": 0, "out_of_limits": 0, "holds": 0}
    values = sorted(Measurement.objects.values_list("value", "position_m", "station__code", "room", "item__code"))
    assert values == [
        (pytest.approx(-45.0), None, "COAT-01", "dry-room-1", None),
        (pytest.approx(21.5), 0.0, None, "", "CR-0003"),
        (pytest.approx(22.0), 499.5, None, "", "CR-0003"),
    ]


def test_out_of_range_values_are_stored_and_flagged(operator_client, params, roll):
    text = csv_body(
        [
            f"bulk_mass_loading,35,mg/cm**2,CR-0003,1,{at(0)},online,",
            f"bulk_mass_loading,21,mg/cm**2,CR-0003,2,{at(1)},online,",
            f"bulk_thickness,0.04,mm,CR-0003,3,{at(2)},online,",
        ]
    )
    response = post_csv(operator_client, text)
    assert response.status_code == 201
    assert response.json() == {"created": 3, "out_of_range": 2, "out_of_limits": 0, "holds": 0}
    assert Measurement.objects.filter(out_of_range=True).count() == 2


def test_one_audit_event_for_the_whole_upload(operator_client, operator, params, roll):
    rows = [f"bulk_mass_loading,{20 + i % 5},mg/cm**2,CR-0003,{i / 10},{at(i)},online," for i in range(50)]
    rows += [f"bulk_thickness,100,µm,CR-0003,{i / 10},{at(i)},online," for i in range(10)]
    mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    assert post_csv(operator_client, csv_body(rows)).status_code == 201
    [event] = AuditEvent.objects.filter(pk__gt=mark)
    assert (event.action, event.entity, event.actor) == ("measurement.bulk", "measurement", operator)
    assert event.after is not None
    assert event.after["count"] == 60
    assert event.after["parameters"] == {"bulk_mass_loading": 50, "bulk_thickness": 10}
    assert event.after["items"] == 1


# --- all or nothing -------------------------------------------------------------------------


def test_a_bad_row_deep_in_a_large_csv_stores_nothing(operator_client, params, roll):
    rows = [f"bulk_mass_loading,21.5,mg/cm**2,CR-0003,{(i % 5000) / 10},{at(i)},online,gauge" for i in range(100_000)]
    rows[79_999] = rows[79_999].replace(",21.5,", ",abc,")
    response = post_csv(operator_client, csv_body(rows))
    assert "number" in row_error(response, 79_999, "value").lower()
    assert response.json()["rows"] == [
        {"row": 80_000, "field": "value", "message": "A number is required.", "code": ErrorCode.BAD_QUANTITY}
    ]
    assert Measurement.objects.count() == 0
    assert not AuditEvent.objects.filter(action="measurement.bulk").exists()


def test_a_missing_column_is_named_before_any_row_is_read(operator_client, params, roll):
    text = "parameter,value,unit,item,position_m\nbulk_mass_loading,21.5,mg/cm**2,CR-0003,1\n"
    response = post_csv(operator_client, text)
    body = response.json()
    assert response.status_code == 400
    assert "measured_at" in body["errors"] and "measured_at" in body["detail"]
    no_subject = post_csv(operator_client, f"parameter,value,measured_at\nbulk_mass_loading,1,{at(0)}\n")
    assert no_subject.status_code == 400 and "item" in no_subject.json()["errors"]
    unknown = post_csv(operator_client, f"parameter,value,measured_at,item,positon_m\nx,1,{at(0)},CR-0003,1\n")
    assert unknown.status_code == 400 and "positon_m" in unknown.json()["errors"]
    assert Measurement.objects.count() == 0


GOOD = {
    "parameter": "bulk_mass_loading",
    "value": 21.0,
    "unit": "mg/cm**2",
    "item": "CR-0003",
    "position_m": 10.0,
    "measured_at": "2026-03-02T08:00:00+01:00",
}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"parameter": "levitation"}, "parameter", "unknown parameter"),
        ({"unit": "kg"}, "unit", "cannot be converted"),
        ({"unit": "furlongs per fortnight^"}, "unit", "not a unit"),
        ({"unit": "milligram / centimeter ** 2 * dimensionless"}, "unit", "at most 32"),
        ({"value": math.nan}, "value", "finite"),
        ({"value": math.inf}, "value", "finite"),
        ({"value": "-Infinity"}, "value", "finite"),
        ({"value": None}, "value", "required"),
        ({"position_m": 500.5}, "position_m", "beyond"),
        ({"position_m": -1}, "position_m", "negative"),
        ({"item": "CR-9999"}, "item", "unknown item"),
        ({"item": None}, "item", "what was measured"),
        ({"station": "NOPE-01"}, "station", "unknown station"),
        ({"measured_at": "2026-03-02T08:00:00"}, "measured_at", "offset"),
        ({"measured_at": "yesterday"}, "measured_at", "iso 8601"),
        ({"source": "telepathy"}, "source", "online or offline"),
        ({"uncertainty": -0.1}, "uncertainty", "negative"),
        ({"instrument": "x" * 129}, "instrument", "at most 128"),
        ({"series": {"x": [1], "y": [2]}}, "series", "unknown field"),
    ],
)
def test_a_bad_json_row_is_named_and_nothing_is_stored(operator_client, params, roll, change, field, words):
    bad = {**GOOD, **change}
    response = post_json(operator_client, [GOOD, GOOD, bad, GOOD])
    assert words in row_error(response, 2, field).lower()
    assert response.json()["code"] == "invalid"
    assert Measurement.objects.count() == 0


@pytest.mark.parametrize(
    ("cell", "field"),
    [("nan", "value"), ("inf", "value"), ("-inf", "value"), ("1e999", "value"), ("NaN", "value")],
)
def test_nan_and_infinity_in_csv_are_refused(operator_client, params, roll, cell, field):
    text = csv_body([f"bulk_mass_loading,21,mg/cm**2,CR-0003,1,{at(0)},online,", f"bulk_mass_loading,{cell},,,,,,"])
    text = text.replace(f"bulk_mass_loading,{cell},,,,,,", f"bulk_mass_loading,{cell},mg/cm**2,CR-0003,2,{at(1)},,")
    response = post_csv(operator_client, text)
    assert "finite" in row_error(response, 1, field)
    assert Measurement.objects.count() == 0


def test_a_csv_row_with_the_wrong_number_of_fields_is_named(operator_client, params, roll):
    text = csv_body([f"bulk_mass_loading,21,mg/cm**2,CR-0003,1,{at(0)},online,", "bulk_mass_loading,21,mg/cm**2"])
    assert "3 fields" in row_error(post_csv(operator_client, text), 1, "row")


def test_a_row_that_is_not_utf8_is_named_and_nothing_is_stored(operator_client, params, roll):
    rows = [f"bulk_mass_loading,21,mg/cm**2,CR-0003,{i % 400},{at(i)},online,gauge" for i in range(20_000)]
    body = csv_body(rows).encode()
    cut = body.index(b"gauge", len(body) // 2)
    response = operator_client.post(URL, body[:cut] + b"\xff\xfe" + body[cut:], content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed"
    assert "cannot be read" in response.json()["detail"]
    assert Measurement.objects.count() == 0


def test_errors_are_listed_up_to_a_limit(operator_client, params, roll):
    rows = [f"bulk_mass_loading,21,mg/cm**2,CR-{i:04d},1,{at(i)},online," for i in range(150)]
    response = post_csv(operator_client, csv_body(rows))
    body = response.json()
    assert response.status_code == 400
    assert len(body["rows"]) == ingest.MAX_ERRORS == 100
    assert [r["row"] for r in body["rows"][:3]] == [1, 2, 3]
    assert "at least" in body["detail"]
    assert Measurement.objects.count() == 0


def test_bad_bodies(operator_client, params, roll):
    assert post_json(operator_client, {"parameter": "x"}).status_code == 400
    assert operator_client.post(URL, b"[{", content_type="application/json").json()["code"] == "malformed"
    assert post_csv(operator_client, "").status_code == 400
    assert post_csv(operator_client, HEADER + "\n").json()["errors"] == {"rows": ["The upload holds no measurements."]}
    assert operator_client.post(URL, b"x", content_type="text/plain").status_code == 415
    assert operator_client.post(URL, b"x", content_type="text/csv; charset=klingon").status_code == 400
    assert post_json(operator_client, [1]).json()["rows"][0]["field"] == "row"


# --- access, limits, idempotency ------------------------------------------------------------


def test_anonymous_is_refused_and_operators_and_engineers_may_write(
    anon_client, operator_client, engineer_client, params, roll
):
    assert post_json(anon_client, [GOOD]).status_code == 401
    assert post_json(operator_client, [GOOD]).status_code == 201
    assert post_json(engineer_client, [GOOD]).status_code == 201
    assert Measurement.objects.count() == 2


def test_the_bulk_path_has_its_own_body_limit(operator_client, params, roll, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    settings.CELLTRACE_MAX_BULK_BYTES = 20_000
    rows = [f"bulk_mass_loading,21,mg/cm**2,CR-0003,1,{at(i)},online," for i in range(40)]
    text = csv_body(rows)
    assert 1_000 < len(text.encode()) < 20_000
    assert post_csv(operator_client, text).status_code == 201
    too_big = post_csv(operator_client, csv_body(rows * 10))
    assert too_big.status_code == 413 and too_big.json()["code"] == "body_too_large"
    assert operator_client.post("/api/items/", text, content_type="application/json").status_code == 413
    assert Measurement.objects.count() == 40


def test_idempotency_key_replays_without_storing_again(operator_client, params, roll):
    text = csv_body([f"bulk_mass_loading,21,mg/cm**2,CR-0003,1,{at(0)},online,"])
    first = post_csv(operator_client, text, **{KEY: "bulk-1"})
    assert first.status_code == 201
    again = post_csv(operator_client, text, **{KEY: "bulk-1"})
    assert again.status_code == 201 and again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    other = post_csv(operator_client, text.replace(",21,", ",22,"), **{KEY: "bulk-1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert Measurement.objects.count() == 1
    bad = post_csv(operator_client, text.replace(",21,", ",x,"), **{KEY: "bulk-2"})
    assert bad.status_code == 400
    assert post_csv(operator_client, text, **{KEY: "bulk-2"}).status_code == 201  # a 400 does not use up a key


# --- the service ----------------------------------------------------------------------------


def test_the_service_takes_any_iterable_and_resolves_items_in_batches(operator, params, roll, engineer, monkeypatch):
    kind = roll.kind
    Item.objects.bulk_create(
        Item(
            code=f"CR-B{i:03d}",
            kind=kind,
            quantity=100,
            initial_quantity=100,
            unit="m",
            length_m=100.0,
            created_at=T0,
        )
        for i in range(25)
    )
    monkeypatch.setattr(ingest_rows, "LOOKUP_BATCH", 10)

    def rows():
        for i in range(2_000):
            yield {
                "parameter": "bulk_mass_loading",
                "value": 20.0,
                "unit": "mg/cm**2",
                "item": f"CR-B{i % 25:03d}",
                "position_m": i % 100,
                "measured_at": at(i),
            }

    with CaptureQueriesContext(connection) as queries:
        result = measurements_ingest(actor=operator, rows=rows(), chunk_rows=500)
    assert result == ingest.IngestResult(count=2_000, out_of_range=0)
    item_queries = [q["sql"] for q in queries if 'FROM "lots_item"' in q["sql"]]
    assert len(item_queries) == 3  # 25 distinct codes, 10 per query, looked up once
    assert len(queries) < 20
    assert Measurement.objects.filter(item__code__startswith="CR-B").count() == 2_000


def test_the_service_raises_bulk_invalid_with_the_rows(operator, params, roll):
    with pytest.raises(BulkInvalid) as raised:
        measurements_ingest(actor=operator, rows=[GOOD, {**GOOD, "value": "NaN"}])
    assert raised.value.rows == [
        {"row": 2, "field": "value", "message": "The number must be finite.", "code": ErrorCode.BAD_QUANTITY}
    ]
    assert raised.value.errors == {"rows[1].value": ["The number must be finite."]}
    assert Measurement.objects.count() == 0


@pytest.mark.postgresql_only
def test_postgresql_writes_through_copy_not_the_orm(operator, params, roll):
    rows = [{**GOOD, "position_m": i / 100} for i in range(10_000)]
    with CaptureQueriesContext(connection) as queries:
        result = measurements_ingest(actor=operator, rows=rows)
    assert result.count == 10_000
    assert not [q for q in queries if "INSERT" in q["sql"] and "measurements_measurement" in q["sql"]]
    [(created_at, created_by_id)] = set(Measurement.objects.values_list("created_at", "created_by_id"))
    assert created_by_id == operator.pk
    assert AuditEvent.objects.get(action="measurement.bulk").entity_id == created_at.isoformat()


@pytest.mark.postgresql_only
def test_postgresql_rolls_back_rows_already_copied(operator, params, roll):
    rows = [{**GOOD, "position_m": i / 100} for i in range(12_000)]
    rows[11_500] = {**GOOD, "item": "CR-NOPE"}  # in the third chunk, after two chunks were copied
    with pytest.raises(BulkInvalid):
        measurements_ingest(actor=operator, rows=rows)
    assert Measurement.objects.count() == 0
