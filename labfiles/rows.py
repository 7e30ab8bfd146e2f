"""A lab file's rows as bulk-ingest rows, and the ingest's errors back in the sheet's terms.

Each data row times each value column with a value becomes one row of
measurements.ingest.measurements_ingest (parameter, value, unit, item, measured_at,
position_m, source, instrument): the ingest applies the rules of every measurement, and this
module only says where each of its rows came from, so that an error names the sheet's row and
column. Empty value cells are skipped; a row with nothing in it is not a row.

What only a lab file can get wrong is checked here: a naive time is read in the mapping's zone,
and a local time that the zone skips (the clocks go forward) or passes twice (they go back) is a
bad row, since no one can tell which instant was meant. Such a row is not handed to the ingest.
"""

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from core.errors import ErrorCode

from .models import ImportMapping
from .readers import Cells, Sheet


@dataclass(frozen=True)
class LabError:
    row: int | None  # the row number the sheet shows (CSV: the line); None for the whole file
    column: str | None
    message: str
    code: str = ErrorCode.INVALID

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message, "code": self.code}


@dataclass
class Reading:
    """What was read: counts, and where each row handed to the ingest came from."""

    rows: int = 0
    values: int = 0
    errors: list[LabError] = field(default_factory=list)
    held_back: dict[int, int] = field(default_factory=dict)  # sheet row -> values not handed over
    origin_rows: "array[int]" = field(default_factory=lambda: array("q"))
    origin_values: "array[int]" = field(default_factory=lambda: array("H"))

    def origin(self, number: int) -> tuple[int, int]:
        """The sheet row and value column (index into mapping.values) of ingest row `number`."""
        return self.origin_rows[number - 1], self.origin_values[number - 1]


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _number(cell: object, decimal: str) -> object:
    """A number cell as the ingest reads it: text with a decimal comma gets a point."""
    if decimal == "," and isinstance(cell, str):
        return cell.strip().replace(".", "").replace(",", ".")  # "1.234,5": points group thousands
    return cell


def _code(cell: object) -> object:
    """An item code as text: a sample number typed into Excel arrives as a number."""
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float) and math.isfinite(cell) and cell.is_integer():
        return str(int(cell))
    return cell


class TimeProblem(Exception):
    pass


def _local(naive: datetime, zone: ZoneInfo) -> datetime:
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    shown = f"{naive:%Y-%m-%d %H:%M}"
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise TimeProblem(f"{shown} does not exist in {zone.key} (the clocks went forward); give the offset.")
    first, second = early.isoformat()[-6:], late.isoformat()[-6:]
    raise TimeProblem(
        f"{shown} happens twice in {zone.key} (the clocks went back); give the offset, {first} or {second}."
    )


def measured_at(cell: object, zone: ZoneInfo, time_format: str = "") -> object:
    """The time cell as ISO 8601 with an offset; what is not a time goes to the ingest as sent,
    whose rules name it (required, not ISO 8601, out of range). Text is read with `time_format`
    (strptime) when the mapping has one, else as ISO 8601."""
    if isinstance(cell, str):
        text = cell.strip()
        try:
            cell = datetime.strptime(text, time_format) if time_format else datetime.fromisoformat(text)  # noqa: DTZ007
        except ValueError:
            if time_format and text:
                raise TimeProblem(f"{text!r} is not a time written as {time_format}.") from None
            return text or None
    if isinstance(cell, datetime):
        return (cell if cell.tzinfo is not None else _local(cell, zone)).isoformat()
    if isinstance(cell, date | time):
        raise TimeProblem("A date and a time of day are needed, not only one of them.")
    return cell


def _row(mapping: ImportMapping, zone: ZoneInfo, cells: Cells, at: dict[str, int]) -> dict[str, Any]:
    """The fields every value of the row shares."""

    def cell(name: str) -> object:
        index = at.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    shared = {
        "item": _code(cell(mapping.item_column)),
        "measured_at": measured_at(cell(mapping.time_column), zone, mapping.time_format),
        "source": mapping.source,
        "instrument": mapping.instrument,
    }
    if mapping.position_column:
        position = cell(mapping.position_column)
        shared["position_m"] = None if _blank(position) else _number(position, mapping.decimal)
    return shared


def ingest_rows(mapping: ImportMapping, sheet: Sheet, reading: Reading) -> Iterator[dict[str, Any]]:
    """The ingest's rows, one per value; `reading` counts and remembers their origins."""
    zone = ZoneInfo(mapping.time_zone)
    at = sheet.columns
    value_columns = [(at[entry["column"]], entry) for entry in mapping.values]
    for number, cells in sheet.rows:
        if all(_blank(cell) for cell in cells):
            continue
        reading.rows += 1
        present = [(k, cells[i]) for k, (i, _e) in enumerate(value_columns) if i < len(cells) and not _blank(cells[i])]
        reading.values += len(present)
        if sheet.strict_width and len(cells) != sheet.width:
            message = f"The line has {len(cells)} fields; the header has {sheet.width}."
            reading.errors.append(LabError(number, None, message))
            reading.held_back[number] = len(present)
            continue
        if not present:
            continue
        try:
            shared = _row(mapping, zone, cells, at)
        except TimeProblem as problem:
            reading.errors.append(LabError(number, mapping.time_column, str(problem), ErrorCode.BAD_TIME))
            reading.held_back[number] = len(present)
            continue
        for k, value in present:
            entry = value_columns[k][1]
            reading.origin_rows.append(number)
            reading.origin_values.append(k)
            value = _number(value, mapping.decimal)
            yield {"parameter": entry["parameter"], "value": value, "unit": entry["unit"], **shared}


def sheet_errors(mapping: ImportMapping, reading: Reading, ingest_errors: list[dict[str, Any]]) -> list[LabError]:
    """The ingest's errors (row numbers over its rows, field names) as sheet rows and columns,
    with the reader's own, each once, in sheet order."""
    by_field = {
        "item": mapping.item_column,
        "measured_at": mapping.time_column,
        "position_m": mapping.position_column or None,
    }
    errors = list(reading.errors)
    for error in ingest_errors:
        number, k = reading.origin(error["row"])
        column = by_field.get(error["field"], mapping.values[k]["column"])
        if error["field"] in ("source", "instrument", "row"):
            column = None
        errors.append(LabError(number, column, error["message"], error["code"]))
    order = {name: i for i, name in enumerate([mapping.item_column, mapping.time_column, mapping.position_column])}
    order |= {entry["column"]: 3 + i for i, entry in enumerate(mapping.values)}
    unique = dict.fromkeys(errors)
    return sorted(unique, key=lambda e: (e.row or 0, -1 if e.column is None else order.get(e.column, 0)))


def would_store(reading: Reading, errors: list[LabError], *, complete: bool = True) -> int:
    """The values of rows without errors; of an incomplete check (stopped at its error limit),
    only those of the rows checked, before the last error."""
    bad = {error.row for error in errors}
    if not complete:
        last = max((row for row in bad if row is not None), default=0)
        return sum(1 for number in reading.origin_rows if number < last and number not in bad)
    if not bad:
        return reading.values
    lost = sum(1 for number in reading.origin_rows if number in bad)
    lost += sum(count for number, count in reading.held_back.items() if number in bad)
    return reading.values - lost
