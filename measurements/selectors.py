"""Reads of measurements: listings, and the roll map of everything upstream of an item."""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, TypeVar

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet

from lots.models import Item
from traceability.intervals import (
    clipped_hi_sql,
    clipped_lo_sql,
    edge_table,
    stretch_hi_sql,
    stretch_lo_sql,
    stretch_reaches_sql,
)
from traceability.models import PASSES_THROUGH, Operation, Station
from traceability.selectors import MAX_DEPTH, lineage_walk

from .belonging import (
    about_operation_sql,
    along_sql,
    current_filter,
    current_sql,
    in_room_during_sql,
    item_operations_sql,
    measurements_join,
    operation_window,
    room_operations_join,
    unplaced_sql,
)
from .models import Criticality, Measurement, Parameter, Scope


def measurement_queryset(*, history: bool = False) -> QuerySet[Measurement]:
    """Current versions only unless `history`: a corrected value is hidden by its correction."""
    queryset = Measurement.objects.select_related("parameter", "item", "station", "created_by", "operation")
    return queryset if history else queryset.filter(current_filter())


_VIA_SCALE = "(CASE WHEN w.hi > w.lo THEN (w.xb - w.xa) / (w.hi - w.lo) ELSE 0 END)"


def _via_sql(clip: str) -> str:
    """Where on `via` the clipped end `clip` of the walk's stretch lies (see `_walk_sql`)."""
    return f"w.xa + ({clip} - w.lo) * {_VIA_SCALE}"


def _walk_sql() -> str:
    """`walk_cte` and its rows: (item_id, lo, hi, xa, xb, via_id, depth)."""
    return walk_cte("walk") + "\nSELECT item_id, lo, hi, xa, xb, via_id, depth FROM walk"


def walk_cte(name: str) -> str:
    """The upward interval walk of traceability.selectors.roll_map, also carrying
    which stretch of the start item, or of the nearest sheet or lane below it (`via`), each
    ancestor stretch became: xa is the via-position of the ancestor's `lo`, xb that of its `hi`.
    A value at metre p of the ancestor then sits at xa + (p - lo) * (xb - xa) / (hi - lo) of `via`."""
    lo, hi = clipped_lo_sql(), clipped_hi_sql()
    whole = "WHEN e.parent_from_m IS NULL OR e.child_from_m IS NULL THEN NULL"
    return f"""
WITH RECURSIVE {name}(item_id, lo, hi, xa, xb, via_id, depth) AS (
    SELECT CAST(%(item)s AS BIGINT), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION),
           CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS BIGINT), 0
    UNION ALL
    SELECT e.parent_id,
        {stretch_lo_sql()},
        {stretch_hi_sql()},
        CASE {whole}
             WHEN w.lo IS NULL THEN CASE WHEN e.reversed THEN e.child_to_m ELSE e.child_from_m END
             WHEN w.xa IS NULL THEN NULL
             WHEN e.reversed THEN {_via_sql(hi)}
             ELSE {_via_sql(lo)} END,
        CASE {whole}
             WHEN w.lo IS NULL THEN CASE WHEN e.reversed THEN e.child_from_m ELSE e.child_to_m END
             WHEN w.xa IS NULL THEN NULL
             WHEN e.reversed THEN {_via_sql(lo)}
             ELSE {_via_sql(hi)} END,
        CASE {whole}
             WHEN w.lo IS NULL THEN w.item_id ELSE w.via_id END,
        w.depth + 1
    FROM {name} w
    JOIN {edge_table()} e ON e.child_id = w.item_id
    WHERE w.depth < %(max_depth)s AND {stretch_reaches_sql()}
)"""


@dataclass(frozen=True, slots=True)
class _Part:
    """One way a value belongs to the item (`measurements.belonging`): what it is joined to,
    the condition, and the columns of `upstream_rows`."""

    joined: str
    condition: str
    columns: str


def _parts() -> list[_Part]:
    """Measured on the item (inside the stretch that went in, or about the whole item), a
    machine value of an operation that made it or that it passed through, or the room that
    operation ran in, during the operation."""
    item_columns = "m.id, w.item_id, w.depth, w.lo, w.hi, NULL, w.via_id, 'item'"
    window = operation_window("o")
    return [
        _Part(
            "walk w",
            along_sql("w.item_id", "w.lo", "w.hi"),
            """m.id, w.item_id, w.depth, w.lo, w.hi,
           CASE WHEN w.xa IS NULL THEN NULL
                WHEN w.hi > w.lo THEN w.xa + (m.position_m - w.lo) * (w.xb - w.xa) / (w.hi - w.lo)
                ELSE w.xa END,
           w.via_id, 'item'""",
        ),
        _Part("walk w", "w.lo IS NULL AND m.item_id = w.item_id", item_columns),
        _Part("walk w", f"w.lo IS NOT NULL AND m.item_id = w.item_id AND {unplaced_sql()}", item_columns),
        _Part(
            "ops",
            about_operation_sql("ops.operation_id"),
            "m.id, ops.item_id, ops.depth, NULL, NULL, NULL, NULL, 'operation'",
        ),
        _Part(
            "ops " + room_operations_join("ops.operation_id"),
            in_room_during_sql("s.room", window.start, window.end),
            "m.id, ops.item_id, ops.depth, NULL, NULL, NULL, NULL, 'room'",
        ),
    ]


