"""The wide dataset: one row per cell (or sheet, or roll), one column per upstream parameter and
aggregation, built in the database.

Which values count for a root, and how each counts once, is the SQL of `aggregation_sql`; the
columns are planned in `columns` from what a first set-based query finds (the coverage of each
column and the roots with two values or more of each (polarity, parameter) pair); the rows then
stream from a second query ordered by root, through a server-side cursor on PostgreSQL, and are
assembled in blocks (`blocks`). Two queries whatever the number of roots. On PostgreSQL the
aggregates are read before both, once, by a binary COPY of the partial sums into numpy
(`pairs`), which also counts the pairs' coverage.

Only columns that can carry information are written: a pair no root has two values of is one
column, its value (`VALUE`, no suffix); the others get the aggregations asked for (all of
`AGGREGATIONS` by default), their std non-null where a root has two values. A group-key column
no root has is left out (kept, empty, when nothing is selected: the table's shape).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from core.routing import routed_connection as connection

from .aggregation_sql import dataset_cte
from .blocks import Block, BlockBuilder, Slot, WideRows, pair_key
from .columns import (
    AGGREGATIONS,
    GRANULARITIES,
    GROUP_KEYS,
    POLARITIES,
    VALUE,
    Column,
    PairCoverage,
    group_column,
    group_columns,
    identity_columns,
    is_target,
    lot_columns,
    lot_stem,
    measurement_column_stem,
    measurement_columns,
    split_column,
)
from .pairs import RootAggregates, root_aggregates
from .selection import FILTERS, as_datetime, lot_kinds, parameter_where, root_where, validate_aggregations
from .shapes_sql import DISCOVER, DISCOVER_NO_PAIRS, MEASURES, ROWS, ROWS_NO_MEASURES, SPLIT_KEYS
from .splits import SPLIT_FIELDS, assign_split, split_hash, validate_split
from .temp_tables import Materialised, analyze_unanalyzed, materialise, release, work_mem

# Callers import these from here: the public face of the dataset.
__all__ = [
    "AGGREGATIONS",
    "BATCH_SIZE",
    "FILTERS",
    "GRANULARITIES",
    "GROUP_KEYS",
    "POLARITIES",
    "SPLIT_FIELDS",
    "VALUE",
    "Block",
    "Column",
    "WideRows",
    "assign_split",
    "dataset_rows",
    "is_target",
    "measurement_column_stem",
    "split_hash",
    "validate_aggregations",
    "validate_split",
]

BATCH_SIZE = 2000


@dataclass(slots=True)
class Discovery:
    """What the selection holds: its roots, and per column candidate how many roots have it."""

    roots: int = 0
    keys: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (kind, polarity)
    pairs: list[PairCoverage] = field(default_factory=list)
    lot_codes: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (kind, polarity)
    lot_attrs: dict[tuple[str, str | None, str], int] = field(default_factory=dict)  # (kind, polarity, key)


@dataclass(slots=True)
class Plan:
    """The columns, and how the rows fill them: the first `first` from each root's dict, the
    rest from the sums of its pairs (`keys`, their `pair_key`), one `Slot` per column."""

    columns: list[Column]
    first: int
    keys: list[int]
    layout: list[Slot]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


def _discover(materialised: Materialised, aggregates: RootAggregates | None) -> Discovery:
    """The pairs from `aggregates` where given (PostgreSQL), else from `agg`."""
    with connection.cursor() as cursor:
        cursor.execute(materialised.cte + (DISCOVER if aggregates is None else DISCOVER_NO_PAIRS), materialised.params)
        rows = cursor.fetchall()
    found = Discovery(pairs=[] if aggregates is None else aggregates.coverage())
    for shape, kind, polarity, parameter_id, count, several, attr in rows:
        if shape == 0:
            found.roots = count
        elif shape == 1:
            found.keys[(kind, polarity)] = count
        elif shape == 2:
            found.pairs.append(PairCoverage(polarity, parameter_id, count, several))
        elif shape == 3:
            found.lot_codes[(kind, polarity)] = count
        else:
            found.lot_attrs[(kind, polarity, attr)] = count
    return found


def _plan(found: Discovery, kinds: list[str], split: dict[str, Any] | None, aggregations: list[str] | None) -> Plan:
    measured = measurement_columns(found.pairs, aggregations)
    columns = (
        identity_columns(found.roots)
        + group_columns(found.keys, found.roots)
        + ([split_column(split, found.roots)] if split else [])
        + lot_columns(kinds, found.lot_codes, found.lot_attrs)
        + measured
    )
    # The measurement columns come last, one or more per (polarity, parameter) pair: its slot.
    slots: dict[tuple[str | None, int], int] = {}
    layout = [
        Slot(slots.setdefault((c.polarity, c.parameter.pk), len(slots)), c.aggregation or VALUE)
        for c in measured
        if c.parameter is not None
    ]
    keys = [pair_key(polarity, parameter_id) for polarity, parameter_id in slots]
    return Plan(columns, len(columns) - len(measured), keys, layout)


def _sides(materialised: Materialised, split: dict[str, Any]) -> dict[int, str]:
    """Root id -> "train" or "test"."""
    kind = dict(GROUP_KEYS)[split["by"]]
    with connection.cursor() as cursor:
        cursor.execute(materialised.cte + SPLIT_KEYS.format(kind=kind), materialised.params)
        return assign_split(cursor.fetchall(), split["test"], split["seed"])


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return as_datetime(value, "created_at")


class _RowAssembler:
    """Turns the shaped rows of one root after another into the block's rows."""

    def __init__(self, block: BlockBuilder, sides: dict[int, str], aggregates: RootAggregates | None) -> None:
        self.block = block
        self.sides = sides
        self.aggregates = aggregates
        self.group_stems = {kind: stem for stem, kind in GROUP_KEYS}
        self.current: int | None = None
        self.row: dict[str, Any] = {}
        self.codes: dict[str, list[str]] = {}

    def finish(self) -> None:
        """Adds the root being read, if any, to the block."""
        if self.current is None:
            return
        for name, found in self.codes.items():
            self.row[name] = ",".join(sorted(found))
        self.block.add(self.row)
        self.current, self.row, self.codes = None, {}, {}

    def take(self, fetched: tuple[Any, ...]) -> None:
        """One row of `ROWS`; the caller calls `finish` first when the root changes."""
        root_id, shape, code, kind, text, created_at, parameter_id, n, s, ss, mn, mx = fetched
        self.current = root_id
        if shape == 0:
            self.row.update(code=code, kind=kind, status=text, created_at=_timestamp(created_at))
            pairs = self.aggregates.of(root_id) if self.aggregates is not None else None
            if pairs is not None:
                self.block.measures(*pairs)
            if self.sides:
                self.row["split"] = self.sides.get(root_id)
        elif shape == 1:
            self.codes.setdefault(group_column(self.group_stems[kind], text), []).append(code)
        elif shape == 3:
            self.codes.setdefault(f"{lot_stem(kind, text)}.supplier_lot", []).append(code)
        elif shape == 4:
            self.row[f"{lot_stem(kind, text)}.attr.{code}"] = s / n
        else:
            self.block.measures([pair_key(text, parameter_id)], [n], [s], [ss], [mn], [mx])


