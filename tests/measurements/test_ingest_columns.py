"""Bulk ingest of CSV cell lists checked column by column (measurements.ingest_columns): the same
rows stored and the same errors (row, field, message, code) as the per-row check of the same rows
as dicts, for good uploads and for each kind of bad cell."""

import csv
import gc
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from measurements import collector
from measurements.collector import collector_paused
from measurements.ingest import measurements_ingest
from measurements.ingest_columns import chunk_check, chunk_columns, columns_missing
from measurements.ingest_rows import BulkInvalid, RowRules
from measurements.models import Measurement, Parameter
from tests.factories import register

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
HEADER = [
    "parameter",
    "value",
    "unit",
    "item",
    "station",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "uncertainty",
]
STORED = (
    "parameter_id",
    "item_id",
    "station_id",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "uncertainty",
    "value",
    "sent_value",
    "sent_unit",
    "out_of_range",
    "out_of_limits",
    "operation_id",
)


@pytest.fixture
def params(db: Any) -> dict[str, Parameter]:
    loading = Parameter.objects.create(
        code="col_mass_loading",
        name="Mass loading",
        scope="step",
        step_id="coating",
        category="SP",
        unit="mg/cm**2",
        typical_min=10.0,
        typical_max=30.0,
    )
    humidity = Parameter.objects.create(
        code="col_dew_point", name="Dew point", scope="environment", category="EN", unit="degC", typical_max=-30.0
    )
    return {"loading": loading, "humidity": humidity}


@pytest.fixture
def roll(engineer: Any) -> Any:
    return register(engineer, "coated_roll", 500, "m", code="CR-0031", polarity="cathode")


def good_rows(n: int, roll: Any, station: str) -> list[list[str]]:
    """A mix of the shapes a CSV row takes: units, blanks, a station and room, uncertainty."""
    rows = []
    for i in range(n):
        at = (T0 + timedelta(seconds=i)).isoformat()
        if i % 5 == 4:
            rows.append(
                ["col_dew_point", str(-40 + i % 20), "degC", "", station, " dry room 1 ", "", at, "", "", "", ""]
            )
        else:
            unit, value = ("g/m**2", f"{200 + i % 150}.5") if i % 2 else ("mg/cm**2", f"{i % 40}")
            uncertainty = "0.5" if i % 3 == 0 else ""
            rows.append(
                [
                    "col_mass_loading",
                    value,
                    unit,
                    roll.code,
                    "",
                    "",
                    f"{i % 500}",
                    at,
                    "online",
                    " gauge-1 ",
                    "b",
                    uncertainty,
                ]
            )
    return rows


def stored(rows: Any, header: list[str] | None) -> tuple[list[tuple[Any, ...]], Any]:
    """The rows stored by one ingest (rolled back), and its result."""
    with transaction.atomic():
        result = measurements_ingest(actor=None, rows=rows, header=header, chunk_rows=700)
        values = list(Measurement.objects.filter(created_at__gte=T0).order_by("id").values_list(*STORED))
        transaction.set_rollback(True)
    return values, result


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(HEADER, row, strict=True)) for row in rows]


def test_cell_lists_are_stored_as_the_per_row_check_stores_their_dicts(params, roll, stations):
    rows = good_rows(2000, roll, stations["COAT-01"].code)
    by_columns, result = stored([list(r) for r in rows], HEADER)
    by_rows, expected = stored(as_dicts(rows), None)
    assert len(by_columns) == 2000
    assert by_columns == by_rows
    assert (result.count, result.out_of_range, result.out_of_limits) == (
        expected.count,
        expected.out_of_range,
        expected.out_of_limits,
    )
    assert 0 < result.out_of_range < 2000  # the typical range was checked, both ways


def test_a_good_chunk_is_checked_by_columns_and_a_bad_one_is_left_to_the_per_row_check(params, roll, stations):
    rules = RowRules(created_at=T0, created_by_id=None)
    rows = good_rows(50, roll, stations["COAT-01"].code)
    columns = chunk_columns(HEADER, rows)
    assert columns is not None
    rules.look_up(columns_missing(rules, columns))
    checked = chunk_check(rules, columns, 1)
    assert checked is not None and [n for n, _ in checked] == list(range(1, 51))
    assert [row for _, row in checked] == [rules.check(row) for row in as_dicts(rows)]
    rows[7][1] = "nan"
    assert chunk_check(rules, chunk_columns(HEADER, rows), 1) is None  # type: ignore[arg-type]
    assert chunk_columns(HEADER, [*rows[:3], None]) is None  # a blank line
    assert chunk_columns(HEADER, [*rows[:3], rows[4][:5]]) is None  # a short row


