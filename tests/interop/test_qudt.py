"""QUDT units of the catalog: every catalog unit has a checked QUDT unit, but the two QUDT lacks."""

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq

from interop.bdf import NATIVE_SCHEMA, bdf_write
from interop.qudt import qudt_unit

CATALOG = Path(__file__).resolve().parents[2] / "measurements" / "catalog.csv"
WITHOUT_QUDT = {"mV/day", "g/m**2/s"}


def test_every_catalog_unit_but_two_has_a_qudt_unit() -> None:
    lines = [line for line in CATALOG.read_text().splitlines() if not line.startswith("#")]
    units = {row["unit"] for row in csv.DictReader(io.StringIO("\n".join(lines)))}
    missing = {unit for unit in units if qudt_unit(unit) is None}
    assert missing == WITHOUT_QUDT
    assert qudt_unit("um") == "http://qudt.org/vocab/unit/MicroM"
    assert qudt_unit("Ah") == "http://qudt.org/vocab/unit/A-HR"
    assert qudt_unit("furlong") is None


def test_an_empty_cycling_table_is_an_empty_bdf_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bdf.parquet"
    sha256 = bdf_write(NATIVE_SCHEMA.empty_table(), path)
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.column_names[:3] == ["Test Time / s", "Voltage / V", "Current / A"]
    assert len(sha256) == 64
