"""The formation and end-of-line values of a cell from its cycler file: capacities per cycle and
coulombic efficiency against an independent integration of a real Neware file and the cycler's
own counters, DCIR from a known pulse, OCV drop over a known rest; recorded with the upload, all
or nothing, again by the command without a second set, and in a dataset export row."""

import csv
import io
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from core.errors import ErrorCode
from datasets.cycler_files import cycler_read
from datasets.cycler_metrics import cycler_metrics
from measurements.models import Measurement, Parameter
from tests.factories import T0, build_line
from traceability.services import InputSpec, operation_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cyclers"  # see tests/fixtures/README.md
NDA_130 = FIXTURES / "neware" / "nda" / "github" / "Issue72" / "TestFile.nda"
NDA_130_REFERENCE = FIXTURES / "neware" / "reference" / "TestFile.ftr"
URL = "/api/measurements/"
R = 0.025  # ohm: the synthetic cell's resistance
FORMATION_VALUES = (
    "formation_charge_capacity",
    "formation_discharge_capacity",
    "formation_coulombic_efficiency",
    "formation_internal_resistance",
    "formation_ocv_drop",
    "formation_charge_capacity_cycles",
    "formation_discharge_capacity_cycles",
)

# (step, current A, voltage V or (start, end) for a linear drift, seconds) at 1 s a sample.
Segment = tuple[int, float, float | tuple[float, float], int]
# Cycle 1: rest, a 10 s discharge pulse of 2 A (the voltage steps by 2 A × R), rest, charge,
# a rest of an hour drifting 4.100 -> 4.095 V, discharge. Cycle 2: charge and discharge.
FORMATION: dict[int, list[Segment]] = {
    1: [
        (1, 0.0, 3.70, 120),
        (2, -2.0, 3.70 - 2.0 * R, 10),
        (3, 0.0, 3.70, 300),
        (4, 2.0, 4.0, 1800),
        (5, 0.0, (4.100, 4.095), 3600),
        (6, -1.8, 3.5, 1800),
    ],
    2: [(7, 2.0, 4.0, 1800), (8, -1.7, 3.5, 1800)],
}