BAD_CELLS = [
    ("value", "1e999"),
    ("value", "-1e999"),
    ("value", "NaN"),
    ("value", "inf"),
    ("value", ""),
    ("value", "12 kg"),
    ("value", "1" * 400),
    ("value", "1e308"),  # finite as sent, infinite once converted from g/m**2
    ("unit", "furlong"),
    ("unit", "kg"),
    ("parameter", "no_such_parameter"),
    ("parameter", ""),
    ("item", "CR-9999"),
    ("station", "NOWHERE"),
    ("position_m", "-1"),
    ("position_m", "501"),
    ("position_m", "inf"),
    ("position_m", "x"),
    ("measured_at", "2026-13-01T00:00:00+00:00"),
    ("measured_at", "2026-03-02T07:00:00"),
    ("measured_at", "1969-12-31T23:59:59+00:00"),
    ("measured_at", "2200-01-01T00:00:00+00:00"),
    ("measured_at", "2026-03-02T07:00:00+16:00"),
    ("measured_at", "0001-01-01T00:00:00+14:00"),
    ("measured_at", ""),
    ("measured_at", "yesterday"),
    ("source", "sometimes"),
    ("instrument", "g" * 300),
    ("uncertainty", "-0.1"),
    ("uncertainty", "NaN"),
]


@pytest.mark.parametrize(("field", "cell"), BAD_CELLS)
def test_a_bad_cell_gets_the_per_row_checks_error(params, roll, stations, field, cell):
    rows = good_rows(1500, roll, stations["COAT-01"].code)
    bad = 1203  # a row of the second chunk, of mass loading in g/m**2 on the roll
    assert rows[bad][0] == "col_mass_loading" and rows[bad][2] == "g/m**2"
    rows[bad][HEADER.index(field)] = cell
    if cell == "1e308":
        rows[bad][HEADER.index("unit")] = "kg/cm**2"  # 1e6 mg each: inf
    errors = []
    for chunk, header in (([list(r) for r in rows], HEADER), (as_dicts(rows), None)):
        with pytest.raises(BulkInvalid) as raised:
            measurements_ingest(actor=None, rows=chunk, header=header, chunk_rows=700)
        errors.append(raised.value.rows)
    assert errors[0] == errors[1]
    assert errors[0][0]["row"] == bad + 1
    assert errors[0][0]["field"] == field
    assert not Measurement.objects.filter(created_at__gte=T0).exists()


def post_csv(client: Any, rows: list[list[str]], header: list[str] = HEADER) -> Any:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return client.post("/api/measurements/bulk/", out.getvalue().encode(), content_type="text/csv")


def test_the_endpoint_names_a_bad_row_late_in_a_csv_and_stores_nothing(operator_client, params, roll, stations):
    rows = good_rows(12_000, roll, stations["COAT-01"].code)
    rows[11_000][1] = "Infinity"
    rows[11_500][HEADER.index("measured_at")] = "2026-03-02 07:00"
    response = post_csv(operator_client, rows)
    body = response.json()
    assert response.status_code == 400, body
    assert [(r["row"], r["field"]) for r in body["rows"]] == [(11_001, "value"), (11_501, "measured_at")]
    assert not Measurement.objects.filter(created_at__gte=T0).exists()
    rows[11_000][1], rows[11_500][HEADER.index("measured_at")] = "12", T0.isoformat()
    response = post_csv(operator_client, rows)
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 12_000


def test_the_endpoint_names_a_nul_in_a_cell(operator_client, params, roll, stations):
    rows = good_rows(100, roll, stations["COAT-01"].code)
    rows[60][HEADER.index("instrument")] = "gauge\x00"
    response = post_csv(operator_client, rows)
    body = response.json()
    assert response.status_code == 400, body
    assert (body["rows"][0]["row"], body["rows"][0]["field"]) == (61, "instrument")
    assert not Measurement.objects.filter(created_at__gte=T0).exists()


def test_a_csv_with_only_some_columns_is_stored_as_by_the_per_row_check(params, roll, stations):
    header = ["measured_at", "parameter", "item", "value", "unit"]
    rows = [
        [(T0 + timedelta(seconds=i)).isoformat(), "col_mass_loading", roll.code, str(i % 33), "mg/cm**2"]
        for i in range(900)
    ]
    by_columns, _ = stored([list(r) for r in rows], header)
    by_rows, _ = stored([dict(zip(header, r, strict=True)) for r in rows], None)
    assert len(by_columns) == 900 and by_columns == by_rows


def test_the_cycle_collector_is_on_again_after_an_ingest_good_or_bad(params, roll, stations):
    import gc

    assert gc.isenabled()
    rows = good_rows(30, roll, stations["COAT-01"].code)
    stored([list(r) for r in rows], HEADER)
    assert gc.isenabled()
    rows[3][1] = "NaN"
    with pytest.raises(BulkInvalid):
        measurements_ingest(actor=None, rows=rows, header=HEADER)
    assert gc.isenabled()
    gc.disable()
    try:  # off before: left off
        stored([list(r) for r in rows[:3]], HEADER)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_ingest_collects_between_its_chunks_while_paused(monkeypatch, gc_collections, params, roll, stations):
    monkeypatch.setattr(collector, "YOUNG_COLLECT_S", 0.0)
    rows = good_rows(40, roll, stations["COAT-01"].code)
    with collector_paused():  # another ingest under way, holding the pause
        gc_collections.clear()
        measurements_ingest(actor=None, rows=rows, header=HEADER, chunk_rows=10)
        assert not gc.isenabled()
        assert gc_collections.count(1) >= 4  # one per chunk, at least
    assert gc.isenabled()
