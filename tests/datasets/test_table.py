"""The dataset of a small line built by hand, with values chosen so every number is known.

Cathode: slurry -> coated roll (100 m) -> calendered roll (104 m, unwound reversed) -> one lane
-> 20 sheets of 2 m cut from lane metres 10-50. Anode: slurry -> coated roll (100 m) -> 20 sheets
of 2 m cut from metres 0-40. Cell k stacks cathode sheets 2k, 2k+1 and anode sheets 2k, 2k+1.

Cell 0 holds lane metres 10-14 = coated metres 100 - 14 * 100/104 .. 100 - 10 * 100/104
= 86.538 .. 90.385; cell 1 holds coated metres 82.692 .. 86.538.
"""

import csv
import json
import math
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets.aggregation_sql import LONG_TABLE, RESIDUE, dataset_cte
from datasets.blocks import pair_key
from datasets.dictionary import catalog_version, data_dictionary, dictionary_csv
from datasets.pairs import root_aggregates
from datasets.selection import lot_kinds, parameter_where, root_where
from datasets.table import dataset_rows
from datasets.temp_tables import materialise, release
from datasets.writers import write_dataset
from lots.services import item_register
from measurements.models import Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import T0
from tests.support import line_fixtures_for_the_module
from traceability.services import InputSpec, OutputSpec, StretchSpec, operation_record

# Coated cathode metre -> mass loading; 87-90 fall in cell 0, 85-86 in cell 1, 91 in no cell.
CATHODE_PROFILE = {85.0: 30.0, 86.0: 31.0, 87.0: 20.0, 88.0: 22.0, 89.0: 24.0, 90.0: 26.0, 91.0: 40.0}
# Anode metre -> mass loading; 1 and 3 in cell 0 (metres 0-4), 5 in cell 1 (4-8).
ANODE_PROFILE = {1.0: 10.0, 3.0: 12.0, 5.0: 14.0}
CELLS = 10


def _parameter(code: str, **fields: Any) -> Parameter:
    defaults: dict[str, Any] = {"name": code, "scope": "step", "category": "SP", "criticality_ml": "high"}
    return Parameter.objects.create(code=code, **(defaults | fields))


def _catalog() -> None:
    _parameter("mass_loading_ds", step_id="coating", unit="mg/cm**2")
    _parameter("coating_thickness_ds", step_id="coating", unit="um", criticality_ml="intermediate")
    _parameter("coating_speed_ds", step_id="coating", category="MP", unit="m/min")
    _parameter("d50_ds", scope="material", step=None, unit="um")
    _parameter("dew_point_ds", scope="environment", step=None, category="PP", unit="degC")
    _parameter("capacity_ds", step_id="formation", category="PP", unit="mA*h")
    _parameter("eol_dcir_ds", step_id="eol_test", category="PP", unit="mohm")


def _record(actor: Any, parameter: str, value: float, unit: str, **where: Any) -> None:
    where.setdefault("measured_at", T0)
    measurement_record(
        actor=actor, data=MeasurementInput(parameter=parameter, value=value, unit=unit, source="online", **where)
    )


