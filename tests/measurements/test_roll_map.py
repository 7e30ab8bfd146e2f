"""A mass-loading defect at metre 123.4 of a coated roll, followed into sheets and cells."""

from datetime import UTC, datetime, timedelta

import pytest

from lots.services import item_register
from measurements.models import Parameter
from measurements.selectors import measurements_upstream
from measurements.services import MeasurementInput, measurement_record
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SHEET = 0.5  # m of lane per sheet


@pytest.fixture
def mass_loading(db):
    return Parameter.objects.create(
        code="mass_loading_test",
        name="Mass loading",
        scope="step",
        step_id="coating",
        category="SP",
        unit="mg/cm**2",
        typical_min=18,
        typical_max=24,
    )


@pytest.fixture
def roll_line(engineer, stations):
    """Coated roll 500 m -> calendered 520 m (unwound reversed) -> 2 lanes -> sheets of 0.5 m cut
    from lane metres 380-400 -> cells of 4 sheets (2 from each lane, side by side)."""
    slurry = item_register(actor=engineer, kind="slurry", quantity=50, unit="kg", polarity="cathode")
    coated = operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0,
        inputs=[InputSpec(slurry.code, 40, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=500, unit="m")],
    ).outputs[0]
    calendered = operation_record(
        actor=engineer,
        step="calendering",
        station="CAL-01",
        started_at=T0 + timedelta(hours=1),
        inputs=[InputSpec(coated.code)],
        outputs=[
            OutputSpec(
                kind="calendered_roll",
                quantity=520,
                unit="m",
                made_from=[StretchSpec(coated.code, 0, 500, reversed=True)],
            )
        ],
    ).outputs[0]
    lanes = operation_record(
        actor=engineer,
        step="slitting",
        station="SLT-01",
        started_at=T0 + timedelta(hours=2),
        inputs=[InputSpec(calendered.code)],
        outputs=[
            OutputSpec(
                kind="slit_roll", quantity=520, unit="m", lane=n, made_from=[StretchSpec(calendered.code, 0, 520)]
            )
            for n in (1, 2)
        ],
    ).outputs
    sheets: dict[int, list] = {}
    for lane in lanes:
        sheets[lane.attributes["lane"]] = operation_record(
            actor=engineer,
            step="cutting",
            station="CUT-01",
            started_at=T0 + timedelta(hours=3),
            inputs=[InputSpec(lane.code)],
            outputs=[
                OutputSpec(
                    kind="electrode_sheet", made_from=[StretchSpec(lane.code, 380 + SHEET * i, 380 + SHEET * (i + 1))]
                )
                for i in range(40)
            ],
        ).outputs
    cells = []
    for i in range(0, 40, 2):
        group = sheets[1][i : i + 2] + sheets[2][i : i + 2]
        cells.append(
            operation_record(
                actor=engineer,
                step="stacking",
                station="STK-01",
                started_at=T0 + timedelta(hours=4, minutes=i),
                inputs=[InputSpec(s.code) for s in group],
                outputs=[OutputSpec(kind="cell")],
            ).outputs[0]
        )
    return {"coated": coated, "sheets": sheets, "cells": cells}


def _defective(values):
    return [v for v in values if v.measurement.parameter.code == "mass_loading_test" and v.measurement.out_of_range]


@pytest.mark.django_db
def test_a_defect_at_metre_123_4_is_inside_exactly_the_sheets_and_cells_that_hold_it(engineer, roll_line, mass_loading):
    coated = roll_line["coated"]
    # A profile of the coated roll every 0.1 m from 100 to 150 m, one low value at 123.4 m.
    for i in range(501):
        metre = round(100 + 0.1 * i, 1)
        measurement_record(
            actor=engineer,
            data=MeasurementInput(
                parameter="mass_loading_test",
                value=12.0 if metre == 123.4 else 21.0,
                unit="mg/cm**2",
                item=coated.code,
                position_m=metre,
                measured_at=T0 + timedelta(seconds=i),
                source="online",
            ),
        )
    # Coated 123.4 m, unwound reversed and stretched 500 -> 520 m, is calendered (and lane)
    # metre (500 - 123.4) * 520 / 500 = 391.664: sheet 23 of each lane (391.5-392.0 m), 0.164 m in.
    expected_index = 23
    for lane in (1, 2):
        for index, sheet in enumerate(roll_line["sheets"][lane]):
            found = _defective(measurements_upstream(item=sheet))
            if index == expected_index:
                assert len(found) == 1
                assert found[0].mapped_position_m == pytest.approx(0.164)
                assert found[0].via == sheet.code
                assert found[0].upstream_item == coated.code
            else:
                assert found == [], (lane, index)
    cells_with_defect = [c for c in roll_line["cells"] if _defective(measurements_upstream(item=c))]
    assert cells_with_defect == [roll_line["cells"][expected_index // 2]]
    # In that cell the defect shows once per sheet that holds it: one on each lane.
    hits = _defective(measurements_upstream(item=cells_with_defect[0]))
    assert sorted(h.via for h in hits) == sorted(roll_line["sheets"][lane][expected_index].code for lane in (1, 2))


@pytest.mark.django_db
def test_a_sheet_sees_only_the_stretch_of_profile_that_went_into_it(engineer, roll_line, mass_loading):
    coated = roll_line["coated"]
    for metre in (120.0, 122.0, 123.0, 123.3, 123.4, 123.5, 130.0):
        measurement_record(
            actor=engineer,
            data=MeasurementInput(
                parameter="mass_loading_test",
                value=21.0,
                unit="mg/cm**2",
                item=coated.code,
                position_m=metre,
                measured_at=T0,
                source="online",
            ),
        )
    sheet = roll_line["sheets"][1][23]
    # Sheet 23 is lane 391.5-392.0 m = coated 500 - 392.0*500/520 .. 500 - 391.5*500/520
    # = 123.077 .. 123.558 m.
    values = [v for v in measurements_upstream(item=sheet) if v.upstream_item == coated.code]
    assert sorted(v.measurement.position_m for v in values) == [123.3, 123.4, 123.5]
    assert values[0].from_m == pytest.approx(500 - 392.0 * 500 / 520)
    assert values[0].to_m == pytest.approx(500 - 391.5 * 500 / 520)
