"""Writers of a dataset: Parquet (pyarrow, zstd, typed, with the dictionary in its metadata), CSV
and JSON Lines, in the wide layout (one row per root) or the long one (one row per root and
value), streaming in batches so memory is bounded by the batch, not the dataset.

A file is written under a temporary name and renamed when complete: a writer that dies midway
leaves no half file under the final name.
"""

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from core.spreadsheet import cell_text, cell_value, csv_writer

from .blocks import Block, WideRows
from .columns import Column
from .cycling import RAW_CELL_SCHEMA, SUMMARY_CELL_SCHEMA, cycling_files
from .dictionary import catalog_version as read_catalog_version
from .table import BATCH_SIZE

FORMATS = ("parquet", "csv", "jsonl")
LAYOUTS = ("wide", "long")
CYCLING_TABLES = ("cycling", "cycles")
LONG_COLUMNS = (
    Column("code", "string", "identity"),
    Column("column", "string", "long"),
    Column("parameter", "string", "long"),
    Column("step", "string", "long"),
    Column("polarity", "string", "long"),
    Column("aggregation", "string", "long"),
    Column("value", "float", "long"),
)
_ARROW_TYPES = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "float": pa.float64(),
    "int": pa.int64(),
}
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    columns: int
    sha256: str  # of the file
    # What the file holds and where it came from: query, catalog_version, created_at and
    # content_sha256 (of the rows, whatever the format; also in the Parquet metadata).
    provenance: dict[str, Any] = field(default_factory=dict)


