"""Cycler files read into Battery Data Format tables, and their per-cycle summaries."""

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from datasets.cycler_files import RAW_SCHEMA, cycler_read, detect_format
from datasets.cycling import SUMMARY_SCHEMA, cells_cycling, cycle_summary
from datasets.models import Export, ExportStatus
from measurements.models import Measurement, Parameter
from tests.factories import build_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cyclers"  # see tests/fixtures/README.md
ARBIN = FIXTURES / "arbin" / "2017-05-09_test-TC-contact_CH33.csv"
MACCOR = FIXTURES / "maccor" / "maccor_test_file_4267-66-6519.041"
NEWARE = FIXTURES / "neware" / "nda" / "neware_reader" / "new_nda_file.nda"
NEWARE_REFERENCE = FIXTURES / "neware" / "reference" / "new_nda_file.ftr"
BIOLOGIC = FIXTURES / "biologic" / "00_test_04_MB_C01.mpr"


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def _synthetic_csv() -> bytes:
    """Two cycles at 1 s steps: charge 2 A for 1800 s, rest, discharge 1.8 A for 1800 s, at 4 V / 3.5 V."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Data_Point", "Test_Time(s)", "Step_Index", "Cycle_Index", "Current(A)", "Voltage(V)"])
    t = 0
    for cycle in (1, 2):
        for step, current, voltage, seconds in ((1, 2.0, 4.0, 1800), (2, 0.0, 3.8, 10), (3, -1.8, 3.5, 1800)):
            for _ in range(seconds):
                writer.writerow([t, float(t), step, cycle, current, voltage])
                t += 1
    return out.getvalue().encode()


# --- Synthetic ---------------------------------------------------------------------------------


def test_synthetic_capacity_matches_hand_computation():
    table = cycler_read(io.BytesIO(_synthetic_csv()), name="synthetic.csv")
    assert table.schema == RAW_SCHEMA
    assert table.num_rows == 2 * 3610
    summary = cycle_summary(table)
    assert summary.schema == SUMMARY_SCHEMA
    assert _column(summary, "cycle_count") == [1, 2]
    # Cycle 1: 1800 samples at 2 A, i.e. 1799 full intervals + the half interval into the rest:
    # (1799 + 0.5) s × 2 A = 3599 A·s; discharge likewise, from the rest: 1799.5 s × 1.8 A.
    first = summary.slice(0, 1).to_pylist()[0]
    assert first["capacity_charge"] == pytest.approx(3599 / 3600)
    assert first["capacity_discharge"] == pytest.approx(1799.5 * 1.8 / 3600)
    assert first["coulomb_efficiency"] == pytest.approx(1799.5 * 1.8 / 3599)
    # Energy: the half intervals next to the rest are at (4·2 + 0)/2 W and (0 + 3.5·1.8)/2 W.
    assert first["energy_charge"] == pytest.approx((1799 * 8.0 + 4.0) / 3600)
    assert first["energy_discharge"] == pytest.approx((1799 * 6.3 + 3.15) / 3600)
    assert first["test_time_start"] == 0.0
    assert first["test_time_end"] == 3609.0
    # Cycle 2 also gets the interval from the last discharge sample of cycle 1 (1.8 A → 2 A:
    # the trapezoid splits into 0.9 A·s of discharge and 1 A·s of charge).
    second = summary.slice(1, 1).to_pylist()[0]
    assert second["capacity_charge"] == pytest.approx((3599 + 1.0) / 3600)
    assert second["capacity_discharge"] == pytest.approx((1799.5 * 1.8 + 0.9) / 3600)


def test_missing_cycle_numbers_are_one_cycle_and_empty_table_summarises_empty():
    data = b"Test_Time,Current,Voltage\n0,1,3.0\n3600,1,3.1\n"
    table = cycler_read(io.BytesIO(data), name="x.csv")
    assert _column(table, "cycle_count") == [0, 0]
    assert _column(table, "step_index") == [1, 1]  # one charge: one step
    assert _column(cycle_summary(table), "capacity_charge") == [pytest.approx(1.0)]
    # Charged, never discharged: no efficiency, rather than 0.
    assert _column(cycle_summary(table), "coulomb_efficiency") == [None]
    assert cycle_summary(table.slice(0, 0)).num_rows == 0


def test_steps_are_derived_from_mode_and_cycle_changes_when_the_file_has_none():
    # Charge, rest (a resting channel's noise counts as rest), discharge, then cycle 2's charge.
    data = (
        b"Test_Time,Current,Voltage,Cycle_Index\n"
        b"0,1,3.6,1\n10,1,3.9,1\n20,0.0001,3.9,1\n30,0,3.9,1\n40,-1,3.8,1\n50,-1,3.0,1\n"
        b"60,1,3.1,2\n70,1,3.5,2\n"
    )
    table = cycler_read(io.BytesIO(data), name="no-steps.csv")
    assert _column(table, "step_index") == [1, 1, 2, 2, 3, 3, 4, 4]
    # A gap in a file's own step numbers takes the step before it (the first, the next one).
    gaps = b"Test_Time,Current,Voltage,Step_Index\n0,1,3.6,\n10,1,3.7,5\n20,1,3.8,\n30,-1,3.7,6\n"
    assert _column(cycler_read(io.BytesIO(gaps), name="gaps.csv"), "step_index") == [5, 5, 5, 6]


def test_coulomb_efficiency_is_null_without_a_discharge_or_without_a_charge():
    charge_only = b"Test_Time,Current,Voltage,Cycle_Index\n0,1,3.6,1\n3600,1,4.1,1\n"
    discharge_only = b"Test_Time,Current,Voltage,Cycle_Index\n0,-1,4.1,1\n3600,-1,3.0,1\n"
    rest_only = b"Test_Time,Current,Voltage,Cycle_Index\n0,0,3.6,1\n3600,0,3.6,1\n"
    both = b"Test_Time,Current,Voltage,Cycle_Index\n0,1,3.6,1\n3600,1,4.1,1\n3600,-0.5,4.0,1\n7200,-0.5,3.0,1\n"
    for data in (charge_only, discharge_only, rest_only):
        row = cycle_summary(cycler_read(io.BytesIO(data), name="x.csv")).to_pylist()[0]
        assert row["coulomb_efficiency"] is None, row
    row = cycle_summary(cycler_read(io.BytesIO(both), name="x.csv")).to_pylist()[0]
    assert row["coulomb_efficiency"] == pytest.approx(0.5)
    assert row["capacity_discharge"] == pytest.approx(0.5) and row["capacity_charge"] == pytest.approx(1.0)


def test_maccor_sign_from_state():
    lines = [
        "Today's Date 01/01/2020  Date of Test:\t01/01/2020",
        "Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tWatt-hr\tAmps\tVolts\tState",
        "1\t0\t1\t  0d 00:00:00.0000\t0\t0\t0\t1.5\t3.9\tC",
        "2\t0\t1\t  0d 01:00:00.0000\t0\t0\t0\t1.5\t4.1\tC",
        "3\t0\t2\t  0d 01:00:01.0000\t0\t0\t0\t1.0\t4.0\tD",
        "4\t1\t3\t  1d 00:00:00.5000\t0\t0\t0\t0.0\t3.0\tR",
    ]
    table = cycler_read(io.BytesIO("\r\n".join(lines).encode()), name="cell.001")
    assert _column(table, "current_ampere") == [1.5, 1.5, -1.0, 0.0]
    assert _column(table, "test_time_second") == [0.0, 3600.0, 3601.0, 86400.5]
    assert _column(table, "cycle_count") == [0, 0, 0, 1]
    assert _column(table, "step_index") == [1, 1, 2, 3]


def test_unknown_format_is_refused_clearly(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="Unknown cycler file format for 'notes.txt': supported are Arbin CSV"):
        cycler_read(path)
    with pytest.raises(ValueError, match="name is required"):
        cycler_read(io.BytesIO(b""))
    assert detect_format("photo.png", b"\x89PNG\r\n") is None


# --- Reference files ---------------------------------------------------------------------------


def test_arbin_fixture():
    table = cycler_read(ARBIN)
    assert table.schema == RAW_SCHEMA
    assert table.num_rows == 287
    assert _column(table, "test_time_second")[-1] == pytest.approx(1022.8913)
    # The file is one charge (6.6 A, then 1.1 A): positive current throughout, voltage rising.
    assert _column(table, "current_ampere")[0] == pytest.approx(6.6, abs=0.01)
    assert min(_column(table, "current_ampere")) > 0
    assert _column(table, "voltage_volt")[-1] > _column(table, "voltage_volt")[0]
    # Cycle_Index and Step_Index are empty in this export: one cycle, and steps derived from the
    # current: 6.6 A, one sample at rest (0.16 mA), 1.1 A.
    assert set(_column(table, "cycle_count")) == {0}
    assert _column(table, "step_index") == [1] * 47 + [2] + [3] * 239
    summary = cycle_summary(table)
    assert summary.num_rows == 1
    row = summary.to_pylist()[0]
    # The file's own Charge_Capacity column runs from 0.00518 to 0.60827 A·h over the same span.
    assert row["capacity_charge"] == pytest.approx(0.60827 - 0.00518, rel=0.01)
    assert row["capacity_discharge"] == 0.0
    assert row["coulomb_efficiency"] is None  # a charge alone: no efficiency
    # And its Charge_Energy column from 0.01694 to 2.11559 W·h.
    assert row["energy_charge"] == pytest.approx(2.11559 - 0.01694, rel=0.01)


def test_maccor_fixture():
    table = cycler_read(MACCOR)
    assert table.schema == RAW_SCHEMA
    assert table.num_rows == 74
    assert set(_column(table, "cycle_count")) == {0}
    assert set(_column(table, "step_index")) <= {1, 2, 3}
    assert 3.8 < min(_column(table, "voltage_volt")) <= max(_column(table, "voltage_volt")) < 4.0
    times = _column(table, "test_time_second")
    assert times == sorted(times)
    # An EIS procedure: no charge flows, so no coulomb efficiency.
    row = cycle_summary(table).to_pylist()[0]
    assert row["capacity_charge"] == pytest.approx(0.0, abs=1e-6)
    assert row["coulomb_efficiency"] is None


def test_neware_fixture_against_its_reference():
    table = cycler_read(NEWARE)
    reference = feather.read_table(NEWARE_REFERENCE)
    assert table.schema == RAW_SCHEMA
    assert table.num_rows == reference.num_rows
    assert _column(table, "cycle_count") == _column(reference, "Cycle")
    assert _column(table, "current_ampere") == pytest.approx([c / 1000 for c in _column(reference, "Current(mA)")])
    statuses = _column(reference, "Status")
    currents = _column(table, "current_ampere")
    assert all(c > 0 for c, s in zip(currents, statuses, strict=True) if s == "CC_Chg" and c != 0)
    assert all(c < 0 for c, s in zip(currents, statuses, strict=True) if s == "CC_DChg" and c != 0)
    times = _column(table, "test_time_second")
    assert all(b >= a for a, b in zip(times, times[1:], strict=False)), "test time never goes back"
    summary = cycle_summary(table)
    assert _column(summary, "cycle_count") == [1, 2]
    cycle2 = summary.to_pylist()[1]
    # The integrals agree with the cycler's own counters (one charge and one discharge step in
    # cycle 2; this test channel reads negative voltages, energies are magnitudes).
    counters = {
        name: max(_column(reference, name)) / 1000
        for name in ("Charge_Capacity(mAh)", "Discharge_Capacity(mAh)", "Charge_Energy(mWh)", "Discharge_Energy(mWh)")
    }
    assert cycle2["capacity_charge"] == pytest.approx(counters["Charge_Capacity(mAh)"], rel=0.02)
    assert cycle2["capacity_discharge"] == pytest.approx(counters["Discharge_Capacity(mAh)"], rel=0.02)
    assert cycle2["energy_charge"] == pytest.approx(counters["Charge_Energy(mWh)"], rel=0.05)
    assert cycle2["energy_discharge"] == pytest.approx(counters["Discharge_Energy(mWh)"], rel=0.05)
    # A fragment: a short charge then a long discharge, hence an efficiency far above 1.
    assert cycle2["coulomb_efficiency"] == pytest.approx(cycle2["capacity_discharge"] / cycle2["capacity_charge"])


def test_biologic_fixture():
    table = cycler_read(BIOLOGIC)
    assert table.schema == RAW_SCHEMA
    assert table.num_rows == 1501
    assert set(_column(table, "cycle_count")) == {0}
    assert max(_column(table, "current_ampere")) < 0, "a discharge: negative current"
    row = cycle_summary(table).to_pylist()[0]
    assert row["capacity_charge"] == 0.0
    assert row["capacity_discharge"] > 0
    assert row["coulomb_efficiency"] is None  # a discharge alone: not infinite
    assert None not in _column(table, "step_index")


def test_binary_file_objects_are_read_through_a_temporary_file():
    with open(NEWARE, "rb") as handle:
        assert cycler_read(handle, name="upload.nda").equals(cycler_read(NEWARE))


# --- Cells -------------------------------------------------------------------------------------


@pytest.fixture
def _media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _file(cell: Any, parameter: Parameter, name: str, content: bytes, **extra: Any) -> Measurement:
    measurement = Measurement(
        parameter=parameter,
        item=cell,
        measured_at=datetime(2026, 1, 1, tzinfo=UTC),
        source="offline",
        **extra,
    )
    measurement.file.save(name, ContentFile(content), save=False)
    measurement.save()
    return measurement


def test_cells_cycling_reads_current_cycler_files(engineer: User, stations: Any, _media: Path):
    line = build_line(engineer)
    first, second, third = line.cells[:3]
    parameter = Parameter.objects.create(code="formation-cycling", name="Formation", scope="material", category="SP")
    _file(first, parameter, "photo.png", b"\x89PNG\r\n\x1a\n")  # not a cycler file: passed over
    old = _file(first, parameter, "old.csv", b"Test_Time,Current,Voltage,Cycle_Index\n0,5,3,1\n3600,5,3,1\n")
    _file(first, parameter, "formation.csv", _synthetic_csv(), supersedes=old, correction_reason="wrong channel")
    _file(second, parameter, "eol.csv", b"Test_Time,Current,Voltage,Cycle_Index\n0,-1,3,7\n7200,-1,3,7\n")
    _file(third, parameter, "other.csv", _synthetic_csv())  # not asked for

    raw, summary = cells_cycling(cells=[first.code, second.pk])
    assert raw.schema.names == [*RAW_SCHEMA.names, "cell"]
    assert raw.num_rows == 2 * 3610 + 2
    assert sorted(set(_column(raw, "cell"))) == sorted([first.code, second.code])
    assert [(r["cell"], r["cycle_count"]) for r in summary.to_pylist()] == sorted(
        [(first.code, 1), (first.code, 2), (second.code, 7)]
    )
    eol = next(r for r in summary.to_pylist() if r["cell"] == second.code)
    assert eol["capacity_discharge"] == pytest.approx(2.0)
    assert all(r["capacity_charge"] < 1.01 for r in summary.to_pylist()), "the superseded file is not read"

    empty_raw, empty_summary = cells_cycling(cells=[line.cells[3].code])
    assert empty_raw.num_rows == 0 and empty_summary.num_rows == 0
    assert empty_summary.schema.names == [*SUMMARY_SCHEMA.names, "cell"]


def test_export_dataset_writes_the_cycling_tables_next_to_the_dataset(
    engineer: User, stations: Any, _media: Path, tmp_path: Path
):
    line = build_line(engineer)
    parameter = Parameter.objects.create(code="formation-cycling", name="Formation", scope="material", category="SP")
    _file(line.cells[1], parameter, "formation.csv", _synthetic_csv())
    out = tmp_path / "cells.parquet"
    stdout = io.StringIO()
    call_command("export_dataset", "--out", str(out), "--cycling", stdout=stdout, stderr=io.StringIO())
    raw = pq.read_table(tmp_path / "cells-cycling.parquet")
    cycles = pq.read_table(tmp_path / "cells-cycles.parquet")
    assert raw.num_rows == 3610 * 2 and set(_column(raw, "cell")) == {line.cells[1].code}
    assert _column(cycles, "cycle_count") == [1, 2]
    assert _column(cycles, "capacity_charge") == pytest.approx([1.0, 1.0], rel=1e-3)
    assert "cells-cycles.parquet: 2 rows" in stdout.getvalue()
    with pytest.raises(CommandError, match="--cycling is for --granularity cell"):
        call_command("export_dataset", "--out", str(out), "--cycling", "--granularity", "roll", stdout=io.StringIO())


def test_expire_exports_command_deletes_expired_files(engineer: User, _media: Path):
    export = Export.objects.create(
        created_by=engineer, granularity="cell", format="csv", status=ExportStatus.DONE, request_sha256="x"
    )
    export.file.save("export.csv", ContentFile(b"code\n"), save=False)
    export.expires_at = timezone.now() - timedelta(minutes=1)
    export.save()
    path = Path(export.file.path)
    stdout = io.StringIO()
    call_command("expire_exports", stdout=stdout)
    assert stdout.getvalue().strip() == "Deleted the files of 1 expired exports."
    assert not path.exists() and Export.objects.get(pk=export.pk).file == ""