def _line(engineer: Any) -> dict[str, Any]:
    nmc = item_register(
        actor=engineer,
        kind="cathode_active_material",
        quantity=10,
        unit="kg",
        supplier_lot="SUP-NMC-7",
        attributes={"d50_um": 11.8, "bet_m2_g": 0.45, "vendor": "X", "calcined": True},
    )
    nmc_b = item_register(
        actor=engineer,
        kind="cathode_active_material",
        quantity=10,
        unit="kg",
        supplier_lot="SUP-NMC-8",
        attributes={"d50_um": 12.2},
    )
    carbon = item_register(actor=engineer, kind="conductive_additive", quantity=1, unit="kg", supplier_lot="SUP-CB-1")  # type: ignore[arg-type]
    slurries = {"anode": item_register(actor=engineer, kind="slurry", quantity=10, unit="kg", polarity="anode")}  # type: ignore[arg-type]
    mixing = operation_record(
        actor=engineer,
        step="mixing",
        station="MIX-01",
        started_at=T0,
        inputs=[InputSpec(nmc.code, 5, "kg"), InputSpec(nmc_b.code, 5, "kg"), InputSpec(carbon.code, 0.5, "kg")],
        outputs=[OutputSpec(kind="slurry", quantity=5, unit="kg", polarity="cathode")],
    )
    slurries["cathode"] = mixing.outputs[0]
    coated = {}
    for polarity, speed, hour in (("cathode", 2, 2), ("anode", 3, 4)):
        coated[polarity] = operation_record(
            actor=engineer,
            step="coating",
            station="COAT-01",
            started_at=T0 + timedelta(hours=hour),
            ended_at=T0 + timedelta(hours=hour + 1),
            inputs=[InputSpec(slurries[polarity].code, 4, "kg")],
            outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
            parameters={"coating_speed_ds": {"value": speed * 100, "unit": "cm/min"}},
        ).outputs[0]
    calendered = operation_record(
        actor=engineer,
        step="calendering",
        station="CAL-01",
        started_at=T0 + timedelta(hours=6),
        inputs=[InputSpec(coated["cathode"].code)],
        outputs=[
            OutputSpec(
                kind="calendered_roll",
                quantity=104,
                unit="m",
                made_from=[StretchSpec(coated["cathode"].code, 0, 100, reversed=True)],
            )
        ],
    ).outputs[0]
    lane = operation_record(
        actor=engineer,
        step="slitting",
        station="SLT-01",
        started_at=T0 + timedelta(hours=7),
        inputs=[InputSpec(calendered.code)],
        outputs=[
            OutputSpec(
                kind="slit_roll", quantity=104, unit="m", lane=1, made_from=[StretchSpec(calendered.code, 0, 104)]
            )
        ],
    ).outputs[0]
    sheets = {}
    for polarity, parent, start in (("cathode", lane, 10), ("anode", coated["anode"], 0)):
        sheets[polarity] = operation_record(
            actor=engineer,
            step="cutting",
            station="CUT-01",
            started_at=T0 + timedelta(hours=8),
            inputs=[InputSpec(parent.code)],
            outputs=[
                OutputSpec(
                    kind="electrode_sheet", made_from=[StretchSpec(parent.code, start + 2 * i, start + 2 * i + 2)]
                )
                for i in range(2 * CELLS)
            ],
        ).outputs
    cells = []
    for k in range(CELLS):
        group = sheets["cathode"][2 * k : 2 * k + 2] + sheets["anode"][2 * k : 2 * k + 2]
        cells.append(
            operation_record(
                actor=engineer,
                step="stacking",
                station="STK-01",
                started_at=T0 + timedelta(hours=10, minutes=10 * k),
                ended_at=T0 + timedelta(hours=10, minutes=10 * k + 5),
                inputs=[InputSpec(s.code) for s in group],
                outputs=[OutputSpec(kind="cell")],
            ).outputs[0]
        )
    for metre, value in CATHODE_PROFILE.items():
        _record(engineer, "mass_loading_ds", value, "mg/cm**2", item=coated["cathode"].code, position_m=metre)
    for metre, value in ANODE_PROFILE.items():
        _record(engineer, "mass_loading_ds", value, "mg/cm**2", item=coated["anode"].code, position_m=metre)
    _record(engineer, "coating_thickness_ds", 150, "um", item=coated["cathode"].code)  # the whole roll
    _record(engineer, "d50_ds", 12.5, "um", item=nmc.code)
    _record(engineer, "capacity_ds", 1000, "mA*h", item=cells[0].code)
    _record(engineer, "eol_dcir_ds", 42, "mohm", item=cells[0].code)
    # Dry room: during the cathode coating (every cell), during the stacking of cell 0 and of
    # cell 1, and at a time no operation ran.
    for minutes, value in ((150, -60), (601, -50), (612, -45), (1200, -70)):
        _record(engineer, "dew_point_ds", value, "degC", room="dry-room-1", measured_at=T0 + timedelta(minutes=minutes))
    return {"cells": cells, "slurries": slurries, "coated": coated, "calendered": calendered}


def _catalog_and_line(engineer: User) -> dict[str, Any]:
    _catalog()
    return _line(engineer)


# The engineer, stations, catalog and line, built once for the module (about 0.6 s a test before).
module_line, engineer, stations, line = line_fixtures_for_the_module(_catalog_and_line)


