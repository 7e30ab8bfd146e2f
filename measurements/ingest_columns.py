"""Bulk ingest, a chunk of CSV rows checked column by column (the fast path).

A CSV upload's rows arrive as lists of cell text in the header's order. `chunk_check` checks a
whole chunk at once: codes and units through the caches of RowRules (one dict lookup per cell),
numbers parsed by `float` over the column and checked with numpy (finite before and after the
conversion, the typical range), times parsed by `datetime.fromisoformat` and their range and
offsets checked on the chunk's extremes and distinct offsets.

It only ever accepts: a chunk with anything it does not take as plainly valid (a blank or short
row, an unknown code, a number that does not parse, a time without offset, text too long, ...)
returns None, and the caller checks that chunk row by row with RowRules.check, which names the
row and field. So a good row is stored exactly as the per-row check would store it (the same
tuple, value for value), and a bad one gets the per-row check's error.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, cast

import numpy as np

from core.errors import InvalidInput
from core.values import EARLIEST, LATEST, MAX_OFFSET

from .ingest_rows import _LIMITS, _SOURCES, ITEM_CACHE_LIMIT, Missing, RowRules, _uncertainty
from .models import Parameter, Source

_Row = tuple[Any, ...]


def chunk_columns(header: Sequence[str], chunk: list[Any]) -> dict[str, Sequence[str]] | None:
    """The chunk's cells by column (None: not every row is a list of the header's width)."""
    if set(map(type, chunk)) != {list} or set(map(len, chunk)) != {len(header)}:
        return None
    return dict(zip(header, zip(*chunk, strict=True), strict=True))


def columns_missing(rules: RowRules, columns: dict[str, Sequence[str]]) -> Missing:
    """The codes of the chunk not looked up yet."""
    if len(rules.items) > ITEM_CACHE_LIMIT:
        rules.items.clear()
    empty: tuple[str, ...] = ()
    found = []
    for name, known in (("parameter", rules.parameters), ("item", rules.items), ("station", rules.stations)):
        found.append({code for code in set(columns.get(name, empty)) if code not in known and code.strip()})
    return Missing(*found)


def _texts(column: Sequence[str] | None, field: str, n: int) -> list[str] | None:
    """An optional text column stripped ("" when absent); None when a cell is too long."""
    if column is None:
        return [""] * n
    texts = [text.strip() for text in column]
    return texts if max(map(len, texts), default=0) <= _LIMITS[field] else None


def _numbers(column: Sequence[str]) -> np.ndarray | None:
    """The cells as finite floats (None: one is blank, not a number, or not finite)."""
    try:
        numbers = np.fromiter(map(float, column), dtype=np.float64, count=len(column))
    except ValueError:
        return None
    return numbers if np.isfinite(numbers).all() else None


def _moments(column: Sequence[str]) -> list[datetime] | None:
    """ISO 8601 times with an offset within +-15:59 in [1970, 2200) (None: one is not)."""
    try:
        moments = list(map(datetime.fromisoformat, column))
        offsets = set(map(datetime.utcoffset, moments))
    except ValueError:
        return None
    if any(offset is None or abs(offset) > MAX_OFFSET for offset in offsets):
        return None
    return moments if EARLIEST <= min(moments) and max(moments) < LATEST else None


def _positions(column: Sequence[str] | None, items: list[Any], n: int) -> list[float | None] | None:
    """position_m: blank is none; else a number >= 0 within the item's length (None: not so)."""
    if column is None or not any(column):
        return [None] * n
    sent = [i for i, cell in enumerate(column) if cell != ""]
    numbers = _numbers([column[i] for i in sent])
    if numbers is None or (numbers < 0).any():
        return None
    lengths = np.array(
        [np.inf if (item := items[i]) is None else np.nan if item.length_m is None else item.length_m for i in sent],
        dtype=np.float64,
    )
    if np.isnan(lengths).any() or (numbers > lengths + 1e-9).any():
        return None
    positions: list[float | None] = [None] * n
    for i, position in zip(sent, numbers.tolist(), strict=True):
        positions[i] = position
    return positions


def _parameters(rules: RowRules, codes: Sequence[str]) -> list[tuple[int, Parameter]] | None:
    """Each row's (pk, Parameter) from the cache (None: a code is unknown or refused)."""
    looked_up = list(map(rules.parameters.get, codes))
    if not all(entry.__class__ is tuple for entry in looked_up):
        return None
    return cast(list[tuple[int, Parameter]], looked_up)


def _linears(
    rules: RowRules, found: list[tuple[int, Parameter]], parameter_pks: list[int], units: Sequence[str] | None, n: int
) -> list[tuple[Any, str]] | None:
    """Each row's (Linear, sent unit) to its parameter's canonical unit, one lookup per distinct
    (parameter, unit) (None: a unit is refused)."""
    parameters = dict(found)  # keyed by pk: the Parameter instances are not hashed
    conversions: dict[tuple[int, Any], Any] = {}
    for key in set(zip(parameter_pks, units or repeat(None, n), strict=False)):
        try:
            conversions[key] = rules._linear(key[0], parameters[key[0]], key[1])
        except InvalidInput:
            return None
    return [conversions[key] for key in zip(parameter_pks, units or repeat(None, n), strict=False)]