def _blocks(
    materialised: Materialised,
    plan: Plan,
    sides: dict[int, str],
    batch_size: int,
    aggregates: RootAggregates | None,
) -> Iterator[Block]:
    """The rows in blocks of `batch_size`, the temporary tables dropped at the end; the
    aggregates from `aggregates` where given, else among the rows."""
    if aggregates is not None:
        query = materialised.cte + ROWS_NO_MEASURES
    else:
        query = materialised.cte + ROWS.format(measures=MEASURES)
    cursor = connection.chunked_cursor() if connection.vendor == "postgresql" else connection.cursor()
    try:
        cursor.execute(query, materialised.params)
        block = BlockBuilder(plan.names[: plan.first], plan.keys, plan.layout)
        assembler = _RowAssembler(block, sides, aggregates)
        while fetched := cursor.fetchmany(batch_size):
            for row in fetched:
                if row[0] != assembler.current and assembler.current is not None:
                    assembler.finish()
                    if block.size == batch_size:
                        yield block.build()
                assembler.take(row)
        assembler.finish()
        if block.size:
            yield block.build()
    finally:
        cursor.close()
        release(materialised.tables)


def dataset_rows(
    *,
    granularity: str = "cell",
    filters: dict[str, Any] | None = None,
    parameters: list[str] | None = None,
    criticality: dict[str, str] | None = None,
    batch_size: int = BATCH_SIZE,
    split: dict[str, Any] | None = None,
    aggregations: list[str] | None = None,
) -> tuple[list[Column], Iterator[dict[str, Any]]]:
    """The columns (with their coverage) and an iterator of one dict per root, in root id order.

    `filters`: codes, created_after, created_before, status, kind (default: the granularity's
    kinds). `parameters`: catalog codes to keep. `criticality`: {"ml": "high"} keeps parameters of
    at least that level for that model type. `split`: {"by": "slurry_batch", "test": 0.2,
    "seed": 1} adds a column `split` ("train" or "test") decided per group (see `assign_split`).
    `aggregations`: which of `AGGREGATIONS` the pairs with several values get (default all).
    A selection of nothing gives the identity and group columns and no rows. The iterator holds
    the server-side cursor open until exhausted; with rows it is a `WideRows`, whose `blocks()`
    gives the same rows column by column.
    """
    checked_split = validate_split(split) if split is not None else None
    checked_aggregations = validate_aggregations(aggregations) if aggregations is not None else None
    roots = root_where(granularity, filters or {})
    chosen = parameter_where(parameters, criticality)
    kinds = lot_kinds()
    cte = dataset_cte(roots.sql, chosen.sql, kinds)
    analyze_unanalyzed()
    work_mem(settings.CELLTRACE_EXPORT_WORK_MEM)
    # PostgreSQL: the aggregates read once, by a binary COPY (`datasets.pairs`).
    streamed = connection.vendor == "postgresql"
    materialised = materialise(cte, roots.params, chosen.params, aggregate=not streamed)
    aggregates = root_aggregates(materialised.cte, materialised.params) if streamed else None
    found = _discover(materialised, aggregates)
    plan = _plan(found, kinds, checked_split, checked_aggregations)
    if found.roots == 0:
        release(materialised.tables)
        return plan.columns, iter(())
    sides = _sides(materialised, checked_split) if checked_split else {}
    return plan.columns, WideRows(plan.names, _blocks(materialised, plan, sides, batch_size, aggregates))