def _rows(**kwargs: Any) -> tuple[list[str], dict[str, dict[str, Any]]]:
    columns, rows = dataset_rows(**kwargs)
    return [c.name for c in columns], {row["code"]: row for row in rows}


@pytest.mark.django_db
def test_exact_numbers_of_the_cell_rows(line: dict[str, Any]) -> None:
    cells = line["cells"]
    names, rows = _rows(filters={"codes": [c.code for c in cells[:3]]})
    assert len(rows) == 3
    first, second, third = (rows[c.code] for c in cells[:3])
    # A profile that only partly falls into the cell: metres 87, 88, 89, 90 of the coated roll.
    assert first["cathode.coating.mass_loading_ds.mean"] == pytest.approx(23.0)
    assert first["cathode.coating.mass_loading_ds.min"] == 20.0
    assert first["cathode.coating.mass_loading_ds.max"] == 26.0
    assert first["cathode.coating.mass_loading_ds.n"] == 4
    assert first["cathode.coating.mass_loading_ds.std"] == pytest.approx(math.sqrt(20 / 3))
    assert second["cathode.coating.mass_loading_ds.mean"] == pytest.approx(30.5)
    assert second["cathode.coating.mass_loading_ds.n"] == 2
    assert third["cathode.coating.mass_loading_ds.mean"] is None
    assert third["cathode.coating.mass_loading_ds.n"] == 0
    # The anode profile is a column of its own.
    assert first["anode.coating.mass_loading_ds.mean"] == pytest.approx(11.0)
    assert first["anode.coating.mass_loading_ds.n"] == 2
    assert second["anode.coating.mass_loading_ds.mean"] == pytest.approx(14.0)
    assert second["anode.coating.mass_loading_ds.std"] is None
    # A whole-roll lab value reaches every cell once, though through two sheets: one value per
    # cell, so one column, the value, without aggregates.
    assert [r["cathode.coating.coating_thickness_ds"] for r in (first, second, third)] == [150.0] * 3
    assert not [n for n in names if n.startswith("cathode.coating.coating_thickness_ds.")]
    # Machine parameters of the coating operations, converted from cm/min.
    assert first["cathode.coating.coating_speed_ds"] == pytest.approx(2.0)
    assert first["anode.coating.coating_speed_ds"] == pytest.approx(3.0)
    # A supplier-lot value under the polarity of the slurry it went into; a cell value without one.
    assert first["cathode.material.d50_ds"] == 12.5
    assert first["formation.capacity_ds"] == 1000.0
    assert second["formation.capacity_ds"] is None
    # The dry room during the coating (-60) and during each cell's own stacking.
    assert first["environment.dew_point_ds.mean"] == pytest.approx(-55.0)
    assert first["environment.dew_point_ds.n"] == 2
    assert first["environment.dew_point_ds.std"] == pytest.approx(math.sqrt(50))
    assert second["environment.dew_point_ds.mean"] == pytest.approx(-52.5)
    assert third["environment.dew_point_ds.mean"] == pytest.approx(-60.0)
    # Identity and group keys.
    assert first["kind"] == "cell" and first["status"] == "active" and first["created_at"] is not None
    assert first["cathode.slurry_batch"] == line["slurries"]["cathode"].code
    assert first["anode.slurry_batch"] == line["slurries"]["anode"].code
    assert first["cathode.coating_run"] == line["coated"]["cathode"].code
    assert first["cathode.calendered_roll"] == line["calendered"].code
    # No anode is calendered: no column that would be empty.
    assert "anode.calendered_roll" not in names
    assert names[:4] == ["code", "kind", "status", "created_at"]
    assert not [n for n in names if n.startswith("anode.material.d50_ds")]


