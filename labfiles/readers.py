"""A lab file opened as its header and its data rows, each with the row number the sheet shows.

CSV: the csv module over the whole file decoded as UTF-8 (a BOM is dropped); a NUL byte or text
that is not UTF-8 refuses the file. Rows are numbered by the line they start on, the header
being line 1 when `header_row` is 1. Excel: openpyxl in read-only mode with the cached values of
formulas (data_only), after the archive is checked against zip bombs (measurements.files);
openpyxl parses the XML through defusedxml, which is installed, so entity tricks are refused.

Whatever cannot be read refuses the whole file (InvalidInput on `file`, BAD_FILE), and a sheet,
header row or mapped column that is not where the mapping says is UNKNOWN_LAYOUT: nothing of
such a file is imported. Reading streams: the rows are read while they are stored.
"""

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import openpyxl
from django.conf import settings

from core.errors import ErrorCode, InvalidInput
from measurements.files import public_message, zip_check

from .models import FileFormat

Cells = Sequence[Any]


def refuse(message: str, code: str = ErrorCode.BAD_FILE) -> InvalidInput:
    return InvalidInput(message, field="file", code=code)


def _layout(message: str) -> InvalidInput:
    return refuse(message, ErrorCode.UNKNOWN_LAYOUT)


@dataclass
class Sheet:
    """The header's columns (name -> index) and the data rows after it, as (row number, cells)."""

    columns: dict[str, int]
    width: int
    rows: Iterator[tuple[int, Cells]]
    strict_width: bool  # CSV: a row of another width than the header is a bad row


def _csv_records(data: bytes, delimiter: str) -> Iterator[tuple[int, Cells]]:
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise refuse(f"Line {line} holds a NUL byte: this is not a CSV text file.", ErrorCode.NUL_CHARACTER)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise refuse(f"Line {line} is not UTF-8 text; save the CSV as UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        while True:
            start = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                return
            yield start, record
    except csv.Error as exc:  # an unclosed quote: most often a file cut short
        raise refuse(f"Line {start} cannot be read as CSV ({exc}); is the file complete?") from None


def _workbook_sheet(data: bytes, sheet: str) -> Any:
    if not data.startswith(b"PK\x03\x04"):
        raise refuse("The file is not an Excel workbook (.xlsx).")
    try:
        zip_check(io.BytesIO(data))
    except ValueError as exc:
        raise refuse(f"The workbook is refused: {exc}; is the file complete?") from None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError) as exc:  # a zip, but not of a workbook
        raise refuse(f"The file is a zip archive but not an Excel workbook ({public_message(exc)}).") from None
    except Exception as exc:  # openpyxl's errors on damaged XML are of many types: all the file's fault
        raise refuse(f"The workbook cannot be read ({public_message(exc)}).") from None
    if not sheet:
        return workbook.worksheets[0]
    if sheet not in workbook.sheetnames:
        names = ", ".join(repr(name) for name in workbook.sheetnames)
        raise _layout(f"The workbook has no sheet {sheet!r}; its sheets are {names}.")
    return workbook[sheet]


def _xlsx_records(data: bytes, sheet: str) -> Iterator[tuple[int, Cells]]:
    worksheet = _workbook_sheet(data, sheet)
    number = 0
    try:
        for number, cells in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, cells
    except InvalidInput:
        raise
    except Exception as exc:  # a damaged part of the archive shows only when its rows are read
        raise refuse(f"The sheet cannot be read after row {number} ({public_message(exc)}).") from None
    finally:
        worksheet.parent.close()  # read-only workbooks keep the archive open


def _header(records: Iterator[tuple[int, Cells]], header_row: int, wanted: Sequence[str]) -> tuple[dict[str, int], int]:
    last, header = 0, None
    for number, cells in records:
        last = number
        if number >= header_row:  # CSV: a quoted cell over several lines may start before it
            header = cells
            break
    if header is None:
        raise _layout(f"The header is row {header_row}, but the file ends at row {last}.")
    names = ["" if cell is None else str(cell).strip() for cell in header]
    columns: dict[str, int] = {}
    for name in wanted:
        places = [index for index, found in enumerate(names) if found == name]
        if not places:
            shown = ", ".join(repr(n) for n in names if n)[:500] or "nothing"
            raise _layout(f"The header (row {header_row}) has no column {name!r}; it has {shown}.")
        if len(places) > 1:
            raise _layout(f"The header (row {header_row}) has the column {name!r} {len(places)} times.")
        columns[name] = places[0]
    return columns, len(names)


def lab_file_open(
    *, data: bytes, file_format: str, sheet: str, header_row: int, delimiter: str, columns: Sequence[str]
) -> Sheet:
    """The file's header checked for `columns` (each exactly once), and its data rows to read."""
    limit = settings.CELLTRACE_MAX_LAB_FILE_BYTES
    if len(data) > limit:
        raise refuse(f"The file is {len(data)} bytes; a lab file may be {limit}.")
    if not data:
        raise refuse("The file is empty.")
    if file_format == FileFormat.CSV:
        records = _csv_records(data, delimiter)
    else:
        records = _xlsx_records(data, sheet)
    found, width = _header(records, header_row, columns)
    return Sheet(columns=found, width=width, rows=records, strict_width=file_format == FileFormat.CSV)
