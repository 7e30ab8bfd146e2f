"""/api/measurements/ through the routing: record (value, series, file), refuse bad input,
correct, assign by station and time, list with the upstream roll map, and who may do what."""

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core.errors import ErrorCode
from lots.models import Item
from measurements.models import Measurement
from tests.factories import T0, build_line, register
from traceability.models import Operation
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db

URL = "/api/measurements/"
# A real Arbin export kept in the repository (tests/fixtures/README.md)
ARBIN = Path(__file__).resolve().parents[1] / "fixtures" / "cyclers" / "arbin" / "2017-05-09_test-TC-contact_CH33.csv"
UPSTREAM_KEYS = {"item", "depth", "relation", "from_m", "to_m", "via", "mapped_position_m"}
INVALID = "invalid"  # the code of a DRF validation error or of an InvalidInput without its own code
T1 = T0 + timedelta(days=1)  # a day after the factory line: COAT-01 is free again


def at(**delta: float) -> str:
    return (T0 + timedelta(**delta)).isoformat()


def counts() -> tuple[int, int]:
    """(measurements, audit events): compare before and after a refused write."""
    return Measurement.objects.count(), AuditEvent.objects.count()


def post(client: APIClient, body: Any, **extra: Any) -> Any:
    return client.post(URL, body, format="json", **extra)