@pytest.mark.django_db
def test_a_value_reaching_a_cell_by_two_claims_counts_once(line: dict[str, Any], engineer: Any) -> None:
    # Anode metre 2 is on the edge of both anode sheets of cell 0 (metres 0-2 and 2-4), metre 4 on
    # the edge between cell 0 and cell 1 (4-6): each counts once in each cell that holds it.
    for metre, value in ((2.0, 16.0), (4.0, 18.0)):
        _record(engineer, "mass_loading_ds", value, "mg/cm**2", item=line["coated"]["anode"].code, position_m=metre)
    # A dry-room value about the cathode roll as well: it reaches the cells as a value of the roll
    # and as a value of the room during the coating, and counts once.
    _record(
        engineer,
        "dew_point_ds",
        -40,
        "degC",
        item=line["coated"]["cathode"].code,
        room="dry-room-1",
        measured_at=T0 + timedelta(minutes=160),
    )
    _names, rows = _rows(filters={"codes": [c.code for c in line["cells"][:2]]})
    first, second = (rows[c.code] for c in line["cells"][:2])
    assert first["anode.coating.mass_loading_ds.n"] == 4
    assert first["anode.coating.mass_loading_ds.mean"] == pytest.approx(14.0)
    assert second["anode.coating.mass_loading_ds.n"] == 2
    assert second["anode.coating.mass_loading_ds.mean"] == pytest.approx(16.0)
    assert first["environment.dew_point_ds.n"] == 3
    assert first["environment.dew_point_ds.mean"] == pytest.approx(-50.0)
    assert second["environment.dew_point_ds.n"] == 3


def _aggregates(residue: str) -> list[tuple[Any, ...]]:
    roots, chosen = root_where("cell", {}), parameter_where(None, None)
    cte = dataset_cte(roots.sql, chosen.sql, lot_kinds(), residue=residue)
    with connection.cursor() as cursor:
        cursor.execute(
            cte + "SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM agg", roots.params + chosen.params
        )
        rows = cursor.fetchall()
    return sorted((r[:4] + tuple(round(float(v), 9) for v in r[4:]) for r in rows), key=repr)


@pytest.mark.django_db
def test_the_partial_sums_add_up_as_every_value_counted_once_by_its_id(line: dict[str, Any], engineer: Any) -> None:
    # The sums per claim (ids kept only for the values that may come by two claims) against every
    # value keeping its id and counted once per root: the same aggregates, values on the edges of
    # two sheets and a room value about a roll included.
    for metre, value in ((2.0, 16.0), (4.0, 18.0)):
        _record(engineer, "mass_loading_ds", value, "mg/cm**2", item=line["coated"]["anode"].code, position_m=metre)
    _record(
        engineer,
        "dew_point_ds",
        -40,
        "degC",
        item=line["coated"]["cathode"].code,
        room="dry-room-1",
        measured_at=T0 + timedelta(minutes=160),
    )
    summed = _aggregates(RESIDUE)
    assert len(summed) > 3 * CELLS
    assert summed == _aggregates(LONG_TABLE)


@pytest.mark.postgresql_only
@pytest.mark.django_db
def test_the_aggregates_added_up_in_numpy_are_those_of_the_sql(line: dict[str, Any], engineer: Any) -> None:
    # PostgreSQL's export reads the partial sums by a binary COPY and adds them up in numpy
    # (`datasets.pairs`): the same (root, pair) aggregates as `agg`, and the same coverage.
    _record(engineer, "mass_loading_ds", 16.0, "mg/cm**2", item=line["coated"]["anode"].code, position_m=2.0)
    roots, chosen = root_where("cell", {}), parameter_where(None, None)
    cte = dataset_cte(roots.sql, chosen.sql, lot_kinds())
    materialised = materialise(cte, roots.params, chosen.params, aggregate=False)
    try:
        found = root_aggregates(materialised.cte, materialised.params)
        with connection.cursor() as cursor:
            cursor.execute(materialised.cte + "SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM agg")
            expected = cursor.fetchall()
    finally:
        release(materialised.tables)
    assert len(expected) > 3 * CELLS
    got = []
    for root, span in found.spans.items():
        keys, n, s, ss, mn, mx = found.of(root) or ()
        columns = (keys.tolist(), n.tolist(), *(np.round(v, 9).tolist() for v in (s, ss, mn, mx)))
        got += [(root, *values) for values in zip(*columns, strict=True)]
        assert span[1] - span[0] == len(keys)
    want = [(r, pair_key(pol, p), n, *(round(v, 9) for v in sums)) for r, pol, p, n, *sums in expected]
    assert sorted(got) == sorted(want)
    coverage = {(c.polarity, c.parameter_id): (c.roots, c.roots_several) for c in found.coverage()}
    assert coverage[("anode", Parameter.objects.get(code="mass_loading_ds").pk)] == (2, 1)
    assert sum(roots for roots, _several in coverage.values()) == len(expected)