def _converted(linears: list[tuple[Any, str]], sent_values: np.ndarray) -> np.ndarray | None:
    """The sent values in the canonical units (None: one overflows)."""
    scales = np.array([linear.scale for linear, _ in linears], dtype=np.float64)
    offsets = np.array([linear.offset for linear, _ in linears], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        values = scales * sent_values + offsets  # as Linear.__call__, IEEE for IEEE
    return values if np.isfinite(values).all() else None


def _references(found: Mapping[str, Any], codes: Sequence[str] | None, n: int) -> list[Any] | None:
    """Each row's entry for its code in `found` (None for a blank code; None overall: a code is
    unknown): the items' (pk, item) and the stations' pk alike."""
    if codes is None:
        return [None] * n
    entries = [None if code == "" else found.get(code) for code in codes]
    if any(entry is None and code != "" for entry, code in zip(entries, codes, strict=True)):
        return None
    return entries


def _items(rules: RowRules, codes: Sequence[str] | None, n: int) -> tuple[list[int | None], list[Any]] | None:
    """Each row's item pk and item (None for a blank code; None overall: a code is unknown)."""
    if (entries := _references(rules.items, codes, n)) is None:
        return None
    return (
        [entry[0] if entry is not None else None for entry in entries],
        [entry[1] if entry is not None else None for entry in entries],
    )


def _sources(sent: Sequence[str] | None, n: int) -> list[Any] | None:
    """Each row's source, blank is offline (None: one is not a source)."""
    if sent is None:
        return [Source.OFFLINE] * n
    if not _SOURCES.issuperset(set(sent) - {""}):
        return None
    return [source or Source.OFFLINE for source in sent]


def _uncertainties(sent: Sequence[str] | None, linears: list[tuple[Any, str]], n: int) -> list[float | None] | None:
    """Each row's uncertainty in the canonical unit, blank is none (None: one is refused)."""
    if sent is None or not any(sent):
        return [None] * n
    try:
        return [_uncertainty(u, linear) if u != "" else None for u, (linear, _) in zip(sent, linears, strict=True)]
    except InvalidInput:
        return None


def _flags(
    rules: RowRules,
    found: list[tuple[int, Parameter]],
    parameter_pks: list[int],
    item_ids: list[int | None],
    value_list: list[float],
    values: np.ndarray,
    positions: list[float | None],
) -> tuple[list[bool], list[bool | None]]:
    """Each row's flag outside its parameter's typical range, and outside the limit that applies
    (None: none does). Only once every row is valid: a held limit's violation is recorded."""
    lows = np.array([-np.inf if (low := p.typical_min) is None else low for _, p in found], dtype=np.float64)
    highs = np.array([np.inf if (high := p.typical_max) is None else high for _, p in found], dtype=np.float64)
    flagged = ((values < lows) | (values > highs)).tolist()
    if not rules.limits:
        return flagged, [None] * len(value_list)
    flag = rules.limits_flag
    return flagged, [
        flag(pk, item, value, at)
        for pk, item, value, at in zip(parameter_pks, item_ids, value_list, positions, strict=True)
    ]


def chunk_check(rules: RowRules, columns: dict[str, Sequence[str]], first: int) -> list[tuple[int, _Row]] | None:
    """The chunk's rows as (row number, row in COLUMNS order), every one valid; None when any
    row needs the per-row check. `first` is the first row's number. Call after look_up."""
    n = len(columns["parameter"])
    get = columns.get
    if (found := _parameters(rules, columns["parameter"])) is None:
        return None
    parameter_pks = [entry[0] for entry in found]
    if (linears := _linears(rules, found, parameter_pks, get("unit"), n)) is None:
        return None
    if (sent_values := _numbers(columns["value"])) is None or (values := _converted(linears, sent_values)) is None:
        return None
    if (references := _items(rules, get("item"), n)) is None:
        return None
    item_ids, items = references
    if (station_ids := _references(rules.stations, get("station"), n)) is None:
        return None
    rooms = _texts(get("room"), "room", n)
    instruments = _texts(get("instrument"), "instrument", n)
    methods = _texts(get("method"), "method", n)
    if rooms is None or instruments is None or methods is None:
        return None
    if any(i is None and s is None and not r for i, s, r in zip(item_ids, station_ids, rooms, strict=True)):
        return None
    positions = _positions(get("position_m"), items, n)
    moments = _moments(columns["measured_at"])
    if positions is None or moments is None:
        return None
    if (sources := _sources(get("source"), n)) is None:
        return None
    if (uncertainties := _uncertainties(get("uncertainty"), linears, n)) is None:
        return None
    value_list = values.tolist()
    flagged, outside = _flags(rules, found, parameter_pks, item_ids, value_list, values, positions)
    rows = zip(
        parameter_pks,
        item_ids,
        station_ids,
        rooms,
        positions,
        moments,
        sources,
        instruments,
        methods,
        uncertainties,
        value_list,
        sent_values.tolist(),
        [sent_unit for _, sent_unit in linears],
        repeat(""),
        repeat(""),
        flagged,
        outside,
        repeat(""),
        repeat(rules.created_at),
        repeat(rules.created_by_id),
        repeat(None),
        strict=False,
    )
    return list(zip(range(first, first + n), rows, strict=False))