def _upstream_sql(rows: int) -> str:
    """The values of the walk's stretches, given as a VALUES list. Each lookup is a range scan
    per stretch (`measurements_join`): a roll holds tens of thousands of values, so the planner
    would otherwise hash-join all of them."""
    head = f"""
WITH walk(item_id, lo, hi, xa, xb, via_id, depth) AS (VALUES {", ".join([_VALUES_ROW] * rows)}),
ops AS (
    {item_operations_sql("w.item_id, MIN(w.depth) AS depth", group_by="w.item_id")}
)
"""
    return head + values_union()


def values_union(carried: str = "", *, of_walk: str = "", of_ops: str = "") -> str:
    """The values of the stretches of `walk w` and of the operations `ops` (both defined
    before): rows (id, upstream item id, depth, lo, hi, mapped position, via id, relation),
    then the columns `carried` names (", m.value, ..."), then `of_walk` or `of_ops` (columns
    of the walk's row or the operation's row the value was found by), if any."""
    parts = [
        f"SELECT {part.columns}{carried}{of_walk if part.joined.startswith('walk') else of_ops} FROM {part.joined} "
        + measurements_join(f"{part.condition} AND {current_sql()}")
        for part in _parts()
    ]
    return "\nUNION ALL\n".join(parts)


_VALUES_ROW = (
    "(CAST(%s AS BIGINT), CAST(%s AS DOUBLE PRECISION), CAST(%s AS DOUBLE PRECISION), "
    "CAST(%s AS DOUBLE PRECISION), CAST(%s AS DOUBLE PRECISION), CAST(%s AS BIGINT), CAST(%s AS INTEGER))"
)


def upstream_rows(item: Item) -> list[tuple[Any, ...]]:
    """Measurement rows (id, upstream item id, depth, lo, hi, mapped position, via id, relation):
    one query for the walk, one for the values."""
    with connection.cursor() as cursor:
        cursor.execute(_walk_sql(), {"item": item.pk, "max_depth": MAX_DEPTH})
        walk = list(dict.fromkeys(cursor.fetchall()))  # one row per distinct stretch
        cursor.execute(_upstream_sql(len(walk)), [value for row in walk for value in row])
        return cursor.fetchall()


M = TypeVar("M")
N = TypeVar("N")


@dataclass(slots=True)
class UpstreamValue(Generic[M]):
    """A measurement that belongs to the start item through `upstream_item`. One type for the
    three stages of a listing, which differ only in what `measurement` holds: its id while the
    walk is resolved (`Belonging`), then the Measurement (`measurements_upstream`) or its row of
    MEASUREMENT_COLUMNS (`selectors_upstream.UpstreamRow`)."""

    measurement: M
    upstream_item: str
    depth: int
    relation: str  # "item", "operation" or "room"
    from_m: float | None  # the stretch of upstream_item that went into the start item
    to_m: float | None
    via: str | None  # the start item, or the nearest sheet or lane below, that mapped_position_m is on
    mapped_position_m: float | None

    def carrying(self, measurement: N) -> "UpstreamValue[N]":
        """The same belonging, with the measurement read (a model, a row) in place of its id."""
        return UpstreamValue(
            measurement, self.upstream_item, self.depth, self.relation, self.from_m, self.to_m, self.via,
            self.mapped_position_m,
        )  # fmt: skip


# How a listed value belongs to the item asked about, codes named (`unique_rows` resolved).
Belonging = UpstreamValue[int]