def refused(response: Any, status: int, field: str, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert field in body["errors"], body


def coated_body(roll: Item, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "parameter": "mass_loading_t",
        "value": 21.4,
        "unit": "mg/cm**2",
        "item": roll.code,
        "position_m": 50.0,
        "measured_at": at(hours=2, minutes=30),
        "source": "online",
        "instrument": "beta-gauge-2",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


# --- One value -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "value", "unit", "expected", "uncertainty", "expected_uncertainty"),
    [
        ("coating_thickness_t", 0.1, "mm", 100.0, 0.01, 10.0),
        ("mass_loading_t", 210, "g/m**2", 21.0, 5, 0.5),
        # An offset unit: the value moves by the offset, its uncertainty only by the scale.
        ("drying_temperature_t", 300, "K", 26.85, 0.5, 0.5),
        ("drying_temperature_t", 212, "degF", 100.0, 1.8, 1.0),
        ("coating_thickness_t", 120, "µm", 120.0, None, None),
    ],
)
def test_a_value_is_stored_in_the_canonical_unit_with_what_was_sent(
    operator_client, coated_roll, catalog, parameter, value, unit, expected, uncertainty, expected_uncertainty
):
    before = AuditEvent.objects.count()
    response = post(
        operator_client,
        coated_body(coated_roll, parameter=parameter, value=value, unit=unit, uncertainty=uncertainty),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["value"] == pytest.approx(expected)
    assert (body["sent_value"], body["sent_unit"]) == (value, unit)
    assert body["unit"] == catalog[parameter].unit
    assert body["uncertainty"] == (None if uncertainty is None else pytest.approx(expected_uncertainty))
    assert body["item"] == coated_roll.code
    assert body["position_m"] == 50.0
    assert (body["source"], body["instrument"], body["created_by"]) == ("online", "beta-gauge-2", "olga-operator")
    stored = Measurement.objects.get(pk=body["id"])
    assert stored.value == pytest.approx(expected)
    assert (stored.sent_value, stored.sent_unit) == (value, unit)
    event = AuditEvent.objects.get(entity="measurement", entity_id=str(stored.pk))
    assert event.action == "measurement.record"
    assert event.after["parameter"] == parameter
    assert AuditEvent.objects.count() == before + 1


def test_an_out_of_range_value_is_stored_and_flagged(operator_client, coated_roll, catalog):
    response = post(operator_client, coated_body(coated_roll, value=30))
    assert response.status_code == 201
    assert response.json()["out_of_range"] is True
    stored = Measurement.objects.get(pk=response.json()["id"])
    assert (stored.value, stored.out_of_range) == (30.0, True)
    assert AuditEvent.objects.get(entity="measurement", entity_id=str(stored.pk)).after["out_of_range"] is True
    in_range = post(operator_client, coated_body(coated_roll, value=21)).json()
    assert in_range["out_of_range"] is False
    flagged = operator_client.get(URL, {"item": coated_roll.code, "out_of_range": "true"}).json()
    assert [m["id"] for m in flagged["results"]] == [stored.pk]


def test_a_dimensionless_parameter_needs_no_unit(operator_client, coated_roll, catalog):
    response = post(operator_client, coated_body(coated_roll, parameter="active_ratio_t", value=0.96, unit=None))
    assert response.status_code == 201, response.content
    assert (response.json()["value"], response.json()["sent_unit"]) == (0.96, "")


# --- Bad input: 400 on the field, nothing stored ----------------------------------------------------


BAD_BODIES = [
    pytest.param({"parameter": "no_such_parameter"}, "parameter", ErrorCode.UNKNOWN_PARAMETER, id="parameter"),
    pytest.param({"unit": "kg"}, "unit", ErrorCode.INCOMPATIBLE_UNIT, id="wrong-dimension"),
    pytest.param({"unit": "furlongs-ish"}, "unit", ErrorCode.BAD_UNIT, id="not-a-unit"),
    pytest.param({"unit": None}, "unit", ErrorCode.BAD_UNIT, id="no-unit"),
    pytest.param({"value": "NaN"}, "value", ErrorCode.BAD_QUANTITY, id="nan-text"),
    pytest.param({"value": "-Infinity"}, "value", ErrorCode.BAD_QUANTITY, id="infinity-text"),
    pytest.param({"value": "a lot"}, "value", INVALID, id="not-a-number"),
    pytest.param({"uncertainty": "NaN"}, "uncertainty", ErrorCode.BAD_QUANTITY, id="nan-uncertainty"),
    pytest.param({"uncertainty": -0.1}, "uncertainty", INVALID, id="negative-uncertainty"),
    pytest.param({"series": {"x": [0, 1], "y": [20, 21]}}, "value", INVALID, id="value-and-series"),
    pytest.param({"value": None}, "value", INVALID, id="neither"),
    pytest.param({"position_m": 100.5}, "position_m", ErrorCode.BAD_POSITION, id="beyond-the-roll"),
    pytest.param({"position_m": -1}, "position_m", ErrorCode.BAD_POSITION, id="negative-position"),
    pytest.param({"position_m": "NaN"}, "position_m", ErrorCode.BAD_QUANTITY, id="nan-position"),
    pytest.param({"item": "NO-SUCH-ITEM"}, "item", ErrorCode.UNKNOWN_ITEM, id="unknown-item"),
    pytest.param({"item": None, "position_m": None}, "item", INVALID, id="no-subject"),
    pytest.param({"station": "NO-SUCH-STATION"}, "station", ErrorCode.UNKNOWN_STATION, id="unknown-station"),
    pytest.param({"source": "psychic"}, "source", INVALID, id="bad-source"),
    pytest.param({"measured_at": "yesterday"}, "measured_at", INVALID, id="bad-time"),
]


@pytest.mark.parametrize(("changes", "field", "code"), BAD_BODIES)
def test_bad_input_is_refused_on_its_field_and_nothing_is_stored(
    operator_client, coated_roll, catalog, changes, field, code
):
    before = counts()
    response = post(operator_client, coated_body(coated_roll, **changes))
    refused(response, 400, field, code)
    assert counts() == before


def test_a_position_on_an_item_without_length_is_refused(operator_client, coated_roll, cell, catalog):
    before = counts()
    response = post(operator_client, coated_body(coated_roll, item=cell.code, position_m=0.1))
    refused(response, 400, "position_m", ErrorCode.BAD_POSITION)
    assert counts() == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_raw_json_are_refused(operator_client, coated_roll, catalog, literal):
    before = counts()
    text = json.dumps(coated_body(coated_roll, value=0)).replace('"value": 0', f'"value": {literal}')
    assert literal in text
    response = operator_client.post(URL, text, content_type="application/json")
    # Not JSON at all (RFC 8259 has no NaN): the body is malformed, before any field is read.
    refused(response, 400, "body", ErrorCode.MALFORMED)
    assert counts() == before


def test_a_number_too_big_for_a_float_is_refused_on_its_field(operator_client, coated_roll, catalog):
    # 1e999 is valid JSON; Python reads it as infinity.
    before = counts()
    text = json.dumps(coated_body(coated_roll, value=0)).replace('"value": 0', '"value": 1e999')
    response = operator_client.post(URL, text, content_type="application/json")
    refused(response, 400, "value", ErrorCode.BAD_QUANTITY)
    assert counts() == before


# --- Series ------------------------------------------------------------------------------------------


def test_a_series_is_one_row_with_x_in_seconds_and_y_in_the_canonical_unit(operator_client, coated_roll, catalog):
    series = {"x": [0, 1, 2.5], "y": [0.1, 0.12, 0.15], "x_unit": "min", "x_kind": "time", "y_unit": "mm"}
    before = Measurement.objects.count()
    response = post(
        operator_client, coated_body(coated_roll, parameter="coating_thickness_t", value=None, series=series)
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["value"] is None
    assert body["series"]["x"] == pytest.approx([0, 60, 150])
    assert body["series"]["y"] == pytest.approx([100, 120, 150])
    assert (body["series"]["x_unit"], body["series"]["x_kind"], body["series"]["y_unit"]) == ("s", "time", "um")
    assert body["out_of_range"] is False
    assert Measurement.objects.count() == before + 1
    assert Measurement.objects.get(pk=body["id"]).series["y"] == pytest.approx([100, 120, 150])


def test_a_position_series_is_in_metres_and_flagged_when_one_point_is_out_of_range(
    operator_client, coated_roll, catalog
):
    # y without y_unit is in the canonical unit; one point of three above typical_max (24).
    series = {"x": [0, 500, 1000], "y": [21, 25, 22], "x_unit": "mm", "x_kind": "position"}
    response = post(operator_client, coated_body(coated_roll, value=None, series=series))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["series"]["x"] == pytest.approx([0, 0.5, 1.0])
    assert body["series"]["y"] == [21, 25, 22]
    assert (body["series"]["x_unit"], body["series"]["y_unit"]) == ("m", "mg/cm**2")
    assert body["out_of_range"] is True


def test_a_series_as_api_md_shows_it_takes_its_y_unit_from_unit(operator_client, coated_roll, catalog):
    # API.md's series is {"x", "y", "x_unit", "x_kind"}: without y_unit, y is in `unit`.
    series = {"x": [0, 1], "y": [0.1, 0.3], "x_unit": "m", "x_kind": "position"}
    response = post(
        operator_client, coated_body(coated_roll, parameter="coating_thickness_t", value=None, unit="mm", series=series)
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["series"]["y"], body["series"]["y_unit"]) == (pytest.approx([100, 300]), "um")
    assert body["out_of_range"] is True  # 300 um is above typical_max 200
    refused(
        post(operator_client, coated_body(coated_roll, value=None, unit="kg", series=series)),
        400,
        "unit",
        ErrorCode.INCOMPATIBLE_UNIT,
    )


@pytest.mark.parametrize(
    ("series", "field", "code"),
    [
        ({"x": [0, 1, 2], "y": [20, 21]}, "series.y", ErrorCode.BAD_SERIES),
        ({"x": [0, 1], "y": [20, "high"]}, "series.y[1]", ErrorCode.BAD_QUANTITY),
        ({"x": [0, None], "y": [20, 21]}, "series.x[1]", ErrorCode.BAD_QUANTITY),
        ({"x": [], "y": []}, "series.x", ErrorCode.BAD_SERIES),
        ({"x": [0, 1], "y": [20, 21], "x_kind": "colour"}, "series.x_kind", ErrorCode.BAD_SERIES),
        ({"x": [0, 1], "y": [20, 21], "x_unit": "kg"}, "series.x_unit", ErrorCode.INCOMPATIBLE_UNIT),
        ({"x": [0, 1], "y": [20, 21], "y_unit": "K"}, "series.y_unit", ErrorCode.INCOMPATIBLE_UNIT),
        ([20, 21], "series", ErrorCode.BAD_SERIES),
    ],
)
def test_a_bad_series_is_refused_on_its_field(operator_client, coated_roll, catalog, series, field, code):
    before = counts()
    response = post(operator_client, coated_body(coated_roll, value=None, series=series))
    refused(response, 400, field, code)
    assert counts() == before


def test_an_infinite_series_point_is_refused(operator_client, coated_roll, catalog):
    text = json.dumps(coated_body(coated_roll, value=None, series={"x": [0, 1], "y": [20, 0]})).replace(
        "[20, 0]", "[20, 1e999]"
    )
    before = counts()
    response = operator_client.post(URL, text, content_type="application/json")
    # DRF's JSONField refuses a value it could not write back as JSON, before the service looks.
    refused(response, 400, "series", INVALID)
    assert counts() == before


# --- Files ------------------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def upload(client: APIClient, roll: Item, name: str, content: bytes, **fields: Any) -> Any:
    body = {"parameter": "mass_loading_t", "item": roll.code, "source": "offline"} | fields
    body["file"] = SimpleUploadedFile(name, content)
    return client.post(URL, body, format="multipart")


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_file_is_stored_with_its_checksum_and_size(operator_client, coated_roll, catalog, media):
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    response = upload(operator_client, coated_roll, "loading-map.png", content)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["value"] is None and body["series"] is None
    assert body["file_sha256"] == hashlib.sha256(content).hexdigest()
    assert body["file"] == f"/api/measurements/{body['id']}/file/"  # a download, not the storage URL
    stored = Measurement.objects.get(pk=body["id"])
    assert stored.file.name.endswith(".png")
    assert stored.file_size == len(content)
    [path] = stored_files(media)
    assert path.read_bytes() == content
    assert Path(stored.file.path) == path


@pytest.mark.parametrize(
    ("name", "size", "limit"),
    [("loading-map.txt", 10, 1000), ("loading-map.png", 101, 100), ("no-extension", 10, 1000)],
    ids=["type-not-taken", "too-big", "no-extension"],
)
def test_a_file_the_parameter_does_not_take_is_refused(
    operator_client, coated_roll, catalog, media, settings, name, size, limit
):
    settings.CELLTRACE_MAX_FILE_BYTES = limit
    before = counts()
    response = upload(operator_client, coated_roll, name, b"x" * size)
    refused(response, 400, "file", ErrorCode.BAD_FILE)
    assert counts() == before
    assert stored_files(media) == []


def test_a_file_and_a_value_together_are_refused(operator_client, coated_roll, catalog, media):
    before = counts()
    response = upload(operator_client, coated_roll, "loading-map.png", b"png", value="21", unit="mg/cm**2")
    refused(response, 400, "value", INVALID)
    assert counts() == before


def test_a_real_arbin_cycler_file_is_the_file_of_a_formation_value(operator_client, cell, catalog, media):
    content = ARBIN.read_bytes()
    response = upload(operator_client, cell, ARBIN.name, content, parameter="formation_capacity_t")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["parameter"], body["step"], body["item"]) == ("formation_capacity_t", "formation", cell.code)
    assert body["file_sha256"] == hashlib.sha256(content).hexdigest()
    stored = Measurement.objects.get(pk=body["id"])
    assert stored.file_size == len(content)
    assert Path(stored.file.path).read_bytes() == content


# --- Corrections ------------------------------------------------------------------------------------


def correct(client: APIClient, pk: int, body: dict[str, Any]) -> Any:
    return client.post(f"{URL}{pk}/correct/", body, format="json")


def test_a_correction_is_a_new_version_and_the_old_one_stays(
    operator_client, coated_roll, catalog, django_assert_num_queries
):
    first = post(operator_client, coated_body(coated_roll, value=20)).json()
    response = correct(operator_client, first["id"], {"value": 215, "unit": "g/m**2", "reason": "gauge recalibrated"})
    assert response.status_code == 201, response.content
    second = response.json()
    assert second["supersedes"] == first["id"]
    assert second["value"] == pytest.approx(21.5)
    assert (second["sent_value"], second["sent_unit"]) == (215, "g/m**2")
    assert second["correction_reason"] == "gauge recalibrated"
    # Everything not corrected is carried over.
    for key in ("parameter", "item", "position_m", "measured_at", "source", "instrument"):
        assert second[key] == first[key], key
    old = Measurement.objects.get(pk=first["id"])
    assert (old.value, old.sent_value, old.supersedes_id, old.correction_reason) == (20.0, 20.0, None, "")
    event = AuditEvent.objects.get(entity="measurement", entity_id=str(second["id"]))
    assert event.action == "measurement.correct"
    assert event.before == {"measurement": first["id"]}

    # 1. the token and its user with the user's groups (the role), 2. the page of measurements
    # with parameter, item, station, operation and creator joined (current versions only).
    with django_assert_num_queries(2):
        latest = operator_client.get(URL, {"item": coated_roll.code})
    assert [m["id"] for m in latest.json()["results"]] == [second["id"]]
    # The same two with the superseded version too.
    with django_assert_num_queries(2):
        history = operator_client.get(URL, {"item": coated_roll.code, "history": "true"})
    assert sorted(m["id"] for m in history.json()["results"]) == [first["id"], second["id"]]
    detail = operator_client.get(f"{URL}{first['id']}/")
    assert (detail.status_code, detail.json()["value"]) == (200, 20.0)


def test_correcting_an_old_version_again_is_a_conflict(operator_client, coated_roll, catalog):
    first = post(operator_client, coated_body(coated_roll, value=20)).json()
    assert correct(operator_client, first["id"], {"value": 21, "unit": "mg/cm**2", "reason": "typo"}).status_code == 201
    before = counts()
    response = correct(operator_client, first["id"], {"value": 22, "unit": "mg/cm**2", "reason": "again"})
    refused_code = response.json()["code"]
    assert (response.status_code, refused_code) == (409, ErrorCode.ALREADY_CORRECTED)
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"value": 21, "unit": "mg/cm**2"}, "reason", INVALID),
        ({"value": 21, "unit": "mg/cm**2", "reason": "  "}, "reason", INVALID),
        ({"value": 21, "unit": "kg", "reason": "typo"}, "unit", ErrorCode.INCOMPATIBLE_UNIT),
        ({"reason": "typo"}, "value", INVALID),
    ],
    ids=["no-reason", "blank-reason", "wrong-unit", "no-value"],
)
def test_a_bad_correction_is_refused(operator_client, coated_roll, catalog, body, field, code):
    first = post(operator_client, coated_body(coated_roll, value=20)).json()
    before = counts()
    refused(correct(operator_client, first["id"], body), 400, field, code)
    assert counts() == before
    assert not Measurement.objects.filter(supersedes_id=first["id"]).exists()