@pytest.mark.django_db
def test_the_dictionary_describes_every_column_with_its_coverage(line: dict[str, Any]) -> None:
    columns, _rows_iter = dataset_rows(filters={"codes": [c.code for c in line["cells"][:3]]})
    entries = {e["name"]: e for e in data_dictionary(columns)}
    assert len(entries) == len(columns)
    mean = entries["cathode.coating.mass_loading_ds.mean"]
    assert mean["parameter"] == "mass_loading_ds" and mean["step"] == "coating" and mean["polarity"] == "cathode"
    assert mean["unit"] == "mg/cm**2" and mean["aggregation"] == "mean" and mean["category"] == "SP"
    assert mean["criticality_ml"] == "high" and mean["coverage"] == 2
    assert entries["cathode.coating.mass_loading_ds.std"]["coverage"] == 2
    assert entries["anode.coating.mass_loading_ds.std"]["coverage"] == 1
    assert entries["environment.dew_point_ds.mean"]["polarity"] is None
    assert entries["environment.dew_point_ds.n"]["unit"] == "count"
    single = entries["formation.capacity_ds"]
    assert (single["aggregation"], single["unit"], single["coverage"]) == ("value", "mA*h", 1)
    assert entries["code"]["coverage"] == 3
    out = StringIO()
    dictionary_csv(list(entries.values()), out)
    assert len(list(csv.DictReader(StringIO(out.getvalue())))) == len(columns)


@pytest.mark.django_db
def test_parameters_and_criticality_select_columns(line: dict[str, Any]) -> None:
    names, _rows_found = _rows(filters={"codes": [line["cells"][0].code]}, criticality={"ml": "high"})
    assert "cathode.coating.mass_loading_ds.mean" in names
    assert "cathode.coating.coating_thickness_ds.mean" not in names
    names, _rows_found = _rows(filters={"codes": [line["cells"][0].code]}, parameters=["d50_ds"])
    assert [n for n in names if "d50_ds" in n] == ["cathode.material.d50_ds"]
    assert not [n for n in names if "mass_loading" in n]


@pytest.mark.django_db
def test_a_filter_that_selects_nothing_gives_no_rows_but_columns(line: dict[str, Any], tmp_path: Path) -> None:
    columns, rows = dataset_rows(filters={"created_after": "2999-01-01T00:00:00Z"})
    assert list(rows) == []
    assert [c.name for c in columns[:4]] == ["code", "kind", "status", "created_at"]
    assert "cathode.slurry_batch" in [c.name for c in columns]
    assert all(c.coverage == 0 for c in columns)
    written = write_dataset(path=tmp_path / "empty.parquet", columns=columns, rows=rows, metadata={"x": 1})
    table = pq.read_table(written.path)
    assert table.num_rows == 0 and table.column_names == [c.name for c in columns]


@pytest.mark.django_db
def test_bad_input_is_refused(line: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="granularity"):
        dataset_rows(granularity="pallet")
    with pytest.raises(ValueError, match="filter"):
        dataset_rows(filters={"colour": "red"})
    with pytest.raises(ValueError, match="parameter"):
        dataset_rows(parameters=["no_such_parameter"])
    with pytest.raises(ValueError, match="criticality"):
        dataset_rows(criticality={"ml": "extreme"})


@pytest.mark.django_db
def test_sheet_granularity_falls_out_of_the_same_walk(line: dict[str, Any]) -> None:
    _names, rows = _rows(granularity="sheet")
    assert len(rows) == 4 * CELLS
    values = [r["cathode.coating.mass_loading_ds.n"] for r in rows.values() if r.get("cathode.coating_run")]
    assert sum(values) == 6  # 85-90 m lie in sheets; 91 m is outside every sheet


