"""GET /api/items/{code}/completeness/: which parameters a model needs are measured for an item
and everything upstream of it, and which are missing."""

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from measurements.models import Parameter
from tests.factories import T0
from traceability.services import InputSpec, operation_record

pytestmark = pytest.mark.django_db

INVALID = "invalid"
LINE_STEPS = ["calendering", "coating", "cutting", "mixing", "slitting", "stacking"]


def url(code: str) -> str:
    return f"/api/items/{code}/completeness/"


def record(client: APIClient, item: str, parameter: str, value: float, unit: str, **extra: Any) -> None:
    body = {"parameter": parameter, "value": value, "unit": unit, "item": item} | extra
    response = client.post("/api/measurements/", body, format="json")
    assert response.status_code == 201, response.content


def codes(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(row["code"] for row in rows)


@pytest.fixture
def measured(operator_client, line, catalog):
    """Cell 0 (sheets 0-3 of lane 1 = coated roll 88.46-90.38 m): two mass loadings inside it,
    one outside it, one sheet mass on sheet 0; nothing else."""
    coated = line.coated_roll.code
    record(operator_client, coated, "mass_loading_t", 21, "mg/cm**2", position_m=89.0)
    record(operator_client, coated, "mass_loading_t", 21, "mg/cm**2")  # the whole roll
    record(operator_client, coated, "mass_loading_t", 21, "mg/cm**2", position_m=50.0)  # not in cell 0
    record(operator_client, line.sheets[0].code, "sheet_mass_t", 15, "mg")
    record(operator_client, line.sheets[4].code, "sheet_mass_t", 15, "mg")  # a sheet of cell 1
    return line


def test_high_criticality_parameters_of_the_steps_the_cell_went_through(
    operator_client, measured, django_assert_num_queries
):
    cell = measured.cells[0].code
    # 1. the token and its user with the user's groups (the role), 2. the item by code, 3. the
    # walk up the lineage, 4. the values on it, 5. those measurements, 6.-8. their parameters,
    # items and creators (none names a station), 9. the upstream item codes, 10. the walk again
    # for the node codes (genealogy), 11. the steps of the operations that made or processed
    # them, 12. the parameters of high criticality for the model.
    with django_assert_num_queries(12):
        response = operator_client.get(url(cell), {"model": "ml"})
    assert response.status_code == 200
    body = response.json()
    assert (body["item"], body["model"], body["steps"]) == (cell, "ml", LINE_STEPS)
    present = {row["code"]: row for row in body["present"]}
    # Counts are of measurements: the whole-roll value reaches the cell through each of its four
    # sheets and counts once.
    assert {code: row["count"] for code, row in present.items()} == {"mass_loading_t": 2, "sheet_mass_t": 1}
    assert present["mass_loading_t"] == {
        "code": "mass_loading_t",
        "name": "mass loading t",
        "step": "coating",
        "category": "SP",
        "unit": "mg/cm**2",
        "count": 2,
    }
    # The environment is always asked for; formation is not a step of this cell; drying's and
    # stacking's parameters here are not of high criticality.
    assert codes(body["missing"]) == ["active_ratio_t", "coating_speed_t", "coating_thickness_t", "dew_point_t"]
    assert body["required"] == 6
    assert body["coverage"] == pytest.approx(2 / 6, abs=1e-4)


def test_a_step_the_item_passes_through_brings_its_parameters(operator_client, engineer, measured):
    cell = measured.cells[0]
    before = operator_client.get(url(cell.code)).json()
    assert "formation_capacity_t" not in codes(before["present"]) + codes(before["missing"])
    operation_record(
        actor=engineer,
        step="formation",
        station="FORM-01",
        started_at=T0 + timedelta(hours=10),
        ended_at=T0 + timedelta(hours=11),
        inputs=[InputSpec(cell.code, consume=False)],
        outputs=[],
    )
    after = operator_client.get(url(cell.code)).json()
    assert after["steps"] == sorted([*LINE_STEPS, "formation"])
    assert "formation_capacity_t" in codes(after["missing"])
    assert after["required"] == before["required"] + 1

    record(operator_client, cell.code, "formation_capacity_t", 1.01, "A*h")
    done = operator_client.get(url(cell.code)).json()
    assert {row["code"]: row["count"] for row in done["present"]}["formation_capacity_t"] == 1
    assert done["coverage"] == pytest.approx(3 / 7, abs=1e-4)


def test_a_room_reading_during_an_upstream_operation_counts(operator_client, measured):
    body = {"parameter": "dew_point_t", "value": -50, "unit": "degC", "room": "dry-room-1"}
    response = operator_client.post(
        "/api/measurements/",
        body | {"measured_at": (T0 + timedelta(hours=2, minutes=30)).isoformat()},  # during coating
        format="json",
    )
    assert response.status_code == 201
    result = operator_client.get(url(measured.cells[0].code)).json()
    assert "dew_point_t" in codes(result["present"])


def test_an_upstream_item_sees_only_its_own_steps(operator_client, measured):
    # The coated roll went through mixing (its slurry) and coating only.
    body = operator_client.get(url(measured.coated_roll.code), {"model": "ml"}).json()
    assert body["steps"] == ["coating", "mixing"]
    assert codes(body["present"]) == ["mass_loading_t"]
    assert {row["code"]: row["count"] for row in body["present"]} == {"mass_loading_t": 3}  # all three: whole roll
    assert "sheet_mass_t" not in codes(body["missing"])


def test_another_model_asks_for_other_parameters(operator_client, measured):
    Parameter.objects.filter(code="stack_pressure_t").update(criticality_continuum="high")
    body = operator_client.get(url(measured.cells[0].code), {"model": "continuum"}).json()
    assert (codes(body["present"]), codes(body["missing"])) == ([], ["stack_pressure_t"])
    assert (body["required"], body["coverage"]) == (1, 0.0)
    nothing = operator_client.get(url(measured.cells[0].code), {"model": "empirical"}).json()
    assert (nothing["required"], nothing["coverage"], nothing["missing"]) == (0, 1.0, [])


def test_an_unknown_model_is_400_on_model(operator_client, line, catalog):
    response = operator_client.get(url(line.cells[0].code), {"model": "bogus"})
    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["errors"])) == (INVALID, ["model"])


def test_an_unknown_item_is_404(operator_client, catalog):
    response = operator_client.get(url("NO-SUCH-ITEM"))
    assert (response.status_code, response.json()["code"]) == (404, "unknown_item")