def test_correcting_an_unknown_measurement_is_404(operator_client, catalog):
    response = correct(operator_client, 987654, {"value": 1, "unit": "mg/cm**2", "reason": "typo"})
    assert response.status_code == 404


# --- Station and time: the server picks the item ------------------------------------------------


def machine_body(station: str, when: str, **changes: Any) -> dict[str, Any]:
    body = {"parameter": "mass_loading_t", "value": 21.0, "unit": "mg/cm**2", "station": station, "measured_at": when}
    return body | changes


def test_a_machine_value_goes_to_the_roll_being_coated_then(operator_client, coated_roll, catalog):
    response = post(operator_client, machine_body("COAT-01", at(hours=2, minutes=30)))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["assigned"]["item"]["code"] == coated_roll.code
    assert body["assigned"]["by"] == "station_time"
    assert body["assigned"]["position_from"] == "whole"  # no line speed, no encoder
    assert (body["item"], body["station"], body["position_m"]) == (coated_roll.code, "COAT-01", None)
    stored = Measurement.objects.get(pk=body["id"])
    assert stored.operation_id == body["assigned"]["operation"] == coated_roll.produced_by_id


def test_the_encoder_position_is_kept_and_checked(operator_client, coated_roll, catalog):
    response = post(operator_client, machine_body("COAT-01", at(hours=2, minutes=30), position_m=42.5))
    assert response.status_code == 201, response.content
    assert (response.json()["position_m"], response.json()["assigned"]["position_from"]) == (42.5, "encoder")
    before = counts()
    beyond = post(operator_client, machine_body("COAT-01", at(hours=2, minutes=30), position_m=100.5))
    refused(beyond, 400, "position_m", ErrorCode.BAD_POSITION)
    assert counts() == before


