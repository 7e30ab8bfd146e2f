"""The shape of bench/trace-results.json: what bench/trace.py and bench/trace_measure.py write
into it and read back for the report."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Summary(TypedDict):
    """The times of one way of tracing the sampled cells."""

    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float


class SqlTrace(Summary):
    rows_mean: float


class SelectorTrace(Summary):
    nodes_mean: float


class HttpTrace(Summary):
    errors: int
    bytes_mean: int
    nodes_last: int
    edges_last: int


class Track(TypedDict):
    """Track of one lot: in process first, then over HTTP (an error instead if it failed)."""

    code: str
    descendants: int
    selector_nodes: int
    sql_plan: list[str]
    selector_median_ms: float
    sql_median_ms: float
    http_error: NotRequired[str]
    http_median_ms: NotRequired[float]
    http_nodes: NotRequired[int]
    http_bytes: NotRequired[int]
    cells_http_median_ms: NotRequired[float]
    cells_http_nodes: NotRequired[int]


class HttpInfo(TypedDict):
    """The server the HTTP figures came from, or why there are none."""

    available: bool
    conn_max_age: int
    server: str
    reason: NotRequired[str]


class Generation(TypedDict, total=False):
    """Either `reused` (--keep), or the figures of generating the line."""

    reused: bool
    seconds: float
    stage_seconds: dict[str, float]
    workers: int
    chunk: int


class Goal(TypedDict):
    goal: str
    value_ms: float | None
    met: bool | None
    note: NotRequired[str]


class Results(TypedDict):
    """The whole run; the figures arrive stage by stage."""

    database: str
    sizes: dict[str, int]
    started_at: str
    goals_spec: dict[str, float]
    generation: NotRequired[Generation]
    counts: NotRequired[dict[str, int]]
    trace_sql: NotRequired[SqlTrace]
    trace_selector: NotRequired[SelectorTrace]
    trace_http: NotRequired[HttpTrace]
    trace_http_stock_runserver: NotRequired[HttpTrace]
    http: NotRequired[HttpInfo]
    track: NotRequired[dict[str, Track]]
    trace_ratio_http_over_sql_p50: NotRequired[float]
    goals: NotRequired[list[Goal]]
    finished_at: NotRequired[str]
