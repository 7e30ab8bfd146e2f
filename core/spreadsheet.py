"""Text cells of the CSV and spreadsheets the project writes, safe to open in a spreadsheet.

A text cell that begins with `=`, `+`, `-`, `@`, tab or carriage return is read as a formula
(`=cmd|' /C calc'!A0`, `=HYPERLINK(...)`); the OWASP rule prefixes it with a single quote. Numbers
are not text and stay numbers (-0.5 is still -0.5). Parquet and JSON Lines keep values as they are.
"""

import csv
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value: str) -> str:
    """`value` as a text cell no spreadsheet runs as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def cell_value(value: Any) -> Any:
    """A cell of any type: text by `cell_text`, anything else unchanged."""
    return cell_text(value) if isinstance(value, str) else value


def csv_writer(stream: TextIO) -> Any:
    """The CSV writer of the project's files: RFC 4180 line ends, so a cell holding a carriage
    return is quoted (with a bare "\n" line end Python 3.11 leaves it unquoted, splitting the row)."""
    return csv.writer(stream, lineterminator="\r\n")