@pytest.mark.django_db
def test_parquet_csv_and_jsonl_read_back(line: dict[str, Any], tmp_path: Path) -> None:
    codes = [c.code for c in line["cells"][:2]]
    columns, rows = dataset_rows(filters={"codes": codes})
    metadata = {"celltrace.dictionary": data_dictionary(columns), "celltrace.catalog_version": catalog_version()}
    written = write_dataset(path=tmp_path / "d.parquet", columns=columns, rows=rows, metadata=metadata, batch_size=1)
    assert written.rows == 2 and written.columns == len(columns) and len(written.sha256) == 64
    table = pq.read_table(written.path)
    schema = table.schema
    assert schema.field("code").type == pa.string()
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("cathode.coating.mass_loading_ds.mean").type == pa.float64()
    assert schema.field("cathode.coating.mass_loading_ds.n").type == pa.int64()
    meta = schema.metadata
    dictionary = json.loads(meta[b"celltrace.dictionary"])
    assert [e["name"] for e in dictionary] == table.column_names
    assert json.loads(meta[b"celltrace.catalog_version"]).startswith("sha256:")
    data = table.to_pylist()
    assert [r["cathode.coating.mass_loading_ds.mean"] for r in data] == pytest.approx([23.0, 30.5])
    assert pq.ParquetFile(written.path).metadata.row_group(0).column(0).compression == "ZSTD"

    columns, rows = dataset_rows(filters={"codes": codes})
    csv_file = write_dataset(path=tmp_path / "d.csv", columns=columns, rows=rows, fmt="csv").path
    with csv_file.open() as stream:
        read = list(csv.DictReader(stream))
    assert [float(r["cathode.coating.mass_loading_ds.mean"]) for r in read] == pytest.approx([23.0, 30.5])
    assert read[1]["formation.capacity_ds"] == "" and "formation.capacity_ds.n" not in read[1]

    columns, rows = dataset_rows(filters={"codes": codes})
    jsonl = write_dataset(path=tmp_path / "d.jsonl", columns=columns, rows=rows, fmt="jsonl").path
    lines = [orjson.loads(text) for text in jsonl.read_bytes().splitlines()]
    assert [r["anode.coating.mass_loading_ds.mean"] for r in lines] == pytest.approx([11.0, 14.0])
    assert lines[0]["cathode.coating.mass_loading_ds.n"] == 4 and lines[1]["formation.capacity_ds"] is None

    columns, rows = dataset_rows(filters={"codes": codes})
    long = write_dataset(path=tmp_path / "l.parquet", columns=columns, rows=rows, layout="long").path
    tidy = pq.read_table(long).to_pylist()
    found = {
        (r["code"], r["column"]): r
        for r in tidy
        if r["parameter"] == "mass_loading_ds" and r["aggregation"] == "mean" and r["polarity"] == "cathode"
    }
    assert found[(codes[0], "cathode.coating.mass_loading_ds.mean")]["value"] == pytest.approx(23.0)
    assert found[(codes[0], "cathode.coating.mass_loading_ds.mean")]["step"] == "coating"
    assert not [r for r in tidy if r["code"] == codes[1] and r["parameter"] == "capacity_ds"]
    assert not list(tmp_path.glob("*.part"))


def _queries(codes: list[str]) -> int:
    with CaptureQueriesContext(connection) as context:
        columns, rows = dataset_rows(filters={"codes": codes})
        assert len(list(rows)) == len(codes)
    return len(context.captured_queries)


@pytest.mark.django_db
def test_two_cells_and_ten_cells_take_the_same_queries(line: dict[str, Any]) -> None:
    codes = [c.code for c in line["cells"]]
    assert _queries(codes[:2]) == _queries(codes)


@pytest.mark.django_db
def test_the_command_writes_the_file_and_prints_its_hash(line: dict[str, Any], tmp_path: Path) -> None:
    out = StringIO()
    target = tmp_path / "cells.csv"
    codes = [c.code for c in line["cells"][:2]]
    err = StringIO()
    call_command("export_dataset", "--format", "csv", "--out", str(target), "--codes", *codes, stdout=out, stderr=err)
    text = out.getvalue()
    assert "\r[" + "#" * 30 + "] 2/2 rows (100 %)" in err.getvalue()  # the progress bar, on stderr
    from datasets.writers import file_sha256

    assert f"sha256 {file_sha256(target)}" in text
    assert "2 rows" in text
    call_command(
        "export_dataset", "--format", "jsonl", "--layout", "long", "--criticality-ml", "high", "--out",
        str(tmp_path / "l.jsonl"), stdout=StringIO(),
    )  # fmt: skip
    assert (tmp_path / "l.jsonl").read_bytes()
    out = StringIO()
    call_command(
        "export_dataset", "--out", str(tmp_path / "s.parquet"), "--split-by", "coating_run", "--split-test", "0.5",
        "--codes", *codes, stdout=out,
    )  # fmt: skip
    table = pq.read_table(tmp_path / "s.parquet")
    assert sorted(table.column("split").to_pylist()) == ["train", "train"]  # one coating run: one side
    provenance = json.loads(table.schema.metadata[b"celltrace.provenance"])
    assert provenance["query"]["split"] == {"by": "coating_run", "test": 0.5, "seed": 1}
    assert '"content_sha256"' in out.getvalue()


