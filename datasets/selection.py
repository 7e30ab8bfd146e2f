"""What an export (a request for a dataset) selects: the roots (granularity and filters), the parameters (codes
and criticality), the aggregations, and the supplier-lot kinds; each checked, as SQL conditions on
`lots_item i` and the parameter table `p` of the aggregation query."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from lots.models import ItemKind, ItemLevel
from measurements.models import Criticality, ModelType, Parameter

from .columns import AGGREGATIONS, GRANULARITIES

FILTERS = ("codes", "created_after", "created_before", "status", "kind")
_RANK = {Criticality.HIGH.value: 3, Criticality.INTERMEDIATE.value: 2, Criticality.LOW.value: 1}


@dataclass(frozen=True, slots=True)
class Condition:
    """A piece of SQL with its `%s` parameters, in order."""

    sql: str
    params: list[Any] = field(default_factory=list)


def _placeholders(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def root_kinds(granularity: str) -> list[str]:
    if granularity == "cell":
        return ["cell"]
    if granularity == "sheet":
        return ["electrode_sheet"]
    if granularity == "roll":
        return list(ItemKind.objects.filter(is_roll=True, on_electrode_path=True).values_list("code", flat=True))
    raise ValueError(f"Unknown granularity {granularity!r}: one of {', '.join(GRANULARITIES)}.")


def as_datetime(value: Any, name: str) -> datetime:
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"Filter {name} is not a date and time: {value!r}.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def root_where(granularity: str, filters: dict[str, Any]) -> Condition:
    """The roots: items `i` of the granularity's kinds (or the `kind` filter's) and the filters."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"Unknown filter {', '.join(sorted(unknown))}: one of {', '.join(FILTERS)}.")
    kinds = [filters["kind"]] if filters.get("kind") else root_kinds(granularity)
    if filters.get("kind"):
        root_kinds(granularity)  # still refuse an unknown granularity
    clauses = [f"i.kind_id IN ({_placeholders(kinds)})"] if kinds else ["1 = 0"]
    params: list[Any] = list(kinds)
    if "codes" in filters and filters["codes"] is not None:
        codes = [str(code) for code in filters["codes"]]
        clauses.append(f"i.code IN ({_placeholders(codes)})" if codes else "1 = 0")
        params += codes
    for name, operator in (("created_after", ">="), ("created_before", "<")):
        if filters.get(name) is not None:
            clauses.append(f"i.created_at {operator} %s")
            params.append(as_datetime(filters[name], name))
    if filters.get("status"):
        clauses.append("i.status = %s")
        params.append(str(filters["status"]))
    return Condition(" AND ".join(clauses), params)


def parameter_where(parameters: list[str] | None, criticality: dict[str, str] | None) -> Condition:
    """The parameters `p` kept, as ` AND ...` clauses (empty: all)."""
    clauses: list[str] = []
    params: list[Any] = []
    if parameters is not None:
        codes = list(dict.fromkeys(parameters))
        known = set(Parameter.objects.filter(code__in=codes).values_list("code", flat=True))
        missing = [code for code in codes if code not in known]
        if missing:
            raise ValueError(f"Unknown parameter {', '.join(missing)}.")
        clauses.append(f"p.code IN ({_placeholders(codes)})" if codes else "1 = 0")
        params += codes
    for model, least in (criticality or {}).items():
        if model not in ModelType.values:
            raise ValueError(f"Unknown model type {model!r}: one of {', '.join(ModelType.values)}.")
        if least not in _RANK:
            raise ValueError(f"Unknown criticality {least!r}: one of {', '.join(_RANK)}.")
        # At least the criticality asked: "intermediate" keeps high and intermediate.
        allowed = [name for name, rank in _RANK.items() if rank >= _RANK[least]]
        clauses.append(f"p.criticality_{model} IN ({_placeholders(allowed)})")
        params += allowed
    return Condition("".join(f" AND {clause}" for clause in clauses), params)


def validate_aggregations(aggregations: Any) -> list[str]:
    """A non-empty list of `AGGREGATIONS`, in their order, each once."""
    if not isinstance(aggregations, list | tuple) or not aggregations:
        raise ValueError(f"Aggregations must be a non-empty list of {', '.join(AGGREGATIONS)}.")
    unknown = [a for a in aggregations if a not in AGGREGATIONS]
    if unknown:
        raise ValueError(f"Unknown aggregation {unknown[0]!r}: one of {', '.join(AGGREGATIONS)}.")
    return [a for a in AGGREGATIONS if a in aggregations]


def lot_kinds() -> list[str]:
    """Raw-material kinds: batches bought in, not made on the electrode path."""
    kinds = ItemKind.objects.filter(level=ItemLevel.BATCH, on_electrode_path=False).values_list("code", flat=True)
    return [kind for kind in kinds if kind.replace("_", "").replace("-", "").isalnum()]