def rounded(value: float | None, places: int) -> float | None:
    """`value` to `places` decimals as PostgreSQL's round(CAST(value AS numeric), places) gives
    it (15 significant digits, then half away from zero), so the listing built in SQL
    (`selectors_upstream_json`) and this one agree to the last digit."""
    if value is None or not math.isfinite(value):
        return value
    return float(Decimal(f"{value:.15g}").quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def _metres(value: float | None) -> float | None:
    """To the micrometre: the linear maps leave float noise in the last digits."""
    return rounded(value, 6)


def listing_order(depth: int, upstream_item: str, parameter_id: int, measured_at: datetime, b: "Belonging") -> tuple:
    """The listing's order: by depth, upstream item, parameter and time, then the measurement
    and how it belongs, so that no two values tie (the SQL path sorts the same way)."""
    via, mapped = b.via, b.mapped_position_m
    return (
        depth,
        upstream_item,
        parameter_id,
        measured_at,
        b.measurement,
        b.relation,
        via is not None,
        via or "",
        mapped is not None,
        mapped or 0.0,
    )


def _attach_related(measurements: list[Measurement]) -> None:
    """One query per related table instead of a join per row: a roll map lists hundreds of values
    that share a handful of parameters, items and stations."""
    related = {
        "parameter": Parameter.objects.all(),
        "item": Item.objects.only("id", "code"),
        "station": Station.objects.only("id", "code"),
        "created_by": get_user_model().objects.only("id", "username"),
    }
    for name, queryset in related.items():
        wanted = {getattr(m, f"{name}_id") for m in measurements} - {None}
        objects = {o.pk: o for o in queryset.filter(pk__in=wanted)} if wanted else {}
        for m in measurements:
            key = getattr(m, f"{name}_id")
            if key is not None:
                setattr(m, name, objects[key])


def _first_way(row: tuple[Any, ...]) -> tuple[Any, ...]:
    depth, lo, hi = row[2], row[3], row[4]
    return (depth, lo is not None, lo or 0.0, hi is not None, hi or 0.0)


def unique_rows(item: Item) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """`upstream_rows`, the same value reached twice the same way (two sheets of one lane at
    one metre) kept once: the way of least depth, then lowest stretch (as the SQL path)."""
    unique: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in sorted(upstream_rows(item), key=_first_way):
        key = (row[0], row[1], row[7], row[6], rounded(row[5], 9))
        unique.setdefault(key, row)
    return unique


def belongings(unique: dict[tuple[Any, ...], tuple[Any, ...]]) -> list[Belonging]:
    """`unique_rows` with the items they name as codes (one query) and metres rounded: what
    both listings (`measurements_upstream`, `selectors_upstream.upstream_listing`) build on."""
    item_ids = {row[1] for row in unique.values()} | {row[6] for row in unique.values() if row[6]}
    codes = dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "code")) if item_ids else {}
    return [
        Belonging(
            measurement=m_id,
            upstream_item=codes[item_id],
            depth=depth,
            relation=relation,
            from_m=_metres(lo),
            to_m=_metres(hi),
            via=codes.get(via_id) if via_id else None,
            mapped_position_m=_metres(mapped),
        )
        for m_id, item_id, depth, lo, hi, mapped, via_id, relation in unique.values()
    ]


def measurements_upstream(*, item: Item, parameter: str | None = None) -> list[UpstreamValue[Measurement]]:
    """Every current measurement of the item and of everything upstream of it, each value along
    a roll kept only if it lies in a stretch that went into the item, with its position mapped
    down. A constant handful of queries: the walk, the values, the measurements, then the few
    parameters, items, stations and users they name."""
    unique = unique_rows(item)
    ids = {row[0] for row in unique.values()}
    queryset = Measurement.objects.filter(pk__in=ids)
    if parameter:
        queryset = queryset.filter(parameter__code=parameter)
    measurements = {m.pk: m for m in queryset}
    _attach_related(list(measurements.values()))
    found = [(b, measurements[b.measurement]) for b in belongings(unique) if b.measurement in measurements]
    found.sort(key=lambda f: listing_order(f[0].depth, f[0].upstream_item, f[1].parameter_id, f[1].measured_at, f[0]))
    return [b.carrying(m) for b, m in found]


@dataclass(slots=True)
class Completeness:
    item: str
    model: str
    steps: list[str]
    present: list[tuple[Parameter, int]]
    missing: list[Parameter]

    @property
    def coverage(self) -> float:
        required = len(self.present) + len(self.missing)
        return round(len(self.present) / required, 4) if required else 1.0


def item_completeness(*, item: Item, model: str) -> Completeness:
    """Which parameters of high criticality for `model` are measured for the item and everything
    upstream of it, and which are missing. Only the steps the item went through count, plus the
    materials and the environment."""
    values = measurements_upstream(item=item)
    # Distinct measurements: a whole-roll value reaches a cell once per sheet, and counts once.
    ids: dict[str, set[int]] = {}
    for value in values:
        ids.setdefault(value.measurement.parameter.code, set()).add(value.measurement.pk)
    counts = {code: len(found) for code, found in ids.items()}
    upstream_codes = {v.upstream_item for v in values} | {item.code}
    walked = lineage_walk(item=item, direction="upstream", edges=False)
    upstream_codes |= {node.code for node in walked.nodes}
    steps = sorted(
        set(
            Operation.objects.filter(
                Q(outputs__code__in=upstream_codes)
                | Q(inputs__item__code__in=upstream_codes, inputs__quantity=PASSES_THROUGH)
            ).values_list("step_id", flat=True)
        )
    )
    relevant = Parameter.objects.filter(**{f"criticality_{model}": Criticality.HIGH}).filter(
        Q(step_id__in=steps) | Q(scope__in=[Scope.MATERIAL, Scope.ENVIRONMENT])
    )
    present = [(p, counts[p.code]) for p in relevant if p.code in counts]
    missing = [p for p in relevant if p.code not in counts]
    return Completeness(item=item.code, model=model, steps=steps, present=present, missing=missing)
