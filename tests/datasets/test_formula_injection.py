"""Text that a spreadsheet would run as a formula is written with a leading quote in every CSV the
project writes (dataset, cycling tables, data dictionary); numbers stay numbers, and Parquet and
JSON Lines keep the values as they are."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User

from core.spreadsheet import FORMULA_STARTS, cell_text, cell_value
from datasets.columns import Column
from datasets.cycling import SUMMARY_CELL_SCHEMA
from datasets.cycling_writers import TableWriter
from datasets.writers import write_dataset
from measurements.models import Parameter
from measurements.services import MeasurementInput, measurement_record
from tests.factories import T0, build_line

URL = "/api/exports/"
LOT = "=cmd|' /C calc'!A0"
KEY = '=HYPERLINK("http://evil.example","x")'
NAME = '=HYPERLINK("http://evil.example","thickness")'
CODE = "-thickness"  # a valid slug
COLUMN = f"cathode.coating.{CODE}"  # one value per cell: the value, no aggregates
TEXTS = [f"{start}1+2" for start in FORMULA_STARTS]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _read(path: Path) -> str:
    with path.open(newline="", encoding="utf-8") as stream:  # keep a carriage return in a cell
        return stream.read()


def _no_formula(rows: list[list[str]]) -> None:
    """Every cell that starts like a formula is a number (a negative one)."""
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_STARTS):
                float(cell)  # raises on text


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_the_rule_quotes_text_that_starts_like_a_formula(start: str) -> None:
    assert cell_text(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    assert cell_value(f"{start}x") == f"'{start}x"


def test_other_text_and_numbers_are_left_alone() -> None:
    assert cell_text("NMC-A1") == "NMC-A1"
    assert cell_text("") == ""
    assert cell_text("'=already") == "'=already"
    assert cell_value(-0.5) == -0.5
    assert cell_value(None) is None


def _columns() -> list[Column]:
    return [
        Column("code", "string", "identity"),
        Column("lot.supplier_lot", "string", "lot"),
        Column("=sum.mean", "float", "measurement"),
        Column("count.n", "int", "measurement"),
    ]


def _rows() -> list[dict[str, Any]]:
    return [
        {"code": f"C{i}", "lot.supplier_lot": text, "=sum.mean": -0.5 - i, "count.n": -i}
        for i, text in enumerate(TEXTS)
    ]


def test_the_dataset_csv_quotes_text_cells_and_header_not_numbers(tmp_path: Path) -> None:
    write_dataset(path=tmp_path / "d.csv", columns=_columns(), rows=_rows(), fmt="csv", catalog_version="v")
    header, *rows = _cells(_read(tmp_path / "d.csv"))
    assert header == ["code", "lot.supplier_lot", "'=sum.mean", "count.n"]
    assert [row[1] for row in rows] == [f"'{text}" for text in TEXTS]
    assert [row[2] for row in rows] == [str(-0.5 - i) for i in range(len(TEXTS))]
    assert rows[0][2] == "-0.5" and rows[1][3] == "-1"
    _no_formula(rows)


def test_parquet_and_json_lines_keep_the_values(tmp_path: Path) -> None:
    for fmt in ("parquet", "jsonl"):
        write_dataset(path=tmp_path / f"d.{fmt}", columns=_columns(), rows=_rows(), fmt=fmt, catalog_version="v")
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.column("lot.supplier_lot").to_pylist() == TEXTS
    assert "=sum.mean" in table.column_names
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [line["lot.supplier_lot"] for line in lines] == TEXTS
    assert lines[0]["=sum.mean"] == -0.5


def test_the_cycling_tables_in_csv_quote_text_cells(tmp_path: Path) -> None:
    rows = {name: [None] * len(TEXTS) for name in SUMMARY_CELL_SCHEMA.names}
    rows["cycle_count"] = list(range(len(TEXTS)))
    rows["capacity_charge"] = [-0.5] * len(TEXTS)
    rows["cell"] = TEXTS
    table = pa.Table.from_pydict(rows, schema=SUMMARY_CELL_SCHEMA)
    with TableWriter(tmp_path / "c.csv", SUMMARY_CELL_SCHEMA, "csv") as writer:
        writer.write(table)
        writer.write(table.slice(0, 1))
    header, *lines = _cells(_read(tmp_path / "c.csv"))
    assert [line[header.index("cell")] for line in lines] == [f"'{text}" for text in [*TEXTS, TEXTS[0]]]
    assert {line[header.index("capacity_charge")] for line in lines} == {"-0.5"}
    _no_formula(lines)
    with TableWriter(tmp_path / "c.parquet", SUMMARY_CELL_SCHEMA, "parquet") as writer:
        writer.write(table)
    assert pq.read_table(tmp_path / "c.parquet").column("cell").to_pylist() == TEXTS


@pytest.fixture
def line(engineer: User, stations: Any, settings: Any, tmp_path: Path) -> Any:
    """The factory line, its NMC lot with a formula for a supplier lot and an attribute key, and a
    coating parameter whose code and name start like formulas, measured at -0.5."""
    settings.MEDIA_ROOT = tmp_path / "media"
    line = build_line(engineer, nmc={"supplier_lot": LOT, "attributes": {KEY: 1.5}})
    Parameter.objects.create(code=CODE, name=NAME, scope="step", step_id="coating", category="SP", unit="um")
    measurement_record(
        actor=engineer,
        data=MeasurementInput(
            parameter=CODE, value=-0.5, unit="um", source="online", item=line.coated_roll.code, measured_at=T0
        ),
    )
    return line


def _export(client: Any, capture: Any, layout: str) -> tuple[int, list[list[str]]]:
    with capture(execute=True):
        response = client.post(URL, {"granularity": "cell", "format": "csv", "layout": layout}, format="json")
    export_id = response.json()["id"]
    assert client.get(f"{URL}{export_id}/").json()["status"] == "done"
    download = client.get(f"{URL}{export_id}/download/")
    return export_id, _cells(b"".join(download.streaming_content).decode())


@pytest.mark.django_db
def test_an_exported_csv_and_its_dictionary_carry_no_formula(
    engineer_client: Any, line: Any, django_capture_on_commit_callbacks: Any
) -> None:
    export_id, (header, *rows) = _export(engineer_client, django_capture_on_commit_callbacks, "wide")
    assert len(rows) == 4
    lot = header.index("cathode.cathode_active_material.supplier_lot")
    assert {row[lot] for row in rows} == {f"'{LOT}"}
    attribute = next(name for name in header if ".attr." in name)
    assert attribute.endswith(KEY) and not attribute.startswith(FORMULA_STARTS)
    thickness = header.index(COLUMN)
    assert {row[thickness] for row in rows} == {"-0.5"}  # a number, unquoted
    _no_formula([header, *rows])

    dictionary = engineer_client.get(f"{URL}{export_id}/dictionary/?format=csv")
    entries = list(csv.DictReader(io.StringIO(dictionary.content.decode(), newline="")))
    entry = next(e for e in entries if e["name"] == COLUMN)
    assert (entry["parameter"], entry["parameter_name"], entry["description"]) == (f"'{CODE}", f"'{NAME}", f"'{NAME}")
    _no_formula(_cells(dictionary.content.decode()))
    # JSON keeps the values.
    assert {e["parameter"] for e in engineer_client.get(f"{URL}{export_id}/dictionary/").json()} >= {CODE}

    _id, (header, *rows) = _export(engineer_client, django_capture_on_commit_callbacks, "long")
    mine = [row for row in rows if row[header.index("column")] == COLUMN]
    assert [(row[header.index("parameter")], row[header.index("value")]) for row in mine] == [(f"'{CODE}", "-0.5")] * 4
    _no_formula(rows)