@pytest.mark.django_db
def test_supplier_lot_codes_and_numeric_attributes_are_columns(line: dict[str, Any]) -> None:
    columns, rows_iter = dataset_rows(filters={"codes": [c.code for c in line["cells"][:3]]})
    rows = list(rows_iter)
    names = [c.name for c in columns]
    assert len(rows) == 3
    for row in rows:
        # Two NMC lots went into the cathode slurry: both codes, and the mean of their D50.
        assert row["cathode.cathode_active_material.supplier_lot"] == "SUP-NMC-7,SUP-NMC-8"
        assert row["cathode.cathode_active_material.attr.d50_um"] == pytest.approx(12.0)
        assert row["cathode.cathode_active_material.attr.bet_m2_g"] == pytest.approx(0.45)
        assert row["cathode.conductive_additive.supplier_lot"] == "SUP-CB-1"
    # Text and boolean attributes are no columns; a lot without attributes has only its code.
    lot_names = [n for n in names if ".attr." in n or n.endswith(".supplier_lot")]
    assert lot_names == [
        "cathode.cathode_active_material.supplier_lot",
        "cathode.cathode_active_material.attr.bet_m2_g",
        "cathode.cathode_active_material.attr.d50_um",
        "cathode.conductive_additive.supplier_lot",
    ]
    entries = {e["name"]: e for e in data_dictionary(columns)}
    d50 = entries["cathode.cathode_active_material.attr.d50_um"]
    assert d50["coverage"] == 3 and d50["source"] == "lot" and d50["role"] == "feature" and d50["polarity"] == "cathode"
    assert next(c for c in columns if c.name == "cathode.cathode_active_material.attr.d50_um").type == "float"


@pytest.mark.django_db
def test_lot_columns_take_the_same_queries_for_two_and_ten_cells(line: dict[str, Any]) -> None:
    codes = [c.code for c in line["cells"]]
    # Lot kinds, eight temporary tables (roots, walk, claims, spans, operations, windows, parameters,
    # aggregates), discovery, catalog parameters, steps, rows, eight drops (one statement on
    # PostgreSQL): whatever the number of cells; on PostgreSQL also an ANALYZE of the line's tables
    # that have no statistics yet and of each temporary table, setting work_mem for the export and
    # resetting it; there the aggregates are not a table but one COPY, on the driver's cursor (not
    # counted here).
    expected = 23 if connection.vendor == "postgresql" else 21
    assert _queries(codes[:2]) == _queries(codes) == expected


@pytest.mark.django_db
def test_end_of_line_results_are_targets(line: dict[str, Any]) -> None:
    columns, rows = dataset_rows(filters={"codes": [line["cells"][0].code]})
    row = next(rows)
    assert row["eol_test.eol_dcir_ds"] == 42.0
    roles = {e["name"]: e["role"] for e in data_dictionary(columns)}
    assert roles["eol_test.eol_dcir_ds"] == "target"
    assert roles["formation.capacity_ds"] == "target"  # a formation capacity
    assert roles["cathode.coating.mass_loading_ds.mean"] == roles["cathode.coating.mass_loading_ds.n"] == "feature"
    assert roles["environment.dew_point_ds.mean"] == "feature"
    assert roles["code"] == roles["created_at"] == "identity"
    assert roles["cathode.slurry_batch"] == "group"
    assert {roles[n] for n in roles} == {"identity", "group", "feature", "target"}
    assert sorted(n for n, role in roles.items() if role == "target") == [
        "eol_test.eol_dcir_ds",
        "formation.capacity_ds",
    ]


