"""The data dictionary of a dataset: one entry per column, and the catalog version it was read
with, so a model can cite exactly what its columns meant.

`aggregation` of a measurement column: `mean`, `min`, `max`, `std` (sample standard deviation)
or `n` (count) of the values behind a row, for a parameter some dataset row has several values
of; `value`, the one value itself (column named without a suffix), for a parameter no dataset
row has two of."""

import hashlib
import json
from typing import Any, TextIO

from core.spreadsheet import cell_text, cell_value, csv_writer
from measurements.models import ModelType, Parameter

from .columns import Column

FIELDS = (
    "name",
    "type",
    "source",
    "role",
    "parameter",
    "parameter_name",
    "step",
    "polarity",
    "category",
    "unit",
    "aggregation",
    *(f"criticality_{model}" for model in ModelType.values),
    "coverage",
    "description",
)


def dictionary_entry(column: Column) -> dict[str, Any]:
    parameter = column.parameter
    entry: dict[str, Any] = {
        "name": column.name,
        "type": column.type,
        "source": column.source,
        "role": column.role,
        "parameter": parameter.code if parameter else None,
        "parameter_name": parameter.name if parameter else None,
        "step": (parameter.step_id or parameter.scope) if parameter else None,
        "polarity": column.polarity,
        "category": parameter.category if parameter else None,
        "unit": ("count" if column.aggregation == "n" else parameter.unit) if parameter else None,
        "aggregation": column.aggregation,
        "coverage": column.coverage,
        "description": column.description,
    }
    for model in ModelType.values:
        entry[f"criticality_{model}"] = (parameter.criticality(model) or None) if parameter else None
    return {name: entry[name] for name in FIELDS}


def data_dictionary(columns: list[Column]) -> list[dict[str, Any]]:
    return [dictionary_entry(column) for column in columns]


def catalog_version() -> str:
    """A digest of the catalog rows that shape a dataset (codes, steps, units, criticality):
    equal for equal catalogs, whatever the database."""
    rows = Parameter.objects.order_by("code").values_list(
        "code",
        "scope",
        "step_id",
        "category",
        "unit",
        *(f"criticality_{model}" for model in ModelType.values),
    )
    digest = hashlib.sha256(json.dumps([list(row) for row in rows]).encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def dictionary_json(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, ensure_ascii=False)


def dictionary_csv(entries: list[dict[str, Any]], stream: TextIO) -> None:
    """Text cells (a column name, a parameter's code and name) by `cell_text`: numbers stay numbers."""
    writer = csv_writer(stream)
    writer.writerow([cell_text(name) for name in FIELDS])
    for entry in entries:
        writer.writerow(["" if entry.get(name) is None else cell_value(entry[name]) for name in FIELDS])
