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
import pyarrow.parquet as pq

from core.spreadsheet import cell_text, cell_value, csv_writer

from .blocks import Block, WideRows
from .columns import Column
from .dictionary import catalog_version as read_catalog_version
from .table import BATCH_SIZE

FORMATS = ("parquet", "csv", "jsonl")
LAYOUTS = ("wide", "long")
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
    _check_choices(fmt, layout)
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    output = _output(columns, layout, metadata, _provenance(query, catalog_version, layout), progress)
    out_columns, provenance = output.columns, output.provenance
    try:
        if fmt == "parquet" and layout == "wide" and isinstance(rows, WideRows):
            _write_parquet_blocks(
                partial,
                out_columns,
                rows.blocks(),
                output.content,
                output.schema_metadata,
                output.tick,
                output.footer,
                codes,
            )
        else:
            if codes is not None:
                rows = _remember_codes(rows, codes)
            out_rows = output.content.rows(long_rows(columns, rows) if layout == "long" else rows)
            _write_rows(partial, fmt, output, out_rows, batch_size)
        output.footer()
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Written(
        path=target,
        rows=output.tick.written,
        columns=len(out_columns),
        sha256=file_sha256(target),
        provenance=provenance,
    )


def _check_choices(fmt: str, layout: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}: one of {', '.join(FORMATS)}.")
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}: one of {', '.join(LAYOUTS)}.")


def _provenance(query: dict[str, Any] | None, catalog_version: str | None, layout: str) -> dict[str, Any]:
    """The provenance known before the first row; the catalog version is read now unless given."""
    return {
        "query": query,
        "catalog_version": read_catalog_version() if catalog_version is None else catalog_version,
        "created_at": datetime.now(UTC).isoformat(),
        "layout": layout,
    }


class _Counter:
    """The rows written so far, passed on to `progress` after every batch."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.written = 0

    def __call__(self, count: int) -> None:
        self.written += count
        if self.progress is not None:
            self.progress(self.written)


@dataclass
class _Output:
    """What one dataset file is written with: its columns, content hash, provenance and counter."""

    columns: list[Column]
    content: ContentHash
    provenance: dict[str, Any]
    schema_metadata: dict[str, Any]
    tick: _Counter

    def footer(self) -> dict[str, Any]:
        """The content hash, once every row is written: into the provenance and the Parquet footer."""
        self.provenance["content_sha256"] = self.content.hexdigest()
        return {"celltrace.content_sha256": self.provenance["content_sha256"]}


def _output(
    columns: list[Column],
    layout: str,
    metadata: dict[str, Any] | None,
    provenance: dict[str, Any],
    progress: Progress | None,
) -> "_Output":
    out_columns = list(LONG_COLUMNS) if layout == "long" else columns
    return _Output(
        columns=out_columns,
        content=ContentHash([c.name for c in out_columns]),
        provenance=provenance,
        # Known before the first row: in the Arrow schema, where `pq.read_table(...).schema.metadata`
        # shows it. The content hash is known after the last: in the file's key-value metadata
        # (`pq.read_metadata(path).metadata`).
        schema_metadata=(metadata or {}) | {"celltrace.provenance": dict(provenance)},
        tick=_Counter(progress),
    )


def _write_rows(partial: Path, fmt: str, output: _Output, rows: Iterable[dict[str, Any]], size: int) -> None:
    if fmt == "parquet":
        _write_parquet(partial, output.columns, rows, output.schema_metadata, size, output.tick, output.footer)
    elif fmt == "csv":
        _write_csv(partial, output.columns, rows, size, output.tick)
    else:
        _write_jsonl(partial, output.columns, rows, size, output.tick)


def _remember_codes(rows: Iterable[dict[str, Any]], codes: list[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        codes.append(row["code"])
        yield row