@pytest.mark.django_db
def test_provenance_is_in_the_result_and_the_parquet_metadata(line: dict[str, Any], tmp_path: Path) -> None:
    codes = [c.code for c in line["cells"][:4]]
    split = {"by": "slurry_batch", "test": 0.5, "seed": 3}
    query = {
        "granularity": "cell",
        "filters": {"codes": codes},
        "parameters": None,
        "criticality": None,
        "split": split,
    }
    columns, rows = dataset_rows(filters={"codes": codes}, split=split)
    written = write_dataset(path=tmp_path / "p.parquet", columns=columns, rows=rows, query=query)
    provenance = written.provenance
    assert provenance["query"] == query
    assert provenance["catalog_version"] == catalog_version()
    assert len(provenance["content_sha256"]) == 64
    assert provenance["created_at"].endswith("+00:00")
    stored = json.loads(pq.read_table(written.path).schema.metadata[b"celltrace.provenance"])
    assert stored | {"content_sha256": provenance["content_sha256"]} == provenance
    footer = pq.read_metadata(written.path).metadata
    assert json.loads(footer[b"celltrace.content_sha256"]) == provenance["content_sha256"]
    # The content hash is of the rows, not of the file: the same data as CSV has the same one.
    columns, rows = dataset_rows(filters={"codes": codes}, split=split)
    as_csv = write_dataset(path=tmp_path / "p.csv", columns=columns, rows=rows, fmt="csv", query=query)
    assert as_csv.provenance["content_sha256"] == provenance["content_sha256"]
    assert as_csv.sha256 != written.sha256
    # Another selection, another content hash.
    columns, rows = dataset_rows(filters={"codes": codes[:3]}, split=split)
    other = write_dataset(path=tmp_path / "q.parquet", columns=columns, rows=rows, query=query)
    assert other.provenance["content_sha256"] != provenance["content_sha256"]
    # All four cells share their slurries: one group, on one side.
    assert len(set(pq.read_table(written.path).column("split").to_pylist())) == 1


@pytest.mark.django_db
def test_only_columns_that_can_carry_information_are_written(line: dict[str, Any]) -> None:
    columns, rows_iter = dataset_rows(filters={"codes": [c.code for c in line["cells"][:3]]})
    rows = list(rows_iter)
    names = [c.name for c in columns]
    # Every column has a value in some row.
    assert [n for n in names if all(row[n] is None for row in rows)] == []
    # A std only where some row has two values; a pair with one value per row is its value alone.
    measured = [c for c in columns if c.parameter is not None]
    for column in measured:
        stem = column.name.removesuffix(f".{column.aggregation}")
        several = any((row.get(f"{stem}.n") or 0) > 1 for row in rows)
        assert column.aggregation in (("mean", "min", "max", "std", "n") if several else ("value",)), column.name
    assert {c.aggregation for c in measured} == {"value", "mean", "min", "max", "std", "n"}
    entries = data_dictionary(columns)
    assert [e["name"] for e in entries] == names
    # Decided on the rows exported: cell 1 alone has one anode mass loading.
    names, _rows_found = _rows(filters={"codes": [line["cells"][1].code]})
    assert "anode.coating.mass_loading_ds" in names and "anode.coating.mass_loading_ds.mean" not in names
    assert "cathode.coating.mass_loading_ds.std" in names  # metres 85 and 86


@pytest.mark.django_db
def test_the_request_chooses_the_aggregations_of_several_values(line: dict[str, Any]) -> None:
    codes = [c.code for c in line["cells"][:3]]
    names, rows = _rows(filters={"codes": codes}, aggregations=["n", "mean", "n"])
    mass = [n for n in names if n.startswith("cathode.coating.mass_loading_ds")]
    assert mass == ["cathode.coating.mass_loading_ds.mean", "cathode.coating.mass_loading_ds.n"]
    assert rows[codes[0]]["cathode.coating.mass_loading_ds.mean"] == pytest.approx(23.0)
    assert rows[codes[0]]["cathode.coating.mass_loading_ds.n"] == 4
    # One value per row stays its value, whatever was asked.
    assert rows[codes[0]]["cathode.coating.coating_thickness_ds"] == 150.0
    _names, same = _rows(filters={"codes": codes})
    assert all(rows[code][name] == same[code][name] for code in codes for name in names)
    for bad in ([], ["median"], "mean", [1]):
        with pytest.raises(ValueError, match="ggregation"):
            dataset_rows(filters={"codes": codes}, aggregations=bad)  # type: ignore[arg-type]
