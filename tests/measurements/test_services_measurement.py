"""measurements.services where the point is the service itself: which item a station was working
on, line speed, corrections, operation parameters, and rows that are never overwritten."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode, InvalidInput
from measurements.assignment import line_speed_m_per_s, station_assign
from measurements.models import Measurement
from measurements.selectors import measurement_queryset
from measurements.services import (
    MeasurementInput,
    measurement_correct,
    measurement_record,
    out_of_range,
    series_to_canonical,
)
from tests.factories import T0, register
from traceability.models import Operation, Station
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db


def value_input(item: str | None, value: float = 21.0, **changes: object) -> MeasurementInput:
    fields: dict[str, object] = {
        "parameter": "mass_loading_t",
        "value": value,
        "unit": "mg/cm**2",
        "item": item,
        "measured_at": T0 + timedelta(hours=2, minutes=30),
    }
    return MeasurementInput(**(fields | changes))  # type: ignore[arg-type]


# --- Units and ranges --------------------------------------------------------------------------------


def test_the_typical_range_is_inclusive(catalog):
    mass_loading = catalog["mass_loading_t"]  # 18..24 mg/cm**2
    assert not out_of_range(mass_loading, [18, 21, 24])
    assert out_of_range(mass_loading, [18, 24.0001])
    assert out_of_range(mass_loading, [17.9999])
    assert not out_of_range(catalog["stack_pressure_t"], [-1e9, 1e9])  # no range: nothing is out of it


def test_a_series_keeps_its_points_in_order_and_converts_both_axes(catalog):
    series = {"x": [0, 250, 500], "y": [2.1, 2.2, 2.3], "x_unit": "cm", "x_kind": "position", "y_unit": "g/dm**2"}
    converted = series_to_canonical(series, catalog["mass_loading_t"])
    assert converted["x"] == pytest.approx([0, 2.5, 5.0])
    assert converted["y"] == pytest.approx([21, 22, 23])  # 1 g/dm**2 = 10 mg/cm**2
    assert (converted["x_unit"], converted["y_unit"]) == ("m", "mg/cm**2")


def test_a_boolean_is_not_a_series_point(catalog):
    with pytest.raises(InvalidInput) as error:
        series_to_canonical({"x": [0, True], "y": [1, 2], "y_unit": "mg/cm**2"}, catalog["mass_loading_t"])
    assert (error.value.code, list(error.value.errors)) == (ErrorCode.BAD_QUANTITY, ["series.x[1]"])


def test_the_unit_of_a_series_without_y_unit_is_the_measurement_unit(engineer, coated_roll, catalog):
    # API.md's series is {"x", "y", "x_unit", "x_kind"}: the y values are in `unit`.
    recorded = measurement_record(
        actor=engineer,
        data=value_input(
            coated_roll.code,
            value=None,
            unit="g/m**2",
            uncertainty=2,
            series={"x": [0, 1], "y": [210, 230], "x_kind": "position"},
        ),
    )
    stored = Measurement.objects.get(pk=recorded.measurement.pk)
    assert stored.series["y"] == pytest.approx([21, 23])
    assert stored.series["y_unit"] == "mg/cm**2"
    assert stored.uncertainty == pytest.approx(0.2)  # in the unit of y, converted like the points
    assert stored.out_of_range is False


def test_a_series_in_a_unit_of_the_wrong_dimension_is_refused_on_unit(engineer, coated_roll, catalog):
    with pytest.raises(InvalidInput) as error:
        measurement_record(
            actor=engineer,
            data=value_input(coated_roll.code, value=None, unit="kg", series={"x": [0], "y": [1]}),
        )
    assert (error.value.code, list(error.value.errors)) == (ErrorCode.INCOMPATIBLE_UNIT, ["unit"])


# --- Line speed and the item in process ------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"mixing_speed": {"value": 2000, "unit": "rpm"}, "coating_speed": {"value": 2, "unit": "m/min"}}, 2 / 60),
        ({"line": {"value": 7.2, "unit": "km/h"}}, 2.0),
        ({"mixing_speed": {"value": 2000, "unit": "rpm"}}, None),
        ({"program": {"value": "F-12"}, "speed": {"value": "fast", "unit": "m/s"}}, None),
        ({"odd": {"value": 3, "unit": "not a unit ((("}, "web": {"value": 1, "unit": "m/s"}}, 1.0),
        ({}, None),
    ],
    ids=["first-velocity", "km/h", "rpm-is-no-speed", "text-values", "bad-unit-skipped", "none"],
)
def test_the_line_speed_is_the_first_velocity_among_the_operation_parameters(parameters, expected):
    speed = line_speed_m_per_s(Operation(parameters=parameters))
    assert speed == (None if expected is None else pytest.approx(expected))


def test_the_latest_operation_started_wins_and_the_end_is_inclusive(engineer, stations):
    # Two stackings at STK-01 that overlap: an older one never closed, a newer one T0+1h..T0+2h.
    cells = []
    for start, end in ((T0, None), (T0 + timedelta(hours=1), T0 + timedelta(hours=2))):
        sheets = [register(engineer, "electrode_sheet", None, None) for _ in range(2)]
        cells.append(
            operation_record(
                actor=engineer,
                step="stacking",
                station="STK-01",
                started_at=start,
                ended_at=end,
                inputs=[InputSpec(s.code) for s in sheets],
                outputs=[OutputSpec(kind="cell")],
            ).outputs[0]
        )
    station = Station.objects.get(code="STK-01")
    at = {
        T0 + timedelta(minutes=30): cells[0],
        T0 + timedelta(hours=1): cells[1],
        T0 + timedelta(hours=2): cells[1],
        T0 + timedelta(hours=2, seconds=1): cells[0],  # the open one again
    }
    for when, expected in at.items():
        assignment = station_assign(station=station, at=when, position_m=None)
        assert (assignment.item.pk, assignment.position_m, assignment.how) == (expected.pk, None, "whole"), when
    with pytest.raises(Conflict) as error:
        station_assign(station=station, at=T0 - timedelta(seconds=1), position_m=None)
    assert error.value.code == ErrorCode.NO_OPERATION_AT_STATION


def test_the_line_speed_position_starts_at_zero(engineer, stations):
    slurry = register(engineer, "slurry", 10, "kg", polarity="anode")
    roll = operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0,
        inputs=[InputSpec(slurry.code, 1, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=60, unit="m")],
        parameters={"coating_speed": {"value": 1, "unit": "m/s"}},
    ).outputs[0]
    station = Station.objects.get(code="COAT-01")
    for seconds, metres in ((0, 0.0), (12.5, 12.5), (60, 60.0)):
        assignment = station_assign(station=station, at=T0 + timedelta(seconds=seconds), position_m=None)
        assert (assignment.item.pk, assignment.how) == (roll.pk, "line_speed")
        assert assignment.position_m == pytest.approx(metres)
    with pytest.raises(InvalidInput) as error:
        station_assign(station=station, at=T0 + timedelta(seconds=61), position_m=None)
    assert (error.value.code, list(error.value.errors)) == (ErrorCode.BAD_POSITION, ["measured_at"])


def test_an_environment_value_at_a_station_is_not_assigned_to_an_item(engineer, stations, catalog):
    # COAT-01 is idle: a dew point there is about the station, not a 409.
    recorded = measurement_record(
        actor=engineer,
        data=MeasurementInput(
            parameter="dew_point_t", value=-45, unit="degC", station="COAT-01", measured_at=T0 + timedelta(days=3)
        ),
    )
    assert recorded.assignment is None
    stored = recorded.measurement
    assert (stored.item_id, stored.operation_id, stored.station.code) == (None, None, "COAT-01")


def test_an_item_sent_with_a_station_is_kept(engineer, coated_roll, cell, catalog):
    # At T0+2h30 COAT-01 was coating `coated_roll`; the client says it measured the cell.
    recorded = measurement_record(
        actor=engineer,
        data=value_input(cell.code, parameter="formation_capacity_t", value=1000, unit="mA*h", station="COAT-01"),
    )
    assert recorded.assignment is None
    assert (recorded.measurement.item_id, recorded.measurement.station.code) == (cell.pk, "COAT-01")


# --- Corrections -----------------------------------------------------------------------------------


def test_a_correction_of_a_station_assigned_value_keeps_its_subject(engineer, coated_roll, catalog):
    first = measurement_record(
        actor=engineer,
        data=value_input(None, station="COAT-01", position_m=40.0),
    ).measurement
    assert (first.item_id, first.station.code, first.position_m) == (coated_roll.pk, "COAT-01", 40.0)
    second = measurement_correct(
        actor=engineer,
        measurement_id=first.pk,
        reason="wrong calibration curve",
        data=MeasurementInput(parameter="", value=22.0, unit="mg/cm**2"),
    ).measurement
    second = Measurement.objects.select_related("station").get(pk=second.pk)
    assert (second.item_id, second.operation_id, second.position_m) == (
        first.item_id,
        first.operation_id,
        first.position_m,
    )
    assert second.station is not None and second.station.code == "COAT-01"
    assert list(measurement_queryset().filter(station__code="COAT-01")) == [second]


def test_only_the_latest_version_can_be_corrected(engineer, coated_roll, catalog):
    versions = [measurement_record(actor=engineer, data=value_input(coated_roll.code, 20.0)).measurement]
    for value in (20.5, 21.0):
        versions.append(
            measurement_correct(
                actor=engineer,
                measurement_id=versions[-1].pk,
                reason=f"now {value}",
                data=MeasurementInput(parameter="", value=value, unit="mg/cm**2"),
            ).measurement
        )
    assert [v.supersedes_id for v in versions] == [None, versions[0].pk, versions[1].pk]
    assert list(measurement_queryset().filter(item=coated_roll)) == [versions[2]]
    assert set(measurement_queryset(history=True).filter(item=coated_roll)) == set(versions)
    before = (Measurement.objects.count(), AuditEvent.objects.count())
    for old in versions[:2]:
        with pytest.raises(Conflict) as error:
            measurement_correct(
                actor=engineer,
                measurement_id=old.pk,
                reason="again",
                data=MeasurementInput(parameter="", value=1, unit="mg/cm**2"),
            )
        assert error.value.code == ErrorCode.ALREADY_CORRECTED
    assert (Measurement.objects.count(), AuditEvent.objects.count()) == before


# --- Never overwritten ----------------------------------------------------------------------------


def test_the_orm_refuses_to_save_an_existing_measurement(engineer, coated_roll, catalog):
    measurement = measurement_record(actor=engineer, data=value_input(coated_roll.code)).measurement
    measurement.value = 99.0
    with pytest.raises(PermissionError):
        measurement.save()
    assert Measurement.objects.get(pk=measurement.pk).value == 21.0


def test_the_database_refuses_a_queryset_update(engineer, coated_roll, catalog):
    # QuerySet.update() skips save(): the trigger (PostgreSQL and SQLite) is what stops it.
    measurement = measurement_record(actor=engineer, data=value_input(coated_roll.code)).measurement
    with pytest.raises(DatabaseError), transaction.atomic():
        Measurement.objects.filter(pk=measurement.pk).update(value=99.0)
    assert Measurement.objects.get(pk=measurement.pk).value == 21.0


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE measurements_measurement SET value = 99 WHERE id = %s",
        "DELETE FROM measurements_measurement WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_the_postgresql_trigger_refuses_raw_update_and_delete(engineer, coated_roll, catalog, sql):
    measurement = measurement_record(actor=engineer, data=value_input(coated_roll.code)).measurement
    with pytest.raises(DatabaseError, match="never overwritten"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [measurement.pk])
    assert Measurement.objects.get(pk=measurement.pk).value == 21.0


# --- Operation parameters ----------------------------------------------------------------------------


def coating(engineer, parameters: dict[str, object]):  # type: ignore[no-untyped-def]
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    return operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0,
        inputs=[InputSpec(slurry.code, 1, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=50, unit="m")],
        parameters=parameters,
    )


def test_operation_parameters_are_converted_and_range_checked(engineer, stations, catalog):
    result = coating(
        engineer,
        {
            "coating_speed_t": {"value": 0.1, "unit": "m/s"},  # 6 m/min: above typical_max 5
            "drying_temperature_t": {"value": 373.15, "unit": "K"},
            "active_ratio_t": {"value": "high"},  # a known code with a text value: no measurement
            "nozzle": {"value": 3, "unit": "mm"},
        },
    )
    rows = {m.parameter.code: m for m in Measurement.objects.filter(operation=result.operation)}
    assert set(rows) == {"coating_speed_t", "drying_temperature_t"}
    assert (rows["coating_speed_t"].value, rows["coating_speed_t"].out_of_range) == (pytest.approx(6.0), True)
    assert (rows["drying_temperature_t"].value, rows["drying_temperature_t"].out_of_range) == (
        pytest.approx(100.0),
        False,
    )
    assert all(m.source == "online" and m.measured_at == T0 for m in rows.values())
    assert result.operation.parameters["nozzle"] == {"value": 3, "unit": "mm"}


def test_a_dimensioned_operation_parameter_without_unit_refuses_the_operation(engineer, stations, catalog):
    before = (Operation.objects.count(), Measurement.objects.count(), AuditEvent.objects.count())
    with pytest.raises(InvalidInput) as error:
        coating(engineer, {"coating_speed_t": {"value": 2}})
    assert (error.value.code, list(error.value.errors)) == (ErrorCode.BAD_UNIT, ["parameters.coating_speed_t.unit"])
    # The slurry registration above is the only write left.
    assert (Operation.objects.count(), Measurement.objects.count(), AuditEvent.objects.count() - 1) == before


def test_overlapping_coating_and_drying_give_the_value_to_the_operation_of_its_step(engineer, stations, catalog):
    """On a coater the dryer runs over the same roll a minute behind: a thickness value goes to
    the coating's output at the metre its line speed gives, a drying value to the roll in the
    dryer."""
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    start = T0 + timedelta(hours=2)
    roll = operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=start,
        ended_at=start + timedelta(hours=1),
        inputs=[InputSpec(slurry.code, 8, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
        parameters={"line_speed": {"value": 1, "unit": "m/min"}},
    ).outputs[0]
    drying = operation_record(
        actor=engineer,
        step="drying",
        station="COAT-01",
        started_at=start + timedelta(minutes=1),
        ended_at=start + timedelta(hours=1, minutes=1),
        inputs=[InputSpec(roll.code, consume=False)],
        outputs=[],
    )
    at = start + timedelta(minutes=30)
    thickness = measurement_record(
        actor=engineer,
        data=MeasurementInput(parameter="coating_thickness_t", value=80, unit="um", station="COAT-01", measured_at=at),
    )
    assert thickness.measurement.item == roll
    assert thickness.measurement.position_m == pytest.approx(30.0)
    temperature = measurement_record(
        actor=engineer,
        data=MeasurementInput(
            parameter="drying_temperature_t", value=90, unit="degC", station="COAT-01", measured_at=at
        ),
    )
    assert temperature.measurement.item == roll
    assert temperature.assignment is not None and temperature.assignment.operation == drying.operation


def test_a_series_of_a_dimensioned_parameter_needs_its_unit(catalog):
    with pytest.raises(InvalidInput) as error:
        series_to_canonical({"x": [0, 1], "y": [20, 21]}, catalog["mass_loading_t"])
    assert (error.value.code, list(error.value.errors)) == (ErrorCode.BAD_UNIT, ["unit"])
    dimensionless = series_to_canonical({"x": [0, 1], "y": [0.9, 0.95]}, catalog["active_ratio_t"])
    assert dimensionless["y"] == [0.9, 0.95]
