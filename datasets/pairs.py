"""The aggregates of every root on PostgreSQL, read once: the partial sums that `agg` adds up
(`summed`, one row per root, pair and claim) streamed by a binary COPY straight into numpy and
added up there, instead of sorted and grouped by PostgreSQL into a temporary table that the
discovery of the columns and then the rows each read again (and the rows sorted and packed into
arrays per root).

Each partial sum is a fixed-width record of the COPY: no text to parse, no Python object per
value. n and the sums add, min and max combine, as `agg` does; the coverage of each pair
(`PairCoverage`) is counted from the same arrays, and the rows take each root's slice
(`BlockBuilder.measures`).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.routing import routed_connection as connection

from .blocks import pair_key
from .columns import POLARITIES, PairCoverage
from .shapes_sql import PAIR_KEY_SQL

# The rows `agg` groups (`datasets.aggregation_sql`), each column NOT NULL and fixed width (COUNT
# and the sums of non-null values): one record each.
PARTIAL_SUMS = f"""SELECT CAST(root_id AS BIGINT), CAST({PAIR_KEY_SQL} AS BIGINT), CAST(n AS BIGINT),
    CAST(s AS DOUBLE PRECISION), CAST(ss AS DOUBLE PRECISION), CAST(mn AS DOUBLE PRECISION),
    CAST(mx AS DOUBLE PRECISION)
FROM (
    SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM parts
    UNION ALL
    SELECT root_id, pol, parameter_id, n, s, ss, mn, mx FROM once
) summed"""
_FIELDS = ("root", "pair", "n", "s", "ss", "mn", "mx")
_TYPES = (">i8", ">i8", ">i8", ">f8", ">f8", ">f8", ">f8")
# A binary COPY tuple: its field count (int16), then each field's length (int32) and value.
_RECORD = np.dtype(
    [("count", ">i2")]
    + [item for name, kind in zip(_FIELDS, _TYPES, strict=True) for item in ((f"{name}_len", ">i4"), (name, kind))]
)
_HEADER = 19  # signature (11), flags (4), header extension length (4, zero)
_CHUNK = 32 * 2**20  # bytes of COPY parsed at a time: memory bounded by the arrays, not the text


@dataclass(slots=True)
class RootAggregates:
    """The aggregates of all roots, sorted by root: root `r`'s are rows `spans[r]` of the arrays."""

    pair: np.ndarray
    n: np.ndarray
    s: np.ndarray
    ss: np.ndarray
    mn: np.ndarray
    mx: np.ndarray
    spans: dict[int, tuple[int, int]]

    def of(self, root_id: int) -> tuple[np.ndarray, ...] | None:
        """(keys, n, s, ss, mn, mx) of the root, or None if it has no values."""
        span = self.spans.get(root_id)
        if span is None:
            return None
        lo, hi = span
        return self.pair[lo:hi], self.n[lo:hi], self.s[lo:hi], self.ss[lo:hi], self.mn[lo:hi], self.mx[lo:hi]

    def coverage(self) -> list[PairCoverage]:
        """Per pair: how many roots have it, and how many two values or more (as `DISCOVER`)."""
        keys, inverse, roots = np.unique(self.pair, return_inverse=True, return_counts=True)
        several = np.bincount(inverse, weights=self.n > 1, minlength=len(keys)).astype(np.int64)
        width = len(POLARITIES) + 1
        found = []
        for key, count, many in zip(keys.tolist(), roots.tolist(), several.tolist(), strict=True):
            parameter_id, index = divmod(key, width)
            polarity = POLARITIES[index] if index < len(POLARITIES) else None
            assert pair_key(polarity, parameter_id) == key
            found.append(PairCoverage(polarity, parameter_id, count, many))
        return found


def _parse(data: bytes | bytearray, parts: dict[str, list[np.ndarray]]) -> int:
    """Appends the whole records at the start of `data`, field by field; returns the bytes they took."""
    whole = len(data) // _RECORD.itemsize
    if whole:
        records = np.frombuffer(data, dtype=_RECORD, count=whole)
        if not (records["count"] == len(_FIELDS)).all():
            raise ValueError("Unexpected COPY record: a field count other than the aggregates'.")
        for name, kind in zip(_FIELDS, _TYPES, strict=True):
            parts[name].append(records[name].astype(kind.lstrip(">")))
    return whole * _RECORD.itemsize


def root_aggregates(cte: str, params: list[Any]) -> RootAggregates:
    """`agg` of the WITH clause `cte` (no parameters: it reads the temporary tables)."""
    columns = _partial_sums(cte, params)
    # One key per (root, pair), root first, so that the groups come out in root order.
    width = int(columns["pair"].max()) + 1 if len(columns["pair"]) else 1
    if len(columns["root"]) and int(columns["root"].max()) >= 2**62 // width:
        order = np.lexsort((columns["pair"], columns["root"]))
    else:
        order = np.argsort(columns["root"] * width + columns["pair"], kind="stable")
    roots, pairs = columns.pop("root")[order], columns.pop("pair")[order]
    changes = (roots[1:] != roots[:-1]) | (pairs[1:] != pairs[:-1])
    starts = np.flatnonzero(np.concatenate(([True], changes))) if len(roots) else np.zeros(0, dtype=np.int64)
    sums = {
        name: reduce.reduceat(columns.pop(name)[order], starts) if len(starts) else np.zeros(0, dtype=kind)
        for name, reduce, kind in (
            ("n", np.add, np.int64),
            ("s", np.add, np.float64),
            ("ss", np.add, np.float64),
            ("mn", np.minimum, np.float64),
            ("mx", np.maximum, np.float64),
        )
    }
    del order
    roots, pairs = roots[starts], pairs[starts]
    ids, first, counts = np.unique(roots, return_index=True, return_counts=True)
    spans = {
        root: (start, start + count)
        for root, start, count in zip(ids.tolist(), first.tolist(), counts.tolist(), strict=True)
    }
    return RootAggregates(pair=pairs, spans=spans, **sums)


def _partial_sums(cte: str, params: list[Any]) -> dict[str, np.ndarray]:
    """The partial sums of `cte`'s `summed`, column by column."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _FIELDS}
    buffer = bytearray()
    started = False
    statement = f"COPY ({cte}{PARTIAL_SUMS}) TO STDOUT (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params or None) as copy:
        for block in copy:
            buffer += block
            if not started and len(buffer) >= _HEADER:
                del buffer[:_HEADER]
                started = True
            if started and len(buffer) >= _CHUNK:
                del buffer[: _parse(buffer, parts)]
    if started:
        # The trailer: a field count of -1 (two bytes) after the last record.
        _parse(buffer[:-2], parts)
    return {
        name: np.concatenate(chunks) if chunks else np.zeros(0, dtype=kind.lstrip(">"))
        for (name, chunks), kind in zip(parts.items(), _TYPES, strict=True)
    }