def cycler_csv(cycles: dict[int, list[Segment]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Data_Point", "Test_Time(s)", "Step_Index", "Cycle_Index", "Current(A)", "Voltage(V)"])
    t = 0
    for cycle, segments in cycles.items():
        for step, current, voltage, seconds in segments:
            start, end = voltage if isinstance(voltage, tuple) else (voltage, voltage)
            for volts in np.linspace(start, end, seconds):
                writer.writerow([t, float(t), step, cycle, current, repr(float(volts))])
                t += 1
    return out.getvalue().encode()


def independent_capacities(time: np.ndarray, current: np.ndarray, cycle: np.ndarray) -> dict[int, tuple[float, float]]:
    """(charge, discharge) A·h per cycle with numpy's trapezoid, each cycle from the last sample
    of the one before (the interval between two samples belongs to the later one's cycle)."""
    result = {}
    for number in np.unique(cycle):
        index = np.flatnonzero(cycle == number)
        if index[0] > 0:
            index = np.concatenate(([index[0] - 1], index))
        charge = np.trapezoid(np.clip(current[index], 0, None), time[index]) / 3600
        discharge = -np.trapezoid(np.clip(current[index], None, 0), time[index]) / 3600
        result[int(number)] = (float(charge), float(discharge))
    return result


# --- The metrics ----------------------------------------------------------------------------------


def test_dcir_is_delta_v_over_delta_i_of_the_pulse_and_ocv_drop_is_over_the_rest():
    metrics = cycler_metrics(cycler_read(io.BytesIO(cycler_csv(FORMATION)), name="formation.csv"))
    assert metrics.dcir_ohm == pytest.approx(R, rel=1e-12)
    assert metrics.pulses == 1  # the charge after the second rest lasts 30 min: not a pulse
    assert metrics.ocv_drop_volt == pytest.approx(0.005, rel=1e-9)
    assert metrics.ocv_drop_volt_per_second == pytest.approx(0.005 / 3599, rel=1e-9)  # 3600 samples span 3599 s
    assert metrics.rest_end_voltage == pytest.approx(4.095)
    # A charge pulse of 1 A on a 40 mΩ cell: R from ΔV/ΔI whatever the sign.
    charge_pulse = {1: [(1, 0.0, 3.6, 30), (2, 1.0, 3.6 + 0.040, 5), (3, 0.0, 3.6, 30)]}
    metrics = cycler_metrics(cycler_read(io.BytesIO(cycler_csv(charge_pulse)), name="pulse.csv"))
    assert metrics.dcir_ohm == pytest.approx(0.040, rel=1e-12)
    # A rest shorter than a minute gives no OCV drop rather than a noisy one.
    assert metrics.ocv_drop_volt is None


def test_capacities_and_efficiency_of_a_synthetic_formation():
    table = cycler_read(io.BytesIO(cycler_csv(FORMATION)), name="formation.csv")
    metrics = cycler_metrics(table)
    columns = {name: table.column(name).to_numpy() for name in ("test_time_second", "current_ampere", "cycle_count")}
    expected = independent_capacities(columns["test_time_second"], columns["current_ampere"], columns["cycle_count"])
    assert metrics.cycles == [1, 2]
    assert metrics.charge_capacity == pytest.approx([expected[1][0], expected[2][0]], rel=1e-12)
    assert metrics.discharge_capacity == pytest.approx([expected[1][1], expected[2][1]], rel=1e-12)
    # By hand: the pulse, 10 s of 2 A (9 intervals and two halves); the discharge, 1799 intervals
    # of 1.8 A and the half one out of the rest.
    assert expected[1][1] == pytest.approx((10 * 2.0 + 1799.5 * 1.8) / 3600)
    assert metrics.first_charge_capacity == pytest.approx(expected[1][0])
    assert metrics.first_coulombic_efficiency == pytest.approx(expected[1][1] / expected[1][0])
    assert metrics.last_discharge_capacity == pytest.approx(expected[2][1])


def test_capacities_of_a_real_neware_file_match_numpy_and_the_cyclers_own_counters():
    table = cycler_read(NDA_130)
    metrics = cycler_metrics(table)
    time, current, cycle = (table.column(n).to_numpy() for n in ("test_time_second", "current_ampere", "cycle_count"))
    expected = independent_capacities(time, current, cycle)
    assert metrics.cycles == [1, 2, 3]
    assert metrics.charge_capacity == pytest.approx([expected[c][0] for c in (1, 2, 3)], rel=1e-9)
    assert metrics.discharge_capacity == pytest.approx([expected[c][1] for c in (1, 2, 3)], rel=1e-9)
    # The cycler's counters run per step: their last value of every step, added up per cycle.
    reference = feather.read_table(NDA_130_REFERENCE).to_pandas()
    counters = reference.groupby(["Cycle", "Step"])[["Charge_Capacity(mAh)", "Discharge_Capacity(mAh)"]].max()
    per_cycle = counters.groupby("Cycle").sum() / 1000.0
    assert metrics.charge_capacity == pytest.approx(per_cycle["Charge_Capacity(mAh)"].tolist(), rel=1e-3, abs=1e-6)
    assert metrics.discharge_capacity == pytest.approx(per_cycle["Discharge_Capacity(mAh)"].tolist(), rel=1e-3)
    # Cycle 1 only discharges and cycle 3 only charges: the efficiency is cycle 2's.
    assert metrics.first_charge_capacity == pytest.approx(per_cycle["Charge_Capacity(mAh)"][2], rel=1e-3)
    assert metrics.first_discharge_capacity == pytest.approx(per_cycle["Discharge_Capacity(mAh)"][1], rel=1e-3)
    assert metrics.first_coulombic_efficiency == pytest.approx(expected[2][1] / expected[2][0], rel=1e-9)
    assert 0.99 < metrics.first_coulombic_efficiency < 1.0  # type: ignore[operator]


# --- Recorded with the upload ---------------------------------------------------------------------


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def cells(engineer: User, stations: Any) -> list[Any]:
    call_command("load_catalog", stdout=io.StringIO())
    return list(build_line(engineer).cells)


def upload(client: APIClient, cell: Any, name: str, content: bytes, parameter: str) -> Any:
    body = {"parameter": parameter, "item": cell.code, "source": "offline", "measured_at": T0.isoformat()}
    body["file"] = SimpleUploadedFile(name, content)
    return client.post(URL, body, format="multipart")


def derived(codes: Iterable[str] = FORMATION_VALUES) -> dict[str, Measurement]:
    rows = Measurement.objects.filter(parameter__code__in=list(codes), superseded_by__isnull=True)
    return {m.parameter.code: m for m in rows.exclude(derived_from=None).select_related("parameter")}


def test_a_formation_upload_records_the_values_of_its_cell(operator_client: APIClient, cells: list[Any], media: Path):
    response = upload(operator_client, cells[0], "formation.csv", cycler_csv(FORMATION), "formation_charge_capacity")
    assert response.status_code == 201, response.content
    file_id = response.json()["id"]
    values = derived()
    assert set(values) == set(FORMATION_VALUES)
    assert {m.derived_from_id for m in values.values()} == {file_id}
    assert {m.item_id for m in values.values()} == {cells[0].pk}
    expected = cycler_metrics(cycler_read(io.BytesIO(cycler_csv(FORMATION)), name="f.csv"))
    assert values["formation_internal_resistance"].value == pytest.approx(R * 1000)  # mohm
    assert values["formation_ocv_drop"].value == pytest.approx(5.0)  # mV
    assert values["formation_coulombic_efficiency"].value == pytest.approx(100 * expected.first_coulombic_efficiency)
    assert values["formation_charge_capacity"].value == pytest.approx(expected.first_charge_capacity)
    series = values["formation_discharge_capacity_cycles"].series
    assert series["x"] == [1.0, 2.0] and series["x_kind"] == "cycle"
    assert series["y"] == pytest.approx(expected.discharge_capacity)
    assert values["formation_charge_capacity"].measured_at == T0
    assert Measurement.objects.get(pk=file_id).file_format == "arbin-csv with units"


def test_end_of_line_and_aging_files_give_their_steps_values(operator_client: APIClient, cells: list[Any], media: Path):
    eol = {1: [(1, 0.0, (3.650, 3.648), 600), (2, -3.0, 3.648 - 3.0 * R, 10), (3, 0.0, 3.65, 60), (4, -1.0, 3.2, 3600)]}
    assert upload(operator_client, cells[1], "eol.csv", cycler_csv(eol), "eol_capacity").status_code == 201
    values = derived(("eol_capacity", "eol_dcir", "eol_ocv", "eol_ocv_drop"))
    assert values["eol_dcir"].value == pytest.approx(R * 1000)
    assert values["eol_ocv_drop"].value == pytest.approx(2.0)  # mV, over the longest rest
    assert values["eol_ocv"].value == pytest.approx(3.648)
    assert values["eol_capacity"].value == pytest.approx((10 * 3.0 + 3599.5 * 1.0) / 3600)
    aging = {1: [(1, 0.0, (4.100, 4.090), 86401)]}  # a day: 10 mV
    assert upload(operator_client, cells[2], "aging.csv", cycler_csv(aging), "ocv_drop").status_code == 201
    values = derived(("ocv_drop", "k_value"))
    assert values["ocv_drop"].value == pytest.approx(10.0)
    assert values["k_value"].value == pytest.approx(10.0)  # mV/day


def test_the_upload_is_all_or_nothing(operator_client: APIClient, cells: list[Any], media: Path):
    # A value the file gives cannot be stored (its parameter's unit is no voltage): no file either.
    Parameter.objects.filter(code="formation_ocv_drop").update(unit="kg")
    before = Measurement.objects.count()
    response = upload(operator_client, cells[0], "formation.csv", cycler_csv(FORMATION), "formation_charge_capacity")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == ErrorCode.INCOMPATIBLE_UNIT
    assert "file" in response.json()["errors"]
    assert Measurement.objects.count() == before
    assert not [p for p in media.rglob("*") if p.is_file()], "the refused file is not kept"


def test_absurd_numbers_and_an_empty_file_are_refused_naming_file(
    operator_client: APIClient, cells: list[Any], media: Path
):
    before = Measurement.objects.count()
    huge = b"Test_Time,Current,Voltage,Cycle_Index\n0,1e308,3.6,1\n3600,1e308,4.1,1\n"
    response = upload(operator_client, cells[0], "huge.csv", huge, "formation_charge_capacity")
    assert response.status_code == 400, response.content
    assert (response.json()["code"], list(response.json()["errors"])) == (ErrorCode.NOT_FINITE, ["file"])
    header_only = b"Test_Time(s),Current(A),Voltage(V)\n"
    response = upload(operator_client, cells[0], "empty.csv", header_only, "formation_charge_capacity")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == ErrorCode.CYCLER_FILE_UNSUPPORTED
    assert "empty.csv: arbin-csv with units without a single sample (truncated?)" in response.json()["detail"]
    assert Measurement.objects.count() == before
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_the_command_derives_stored_files_once_and_a_changed_value_as_a_new_version(
    operator_client: APIClient, cells: list[Any], media: Path
):
    # A file stored before values were derived from uploads.
    old = Measurement(
        parameter=Parameter.objects.get(code="formation_discharge_capacity"),
        item=cells[3],
        measured_at=T0,
        source="offline",
    )
    old.file.save("formation.csv", ContentFile(cycler_csv(FORMATION)), save=False)
    old.save()
    out = io.StringIO()
    call_command("derive_cycler_metrics", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() == f"Read 1 cycler files; recorded {len(FORMATION_VALUES)} values."
    first = derived()
    assert {m.derived_from_id for m in first.values()} == {old.pk}
    assert first["formation_internal_resistance"].method.startswith(f"from cycler file #{old.pk} (arbin-csv")
    # Again: nothing new; a stored file of an unknown version is reported, the others go on.
    unknown = Measurement(
        parameter=Parameter.objects.get(code="eol_capacity"), item=cells[2], measured_at=T0, source="offline"
    )
    unknown.file.save("eol.nda", ContentFile(b"NEWARE" + bytes(8) + b"\x1f" + bytes(2000)), save=False)
    unknown.save()
    count = Measurement.objects.count()
    out, err = io.StringIO(), io.StringIO()
    call_command("derive_cycler_metrics", stdout=out, stderr=err)
    assert out.getvalue().strip() == "Read 1 cycler files; recorded 0 values."
    assert err.getvalue().startswith(f"measurement {unknown.pk}: eol.nda: Neware .nda version 31 is not supported")
    assert Measurement.objects.count() == count
    # A value that differs from what the file gives (an older reader's): superseded, once.
    stale = Measurement(
        parameter=first["formation_ocv_drop"].parameter,
        item=cells[3],
        measured_at=T0,
        source="offline",
        value=7.0,
        derived_from=old,
        supersedes=first["formation_ocv_drop"],
        correction_reason="older reader",
    )
    stale.save()
    call_command("derive_cycler_metrics", stdout=io.StringIO(), stderr=io.StringIO())
    now = derived()["formation_ocv_drop"]
    assert (now.supersedes_id, now.value) == (stale.pk, pytest.approx(5.0))
    assert now.correction_reason == f"recomputed from cycler file #{old.pk}"
    assert Measurement.objects.count() == count + 2


def test_a_corrected_file_supersedes_only_the_values_that_changed(
    operator_client: APIClient, cells: list[Any], media: Path
):
    first = upload(operator_client, cells[0], "formation.csv", cycler_csv(FORMATION), "formation_charge_capacity")
    before = derived()
    changed = {1: [*FORMATION[1][:1], (2, -2.0, 3.70 - 2.0 * 0.030, 10), *FORMATION[1][2:]], 2: FORMATION[2]}
    body = {
        "reason": "the pulse channel was miswired",
        "file": SimpleUploadedFile("formation.csv", cycler_csv(changed)),
    }
    response = operator_client.post(f"{URL}{first.json()['id']}/correct/", body, format="multipart")
    assert response.status_code == 201, response.content
    after = derived()
    assert after["formation_internal_resistance"].value == pytest.approx(30.0)
    assert after["formation_internal_resistance"].supersedes_id == before["formation_internal_resistance"].pk
    assert after["formation_internal_resistance"].derived_from_id == response.json()["id"]
    assert after["formation_ocv_drop"].pk == before["formation_ocv_drop"].pk, "an unchanged value stays"


def test_the_values_reach_a_dataset_export_row(
    operator_client: APIClient,
    engineer_client: APIClient,
    cells: list[Any],
    media: Path,
    django_capture_on_commit_callbacks: Any,
):
    assert (
        upload(operator_client, cells[0], "f.csv", cycler_csv(FORMATION), "formation_charge_capacity").status_code
        == 201
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = engineer_client.post("/api/exports/", {"format": "parquet"}, format="json")
    assert response.status_code == 202, response.content
    download = engineer_client.get(f"/api/exports/{response.json()['id']}/download/")
    table = pq.read_table(io.BytesIO(b"".join(download.streaming_content)))
    row = next(r for r in table.to_pylist() if r["code"] == cells[0].code)
    assert row["formation.formation_internal_resistance"] == pytest.approx(25.0)
    assert row["formation.formation_ocv_drop"] == pytest.approx(5.0)
    assert row["formation.formation_charge_capacity"] == pytest.approx(derived()["formation_charge_capacity"].value)
    others = [r for r in table.to_pylist() if r["code"] != cells[0].code]
    assert others and all(r["formation.formation_internal_resistance"] is None for r in others)


def test_the_derived_values_count_in_the_cells_completeness(
    operator_client: APIClient, engineer: User, cells: list[Any], media: Path
) -> None:
    """The paper's empirical model names the formation discharge capacity and internal
    resistance: missing for a formed cell before its cycler file, present after it."""
    operation_record(
        actor=engineer,
        step="formation",
        station="FORM-01",
        started_at=T0 - timedelta(hours=20),
        ended_at=T0,
        inputs=[InputSpec(item=cells[0].code, consume=False)],
        outputs=[],
        parameters={},
    )
    wanted = {"formation_discharge_capacity", "formation_internal_resistance"}
    url = f"/api/items/{cells[0].code}/completeness/?model=empirical"

    def codes(part: str) -> set[str]:
        response = operator_client.get(url)
        assert response.status_code == 200, response.content
        return {row["code"] for row in response.json()[part]}

    assert wanted <= codes("missing")
    response = upload(operator_client, cells[0], "formation.csv", cycler_csv(FORMATION), "formation_charge_capacity")
    assert response.status_code == 201, response.content
    assert wanted <= codes("present")
    assert not wanted & codes("missing")
