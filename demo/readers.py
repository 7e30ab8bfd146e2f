"""Small readers of the demo's data files (demo/data/): TOML tables and CSV rows, read once."""

import csv
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def read_toml(name: str) -> dict[str, Any]:
    with (DATA_DIR / name).open("rb") as f:
        return tomllib.load(f)


@cache
def read_csv(name: str) -> tuple[dict[str, str], ...]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def csv_floats(name: str, *columns: str) -> tuple[tuple[float, ...], ...]:
    """The named columns of a numeric CSV, one tuple a row."""
    return tuple(tuple(float(row[c]) for c in columns) for row in read_csv(name))