def long_rows(columns: list[Column], rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """One row per root and measurement column that has a value (an absent value, n == 0, is
    left out: the long layout lists what is there)."""
    values = [c for c in columns if c.parameter is not None]
    for row in rows:
        for column in values:
            value = row[column.name]
            if value is None or (column.aggregation == "n" and value == 0):
                continue
            parameter = column.parameter
            assert parameter is not None
            yield {
                "code": row["code"],
                "column": column.name,
                "parameter": parameter.code,
                "step": parameter.step_id or parameter.scope,
                "polarity": column.polarity,
                "aggregation": column.aggregation,
                "value": float(value),
            }


def arrow_schema(columns: list[Column], metadata: dict[str, Any]) -> pa.Schema:
    fields = [pa.field(c.name, _ARROW_TYPES[c.type]) for c in columns]
    return pa.schema(fields, metadata={key: json.dumps(value) for key, value in metadata.items()})


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _write_parquet(
    path: Path,
    columns: list[Column],
    rows: Iterable[dict[str, Any]],
    metadata: dict[str, Any],
    size: int,
    tick: Any,
    footer: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """`footer`, called once every row is written, gives metadata known only then (the content
    hash), added to the file's key-value metadata."""
    schema = arrow_schema(columns, metadata)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in _batches(rows, size):
            arrays = [pa.array(list(map(itemgetter(c.name), batch)), type=_ARROW_TYPES[c.type]) for c in columns]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            tick(len(batch))
        if footer is not None:
            writer.add_key_value_metadata({key: json.dumps(value) for key, value in footer().items()})


def _write_parquet_blocks(
    path: Path,
    columns: list[Column],
    blocks: Iterable[Block],
    content: "ContentHash",
    metadata: dict[str, Any],
    tick: Any,
    footer: Callable[[], dict[str, Any]],
    codes: list[str] | None,
) -> None:
    """The wide rows of `WideRows.blocks()`, the measurement columns straight from their numpy
    arrays: the same file and content hash as `_write_parquet` of the dict rows, without a Python
    object per value on the way to Arrow."""
    schema = arrow_schema(columns, metadata)
    types = [_ARROW_TYPES[c.type] for c in columns]
    code = [c.name for c in columns].index("code")
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for block in blocks:
            content.block(block.values)
            if codes is not None:
                codes.extend(block.values[code])
            arrays = [
                pa.array(block.arrays[i][0], type=kind, mask=_nulls(block.arrays[i][1]))
                if i in block.arrays
                else pa.array(values, type=kind)
                for i, (values, kind) in enumerate(zip(block.values, types, strict=True))
            ]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            tick(len(block.values[0]))
        writer.add_key_value_metadata({key: json.dumps(value) for key, value in footer().items()})


def _nulls(valid: Any) -> Any:
    return None if valid is None else ~valid


class ContentHash:
    """The sha256 of the column names and the rows' values in order (canonical JSON, one line
    per row), the same for the same data in Parquet, CSV or JSON Lines."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.digest = hashlib.sha256(orjson.dumps(names) + b"\n")

    def rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        names = self.names
        # A tuple of the values (itemgetter of two names or more) is the same JSON array as a list.
        pick = itemgetter(*names) if len(names) > 1 else None
        for row in rows:
            values = pick(row) if pick is not None else [row[name] for name in names]
            self.digest.update(orjson.dumps(values) + b"\n")
            yield row

    def block(self, values: list[list[Any]]) -> None:
        """Rows given column by column (`Block.values`), as `rows` would hash them."""
        self.digest.update(b"".join(orjson.dumps(row) + b"\n" for row in zip(*values, strict=True)))

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _write_csv(path: Path, columns: list[Column], rows: Iterable[dict[str, Any]], size: int, tick: Any) -> None:
    """Text cells and the header by `cell_text`; only the string columns are looked at (a
    wide row has a thousand numbers and a handful of texts)."""
    names = [c.name for c in columns]
    texts = [index for index, column in enumerate(columns) if column.type == "string"]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv_writer(stream)
        writer.writerow([cell_text(name) for name in names])
        for batch in _batches(rows, size):
            lines = [[_text(row[name]) for name in names] for row in batch]
            for line in lines:
                for index in texts:
                    line[index] = cell_value(line[index])
            writer.writerows(lines)
            tick(len(batch))


def _write_jsonl(path: Path, columns: list[Column], rows: Iterable[dict[str, Any]], size: int, tick: Any) -> None:
    names = [c.name for c in columns]
    with path.open("wb") as stream:
        for batch in _batches(rows, size):
            buffer = io.BytesIO()
            for row in batch:
                buffer.write(orjson.dumps({name: row[name] for name in names}))
                buffer.write(b"\n")
            stream.write(buffer.getvalue())
            tick(len(batch))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_dataset(
    *,
    path: Path | str,
    columns: list[Column],
    rows: Iterable[dict[str, Any]],
    fmt: str = "parquet",
    layout: str = "wide",
    metadata: dict[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    query: dict[str, Any] | None = None,
    catalog_version: str | None = None,
    codes: list[str] | None = None,
) -> Written:
    """Write the rows of `dataset_rows` as `fmt` in `layout`; `metadata` (JSON values) goes into
    the Parquet schema. `progress` is called with the number of rows written so far.

    Provenance, in `Written.provenance`: `query` as given (granularity, filters, parameters,
    criticality, split), the catalog version (read now unless given), the time the writing
    started (`created_at`), the layout and the content sha256 of the rows (whatever the format).
    In a Parquet file: `celltrace.provenance` in the schema metadata (all but the content hash)
    and `celltrace.content_sha256` in the file's key-value metadata. The file's own sha256 is
    `Written.sha256`. `codes`, if given, gets the code of every root written, in order."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}: one of {', '.join(FORMATS)}.")
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}: one of {', '.join(LAYOUTS)}.")
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    out_columns = list(LONG_COLUMNS) if layout == "long" else columns
    content = ContentHash([c.name for c in out_columns])
    blocks = fmt == "parquet" and layout == "wide" and isinstance(rows, WideRows)
    if codes is not None and not blocks:
        rows = _remember_codes(rows, codes)
    out_rows = content.rows(long_rows(columns, rows) if layout == "long" else rows)
    if catalog_version is None:
        catalog_version = read_catalog_version()
    provenance: dict[str, Any] = {
        "query": query,
        "catalog_version": catalog_version,
        "created_at": datetime.now(UTC).isoformat(),
        "layout": layout,
    }

    # Known before the first row: in the Arrow schema, where `pq.read_table(...).schema.metadata`
    # shows it. The content hash is known after the last: in the file's key-value metadata
    # (`pq.read_metadata(path).metadata`).
    schema_metadata = (metadata or {}) | {"celltrace.provenance": dict(provenance)}

    def footer() -> dict[str, Any]:
        provenance["content_sha256"] = content.hexdigest()
        return {"celltrace.content_sha256": provenance["content_sha256"]}

    written = 0

    def tick(count: int) -> None:
        nonlocal written
        written += count
        if progress is not None:
            progress(written)

    try:
        if blocks:
            assert isinstance(rows, WideRows)
            _write_parquet_blocks(partial, out_columns, rows.blocks(), content, schema_metadata, tick, footer, codes)
        elif fmt == "parquet":
            _write_parquet(partial, out_columns, out_rows, schema_metadata, batch_size, tick, footer)
        elif fmt == "csv":
            _write_csv(partial, out_columns, out_rows, batch_size, tick)
        else:
            _write_jsonl(partial, out_columns, out_rows, batch_size, tick)
        footer()
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Written(
        path=target, rows=written, columns=len(out_columns), sha256=file_sha256(target), provenance=provenance
    )