@pytest.fixture
def speed_roll(engineer, stations):
    """A 100 m roll coated at 2 m/min from T1 on (coating_speed is not in our catalog)."""
    slurry = register(engineer, "slurry", 10, "kg", polarity="anode")
    return operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T1,
        ended_at=T1 + timedelta(hours=1),
        inputs=[InputSpec(slurry.code, 5, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
        parameters={"coating_speed": {"value": 2, "unit": "m/min"}},
    ).outputs[0]


def test_without_an_encoder_the_position_comes_from_the_line_speed(operator_client, speed_roll, catalog):
    response = post(operator_client, machine_body("COAT-01", (T1 + timedelta(seconds=30)).isoformat()))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["assigned"]["item"]["code"] == speed_roll.code
    assert body["assigned"]["position_from"] == "line_speed"
    assert body["position_m"] == pytest.approx(1.0)


def test_a_line_speed_position_beyond_the_roll_is_refused(operator_client, speed_roll, catalog):
    # 2 m/min for 55 min is 110 m of a 100 m roll.
    before = counts()
    response = post(operator_client, machine_body("COAT-01", (T1 + timedelta(minutes=55)).isoformat()))
    refused(response, 400, "measured_at", ErrorCode.BAD_POSITION)
    assert counts() == before


def test_no_operation_at_the_station_then_is_a_conflict(operator_client, coated_roll, catalog):
    before = counts()
    # Mixing ended at T0+1h, coating starts at T0+2h: COAT-01 was idle at T0+1h30.
    response = post(operator_client, machine_body("COAT-01", at(hours=1, minutes=30)))
    refused(response, 409, "measured_at", ErrorCode.NO_OPERATION_AT_STATION)
    assert counts() == before


def test_an_operation_with_several_outputs_is_ambiguous(operator_client, engineer, coated_roll, catalog):
    operation_record(
        actor=engineer,
        step="slitting",
        station="SLT-01",
        started_at=T0 + timedelta(hours=6),
        inputs=[InputSpec(coated_roll.code)],
        outputs=[OutputSpec(kind="slit_roll", quantity=100, unit="m", lane=lane) for lane in (1, 2)],
    )
    before = counts()
    # Slitting (still open: no end) made two lanes.
    response = post(operator_client, machine_body("SLT-01", at(hours=6, minutes=10)))
    refused(response, 409, "item", ErrorCode.AMBIGUOUS_ITEM)
    assert counts() == before


def test_a_step_that_makes_nothing_assigns_the_cell_passing_through(operator_client, engineer, stations, cell, catalog):
    operation_record(
        actor=engineer,
        step="formation",
        station="FORM-01",
        started_at=T0 + timedelta(hours=10),
        ended_at=T0 + timedelta(hours=11),
        inputs=[InputSpec(cell.code, consume=False)],
        outputs=[],
    )
    body = machine_body("FORM-01", at(hours=10, minutes=45), parameter="formation_capacity_t", value=1.02, unit="A*h")
    response = post(operator_client, body)
    assert response.status_code == 201, response.content
    assert response.json()["assigned"]["item"]["code"] == cell.code
    assert response.json()["value"] == pytest.approx(1020)
    assert Item.objects.get(pk=cell.pk).status == "active"


def test_a_station_value_without_a_time_is_refused(operator_client, coated_roll, catalog):
    body = machine_body("COAT-01", at(hours=2, minutes=30))
    del body["measured_at"]
    refused(post(operator_client, body), 400, "measured_at", INVALID)


# --- Rooms -------------------------------------------------------------------------------------------


def dew_point(client: APIClient, when: str, room: str = "dry-room-1") -> int:
    body = {"parameter": "dew_point_t", "value": -50, "unit": "degC", "room": room, "measured_at": when}
    response = post(client, body)
    assert response.status_code == 201, response.content
    assert (response.json()["item"], response.json()["room"]) == (None, room)
    return int(response.json()["id"])


def test_a_room_reading_belongs_to_what_was_made_in_that_room_then(operator_client, engineer, line, catalog):
    during_coating = dew_point(operator_client, at(hours=2, minutes=30))
    between_operations = dew_point(operator_client, at(hours=1, minutes=30))
    other_room = dew_point(operator_client, at(hours=2, minutes=30), room="dry-room-2")
    # A mixing of something else in the same room, later: not upstream of the cell.
    lot = register(engineer, "anode_active_material", 5, "kg")
    operation_record(
        actor=engineer,
        step="mixing",
        station="MIX-01",
        started_at=T0 + timedelta(hours=12),
        ended_at=T0 + timedelta(hours=13),
        inputs=[InputSpec(lot.code, 1, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=2, unit="kg", polarity="anode")],
    )
    unrelated = dew_point(operator_client, at(hours=12, minutes=30))

    cell = line.cells[0].code
    response = operator_client.get(URL, {"item": cell, "upstream": "true", "parameter": "dew_point_t"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [during_coating]
    assert results[0]["upstream"] == {
        "item": line.coated_roll.code,
        "depth": 4,
        "relation": "room",
        "from_m": None,
        "to_m": None,
        "via": None,
        "mapped_position_m": None,
    }
    # The later mixing's slurry sees its own reading only.
    slurry = Item.objects.filter(kind_id="slurry").order_by("-pk").first()
    assert slurry is not None
    ids = [r["id"] for r in operator_client.get(URL, {"item": slurry.code, "upstream": "true"}).json()["results"]]
    assert ids == [unrelated]
    assert between_operations not in ids and other_room not in ids


# --- Operation parameters -------------------------------------------------------------------------


def coating_operation(slurry: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": "coating",
        "station": "COAT-01",
        "started_at": T1.isoformat(),
        "ended_at": (T1 + timedelta(hours=1)).isoformat(),
        "inputs": [{"item": slurry, "quantity": 2, "unit": "kg"}],
        "outputs": [{"kind": "coated_roll", "quantity": 100, "unit": "m"}],
        "parameters": parameters,
    }


def test_operation_parameters_in_the_catalog_become_measurements(operator_client, engineer, stations, catalog):
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode").code
    parameters = {
        "coating_speed_t": {"value": 120, "unit": "m/h"},
        "active_ratio_t": {"value": 0.96},
        "web_tension": {"value": 80, "unit": "N"},
        "program": {"value": "C-7"},
    }
    response = operator_client.post("/api/operations/", coating_operation(slurry, parameters), format="json")
    assert response.status_code == 201, response.content
    operation = Operation.objects.get(pk=response.json()["id"])
    assert set(operation.parameters) == set(parameters)  # unknown codes are kept here only
    rows = {m.parameter_id: m for m in Measurement.objects.filter(operation=operation)}
    assert set(rows) == {catalog["coating_speed_t"].pk, catalog["active_ratio_t"].pk}
    speed = rows[catalog["coating_speed_t"].pk]
    assert (speed.value, speed.sent_value, speed.sent_unit) == (pytest.approx(2.0), 120.0, "m/h")
    assert (speed.item_id, speed.station.code, speed.measured_at) == (None, "COAT-01", T1)
    assert speed.out_of_range is False

    roll = response.json()["outputs"][0]["code"]
    listing = operator_client.get(URL, {"item": roll, "upstream": "true", "parameter": "coating_speed_t"}).json()
    [result] = listing["results"]
    assert result["id"] == speed.pk
    assert result["value"] == pytest.approx(2.0)
    assert (result["upstream"]["relation"], result["upstream"]["item"], result["upstream"]["depth"]) == (
        "operation",
        roll,
        0,
    )


def test_an_operation_parameter_in_a_wrong_unit_refuses_the_whole_operation(
    operator_client, engineer, stations, catalog
):
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    before = (Operation.objects.count(), Item.objects.count(), *counts())
    body = coating_operation(slurry.code, {"coating_speed_t": {"value": 2, "unit": "kg"}, "web_tension": {"value": 1}})
    response = operator_client.post("/api/operations/", body, format="json")
    refused(response, 400, "parameters.coating_speed_t.unit", ErrorCode.INCOMPATIBLE_UNIT)
    assert (Operation.objects.count(), Item.objects.count(), *counts()) == before
    assert float(Item.objects.get(pk=slurry.pk).quantity) == 10.0


# --- The upstream listing -----------------------------------------------------------------------------


def record(client: APIClient, item: str, value: float, position_m: float | None = None, **changes: Any) -> int:
    body = {"parameter": "mass_loading_t", "value": value, "unit": "mg/cm**2", "item": item, "measured_at": at(hours=2)}
    if position_m is not None:
        body["position_m"] = position_m
    response = post(client, body | changes)
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def test_a_roll_value_is_upstream_of_a_sheet_only_inside_its_stretch(operator_client, line, catalog):
    coated = line.coated_roll.code
    # Coated 100 m, unwound reversed into 104 m: lane metre x is coated 100 - x * 100/104. Sheet 0
    # of each lane is lane 10.0-10.5 m = coated 89.904-90.385 m; coated 90.0 m is lane 10.4 m.
    inside = record(operator_client, coated, 21.0, 90.0)
    outside = record(operator_client, coated, 21.0, 95.0)
    whole = record(operator_client, coated, 21.0)  # no position: about the whole roll
    sheet0, sheet1 = line.sheets[0], line.sheets[1]

    response = operator_client.get(URL, {"item": sheet0.code, "upstream": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["item"] == sheet0.code
    results = {r["id"]: r for r in body["results"]}
    assert all(set(r["upstream"]) == UPSTREAM_KEYS for r in body["results"])
    assert set(results) == {inside, whole}
    hit = results[inside]["upstream"]
    assert (hit["item"], hit["relation"], hit["depth"], hit["via"]) == (coated, "item", 3, sheet0.code)
    assert hit["from_m"] == pytest.approx(100 - 10.5 * 100 / 104)
    assert hit["to_m"] == pytest.approx(100 - 10.0 * 100 / 104)
    assert hit["mapped_position_m"] == pytest.approx(0.4)
    assert results[inside]["position_m"] == 90.0  # the value itself is as measured
    assert results[whole]["upstream"]["mapped_position_m"] is None

    ids = {r["id"] for r in operator_client.get(URL, {"item": sheet1.code, "upstream": "true"}).json()["results"]}
    assert ids == {whole}
    assert outside not in ids
    # The cell made of sheets 0-3 of lane 1 holds the value once, through sheet 0.
    cell = operator_client.get(URL, {"item": line.cells[0].code, "upstream": "true"}).json()["results"]
    assert [(r["id"], r["upstream"]["via"]) for r in cell if r["id"] == inside] == [(inside, sheet0.code)]


def test_parameter_and_step_filter_the_upstream_listing(operator_client, line, catalog):
    record(operator_client, line.coated_roll.code, 21.0)
    record(operator_client, line.sheets[0].code, 15, parameter="sheet_mass_t", unit="mg")
    url_params = {"item": line.cells[0].code, "upstream": "true"}
    everything = operator_client.get(URL, url_params).json()["results"]
    assert {r["parameter"] for r in everything} == {"mass_loading_t", "sheet_mass_t"}
    only = operator_client.get(URL, url_params | {"parameter": "sheet_mass_t"}).json()["results"]
    assert [(r["parameter"], r["upstream"]["item"], r["upstream"]["depth"]) for r in only] == [
        ("sheet_mass_t", line.sheets[0].code, 1)
    ]
    coating = operator_client.get(URL, url_params | {"step": "coating"}).json()["results"]
    assert {r["parameter"] for r in coating} == {"mass_loading_t"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"upstream": "true"}, "item"), ({"upstream": "maybe"}, "upstream"), ({"history": "yes"}, "history")],
)
def test_bad_listing_flags_are_refused(operator_client, catalog, params, field):
    refused(operator_client.get(URL, params), 400, field, INVALID)


def test_the_upstream_listing_of_an_unknown_item_is_404(operator_client, catalog):
    response = operator_client.get(URL, {"item": "NO-SUCH-ITEM", "upstream": "true"})
    assert (response.status_code, response.json()["code"]) == (404, ErrorCode.UNKNOWN_ITEM)


def test_the_upstream_listing_takes_as_many_queries_for_4_as_for_20_sheets_per_lane(
    operator_client, engineer, stations, catalog, django_assert_num_queries
):
    sizes = []
    for sheets in (4, 20):
        built = build_line(engineer, sheets_per_lane=sheets, sheets_per_cell=sheets)
        cell = built.cells[0]  # every sheet of lane 1
        record(operator_client, built.coated_roll.code, 21.0, 90.0)
        record(operator_client, built.slurry.code, 21.0)
        for sheet in built.sheets[:sheets]:
            record(operator_client, sheet.code, 15, parameter="sheet_mass_t", unit="mg")
        # 1. the token and its user with the user's groups (the role), 2. the item by code, then
        # on PostgreSQL 3. one statement: the walk, the values, each once, and the body's text. On
        # SQLite 3. the recursive walk up the lineage (one row per distinct stretch), 4. the values
        # that belong to those stretches (item, operation and room values), 5. those measurements
        # with their parameters, items, stations and creators joined, 6. the codes of the upstream
        # items and of the sheets the values are mapped onto.
        with django_assert_num_queries(3 if connection.vendor == "postgresql" else 6):
            response = operator_client.get(URL, {"item": cell.code, "upstream": "true"})
        assert response.status_code == 200
        sizes.append(len(response.json()["results"]))
    # The roll value (in sheet 0), the slurry value and one value per sheet.
    assert sizes == [2 + 4, 2 + 20]


# --- Who may do what ------------------------------------------------------------------------------


@pytest.fixture
def roleless_client(db) -> APIClient:
    """The third user: a valid token, but no role."""
    user = User.objects.create_user(username="nora-norole")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_anonymous_clients_get_401_and_a_user_without_a_role_403(anon_client, roleless_client, coated_roll, catalog):
    before = counts()
    for client, status in ((anon_client, 401), (roleless_client, 403)):
        assert client.get(URL).status_code == status
        assert post(client, coated_body(coated_roll)).status_code == status
        assert client.get(f"/api/items/{coated_roll.code}/completeness/").status_code == status
    assert counts() == before


def test_an_operator_may_record_and_read(operator_client, coated_roll, catalog):
    response = post(operator_client, coated_body(coated_roll))
    assert response.status_code == 201
    listed = operator_client.get(URL, {"parameter": "mass_loading_t"})
    assert [m["id"] for m in listed.json()["results"]] == [response.json()["id"]]


def test_the_same_idempotency_key_records_once(operator_client, coated_roll, catalog):
    first = post(operator_client, coated_body(coated_roll), HTTP_IDEMPOTENCY_KEY="gauge-2-0001")
    before = counts()
    again = post(operator_client, coated_body(coated_roll), HTTP_IDEMPOTENCY_KEY="gauge-2-0001")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert counts() == before
