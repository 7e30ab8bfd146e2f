"""The rows of the wide table in blocks, column by column: each root's (polarity, parameter)
sums turned into the aggregation columns with numpy, and the same rows as dicts for the CSV
writer and the callers that iterate."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .columns import POLARITIES, VALUE


@dataclass(slots=True)
class Block:
    """Rows of the wide table, column by column: `values[i]` the Python values of column i (what
    the dict rows hold), and for the measurement columns also `arrays[i]`, the same as a numpy
    array and its validity mask (None: no nulls), to hand to Arrow without Python objects."""

    values: list[list[Any]]
    arrays: dict[int, tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True, slots=True)
class Slot:
    """A measurement column: the place of its pair among the pairs, and its aggregation."""

    pair: int
    aggregation: str


@dataclass(frozen=True, slots=True)
class RootPairs:
    """The pairs of one row (the `row`-th of the block): their keys (`pair_key`) and sums, as
    lists or numpy arrays."""

    row: int
    keys: Any
    n: Any
    s: Any
    ss: Any
    mn: Any
    mx: Any


@dataclass(slots=True)
class _Sums:
    """Per pair (rows) and block row (columns): count, sum, sum of squares, min, max."""

    count: np.ndarray
    sums: np.ndarray
    squares: np.ndarray
    low: np.ndarray
    high: np.ndarray


def pair_key(polarity: str | None, parameter_id: int) -> int:
    """A (polarity, parameter) pair as one number, as `PAIR_KEY_SQL` computes it."""
    return parameter_id * (len(POLARITIES) + 1) + (POLARITIES.index(polarity) if polarity else len(POLARITIES))


def numbers(values: Any, dtype: Any) -> np.ndarray:
    """A list or array of numbers as an array of `dtype`."""
    return np.asarray(values, dtype=dtype)


def _python(array: np.ndarray, valid: np.ndarray | None) -> list[list[Any]]:
    """Rows of `array` as lists of Python numbers, None where not `valid`."""
    if valid is None:
        return array.tolist()
    boxed = array.astype(object)
    boxed[~valid] = None
    return boxed.tolist()


class BlockBuilder:
    """Collects the rows of a block: the other columns as small dicts, the measurements as the
    sums of each root's pairs, turned into columns at once."""

    def __init__(self, names: list[str], keys: list[int], layout: list[Slot]) -> None:
        self.names = names
        self.pairs = len(keys)
        self.layout = layout  # one per measurement column
        # From a pair's key to its slot (the place of its five columns), by binary search.
        self.order = np.argsort(np.asarray(keys, dtype=np.int64))
        self.keys = np.asarray(keys, dtype=np.int64)[self.order]
        self.size = 0
        self.rows: list[dict[str, Any]] = []
        self.parts: list[RootPairs] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.size += 1

    def measures(self, keys: Any, n: Any, s: Any, ss: Any, mn: Any, mx: Any) -> None:
        """The pairs (their `pair_key`) of the root being read (the next row added)."""
        self.parts.append(RootPairs(self.size, keys, n, s, ss, mn, mx))

    def _sums(self) -> _Sums:
        shape = (self.pairs, self.size)
        sums = _Sums(np.zeros(shape, dtype=np.int64), *(np.zeros(shape) for _ in range(4)))
        if not self.parts:
            return sums
        keys = [numbers(part.keys, np.int64) for part in self.parts]
        where = (
            self.order[np.searchsorted(self.keys, np.concatenate(keys))],
            np.repeat([part.row for part in self.parts], [len(k) for k in keys]),
        )
        targets = {"n": sums.count, "s": sums.sums, "ss": sums.squares, "mn": sums.low, "mx": sums.high}
        for name, target in targets.items():
            target[where] = np.concatenate([numbers(getattr(part, name), target.dtype) for part in self.parts])
        return sums

    def build(self) -> Block:
        values = [[row.get(name) for row in self.rows] for name in self.names]
        sums = self._sums()
        count = sums.count
        present = count > 0
        several = count > 1
        # mean s / n; std the sample standard deviation from the sums, None for a single value
        # and 0 if rounding makes the variance negative.
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = sums.sums / count
            variance = (sums.squares - sums.sums * sums.sums / count) / (count - 1)
        std = np.zeros_like(variance)
        np.sqrt(variance, out=std, where=variance > 0)
        # A single value is its own mean (s / 1): the same array.
        by_aggregation = {
            "mean": (mean, present),
            VALUE: (mean, present),
            "min": (sums.low, present),
            "max": (sums.high, present),
            "std": (std, several),
            "n": (count, None),
        }
        arrays: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        python: dict[int, list[list[Any]]] = {}
        first = len(self.names)
        for offset, slot in enumerate(self.layout):
            array, valid = by_aggregation[slot.aggregation]
            if id(array) not in python:
                python[id(array)] = _python(array, valid)
            arrays[first + offset] = (array[slot.pair], None if valid is None else valid[slot.pair])
            values.append(python[id(array)][slot.pair])
        self.size, self.rows, self.parts = 0, [], []
        return Block(values, arrays)


def _dicts(names: list[str], blocks: Iterator[Block]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        for values in zip(*block.values, strict=True):
            yield dict(zip(names, values, strict=True))


class WideRows(Iterator[dict[str, Any]]):
    """The rows of `dataset_rows`: an iterator of one dict per root, or, through `blocks()`, of
    the same rows column by column (for the Parquet writer). Use one or the other."""

    def __init__(self, names: list[str], blocks: Iterator[Block]) -> None:
        self.names = names
        self._blocks = blocks
        # Not a method: a generator holding `self` would make a cycle, and the server-side cursor
        # would then outlive a half-read iterator until the garbage collector came round.
        self._rows = _dicts(names, blocks)

    def __next__(self) -> dict[str, Any]:
        return next(self._rows)

    def blocks(self) -> Iterator[Block]:
        return self._blocks