def _remember_codes(rows: Iterable[dict[str, Any]], codes: list[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        codes.append(row["code"])
        yield row


class TableWriter:
    """Writes Arrow tables of one `schema` (the cycling tables) one after another as `fmt`, under
    a temporary name renamed when the block ends without error, like `write_dataset`. `metadata`
    (JSON values) goes into the Parquet schema. `written` is set on success."""

    def __init__(self, path: Path | str, schema: pa.Schema, fmt: str, metadata: dict[str, Any] | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"Unknown format {fmt!r}: one of {', '.join(FORMATS)}.")
        self.target = Path(path)
        self.partial = self.target.with_name(self.target.name + ".part")
        self.schema = schema.remove_metadata()
        self.fmt = fmt
        self.rows = 0
        self.written: Written | None = None
        self._sink: Any = None
        if fmt == "parquet":
            encoded = {key: json.dumps(value) for key, value in (metadata or {}).items()}
            self._sink = pq.ParquetWriter(self.partial, self.schema.with_metadata(encoded), compression="zstd")
        elif fmt == "csv":
            self._sink = pa_csv.CSVWriter(self.partial, _csv_schema(self.schema))
        else:
            self._sink = self.partial.open("wb")

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        if self.fmt == "jsonl":
            for batch in table.to_batches(BATCH_SIZE):
                self._sink.write(b"".join(orjson.dumps(row) + b"\n" for row in batch.to_pylist()))
        elif self.fmt == "csv":
            self._sink.write_table(_csv_table(table))
        else:
            self._sink.write_table(table)
        self.rows += table.num_rows

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: Any) -> None:
        try:
            self._sink.close()
            if kind is None:
                os.replace(self.partial, self.target)
                self.written = Written(
                    path=self.target, rows=self.rows, columns=len(self.schema), sha256=file_sha256(self.target)
                )
        finally:
            self.partial.unlink(missing_ok=True)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([column.with_name(cell_text(column.name)) for column in schema])


def _csv_table(table: pa.Table) -> pa.Table:
    """`table` with its text columns and names by `cell_text`; each distinct text is looked at
    once (a cycling table repeats its cell code on every row)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type):
            distinct = pc.unique(column)
            safe = pa.array([cell_value(value) for value in distinct.to_pylist()], pa.string())
            if not safe.equals(distinct):
                column = pc.take(safe, pc.index_in(column, value_set=distinct))
        columns.append(column)
    return pa.table(columns, schema=_csv_schema(table.schema))


def cycling_paths(path: Path) -> dict[str, Path]:
    """Where the cycling tables of a dataset at `path` go: `<name>-cycling.<ext>`, `<name>-cycles.<ext>`."""
    return {table: path.with_name(f"{path.stem}-{table}{path.suffix}") for table in CYCLING_TABLES}


def write_cycling(
    *,
    cells: list[str],
    paths: dict[str, Path],
    fmt: str,
    metadata: dict[str, Any] | None = None,
    problems: list[dict[str, str]] | None = None,
) -> dict[str, Written]:
    """The cycling tables of `cells` (codes) in `fmt`: `cycling` (the raw Battery Data Format
    table) and `cycles` (one row per cycle), both with the column `cell`, to `paths[table]`;
    empty tables where no cell has a cycler file. Reads one cycler file at a time; an unreadable
    one goes to `problems` (see cycling_files)."""
    writers = {
        "cycling": TableWriter(paths["cycling"], RAW_CELL_SCHEMA, fmt, metadata),
        "cycles": TableWriter(paths["cycles"], SUMMARY_CELL_SCHEMA, fmt, metadata),
    }
    with writers["cycling"] as raw_writer, writers["cycles"] as summary_writer:
        for raw, summary in cycling_files(cells=list(cells), problems=problems):
            raw_writer.write(raw)
            summary_writer.write(summary)
    return {table: writer.written for table, writer in writers.items() if writer.written is not None}
