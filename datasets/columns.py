"""The columns of the wide dataset: their names, types, roles and coverage, planned from what
the discovery query found (`datasets.table`). Only columns that can carry information are made:
a (polarity, parameter) pair no root has two values of is one column, its value (`VALUE`, no
suffix); the others get the aggregations asked for. A group-key column no root has is left out
(kept, empty, when nothing is selected: the table's shape)."""

from dataclasses import dataclass, field
from typing import Any

from measurements.models import Parameter, Scope
from traceability.models import Step

AGGREGATIONS = ("mean", "min", "max", "std", "n")
# The aggregation of a (polarity, parameter) pair no dataset row has two values of: the value
# itself, in a column named without a suffix (a std would be all null, min, max and mean the
# value again, n the value's presence).
VALUE = "value"
GRANULARITIES = ("cell", "sheet", "roll")
POLARITIES = ("cathode", "anode")
# Group keys for honest train/test splits: (column stem, item kind).
GROUP_KEYS = (("slurry_batch", "slurry"), ("coating_run", "coated_roll"), ("calendered_roll", "calendered_roll"))
# End-of-line results, the targets of a model: every parameter of these steps, and those of
# formation and aging whose code names a capacity, a coulombic efficiency or the self-discharge.
TARGET_STEPS = ("eol_test",)
TARGET_STEMS = (("formation", "aging"), ("capacity", "coulombic", "self_discharge", "k_value", "ocv_drop"))
_POLARITY_ORDER: dict[str | None, int] = {"cathode": 0, "anode": 1, None: 2}


@dataclass(slots=True)
class Column:
    """One column of the table and what the dictionary says about it."""

    name: str
    type: str  # "string", "timestamp", "float" or "int"
    source: str  # "identity", "group", "split", "lot" or "measurement"
    parameter: Parameter | None = None
    polarity: str | None = None
    aggregation: str | None = None
    coverage: int = 0
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    role: str = "feature"  # "identity", "group", "split", "feature" or "target"


@dataclass(frozen=True, slots=True)
class PairCoverage:
    """A (polarity, parameter) pair the selection has values of: how many roots have one, and
    how many two or more."""

    polarity: str | None
    parameter_id: int
    roots: int
    roots_several: int


def group_column(stem: str, polarity: str | None) -> str:
    return f"{polarity}.{stem}" if polarity else stem


def lot_stem(kind: str, polarity: str | None) -> str:
    return f"{polarity + '.' if polarity else ''}{kind}"


def measurement_column_stem(parameter: Parameter, polarity: str | None) -> str:
    """`[<polarity>.]<step>.<parameter>`, with `material` or `environment` for the step."""
    if parameter.scope == Scope.ENVIRONMENT:
        return f"environment.{parameter.code}"
    where = "material" if parameter.scope == Scope.MATERIAL or not parameter.step_id else parameter.step_id
    return f"{polarity + '.' if polarity else ''}{where}.{parameter.code}"


def is_target(parameter: Parameter) -> bool:
    """An end-of-line result: a parameter of the end-of-line test, or a formation capacity or
    coulombic efficiency, or a self-discharge figure of aging."""
    if parameter.step_id in TARGET_STEPS:
        return True
    steps, words = TARGET_STEMS
    return parameter.step_id in steps and any(word in parameter.code for word in words)


def identity_columns(roots: int) -> list[Column]:
    return [
        Column("code", "string", "identity", coverage=roots, description="Item code", role="identity"),
        Column("kind", "string", "identity", coverage=roots, description="Item kind", role="identity"),
        Column("status", "string", "identity", coverage=roots, description="Item status", role="identity"),
        Column(
            "created_at", "timestamp", "identity", coverage=roots, description="When the item was made", role="identity"
        ),
    ]


def group_columns(found: dict[tuple[str, str | None], int], roots: int) -> list[Column]:
    """One column per key and polarity some root has, plus an unprefixed one if some key has
    none; of an empty selection, one per key and polarity."""
    columns = []
    for stem, kind in GROUP_KEYS:
        polarities: list[str | None] = [*POLARITIES]
        if (kind, None) in found:
            polarities.append(None)
        for polarity in polarities:
            if roots and not found.get((kind, polarity)):
                continue
            columns.append(
                Column(
                    group_column(stem, polarity),
                    "string",
                    "group",
                    polarity=polarity,
                    coverage=found.get((kind, polarity), 0),
                    description=f"Code(s) of the {kind.replace('_', ' ')}(s) upstream, for grouped splits",
                    extra={"kind": kind},
                    role="group",
                )
            )
    return columns


def split_column(split: dict[str, Any], roots: int) -> Column:
    return Column(
        "split",
        "string",
        "split",
        coverage=roots,
        description=(
            f"train or test, by {split['by']} (test {split['test']}, seed {split['seed']}): every group on one side"
        ),
        extra={"split": split},
        role="split",
    )


def lot_columns(
    kinds: list[str], codes: dict[tuple[str, str | None], int], attrs: dict[tuple[str, str | None, str], int]
) -> list[Column]:
    """`<polarity>.<kind>.supplier_lot` (the supplier lot codes, comma-separated) and
    `<polarity>.<kind>.attr.<key>` (the mean of a numeric attribute over the distinct lots),
    in the order of the kinds, cathode before anode before none."""
    place = {kind: index for index, kind in enumerate(kinds)}
    pairs = sorted(
        {*codes, *((kind, polarity) for kind, polarity, _key in attrs)},
        key=lambda pair: (place.get(pair[0], len(place)), _POLARITY_ORDER.get(pair[1], 3), pair[0]),
    )
    columns = []
    for kind, polarity in pairs:
        stem = lot_stem(kind, polarity)
        label = kind.replace("_", " ")
        if (kind, polarity) in codes:
            columns.append(
                Column(
                    f"{stem}.supplier_lot",
                    "string",
                    "lot",
                    polarity=polarity,
                    coverage=codes[(kind, polarity)],
                    description=f"Supplier lot code(s) of the {label} upstream",
                    extra={"kind": kind},
                )
            )
        for key in sorted(k for kd, pol, k in attrs if (kd, pol) == (kind, polarity)):
            columns.append(
                Column(
                    f"{stem}.attr.{key}",
                    "float",
                    "lot",
                    polarity=polarity,
                    coverage=attrs[(kind, polarity, key)],
                    description=f"Attribute {key} of the {label} lot(s) upstream (mean over the lots)",
                    extra={"kind": kind, "attribute": key},
                )
            )
    return columns


def measurement_columns(found: list[PairCoverage], aggregations: list[str] | None = None) -> list[Column]:
    """Per pair found: the value column if no root has two, else one per aggregation asked for,
    in the order of `AGGREGATIONS`; materials first, then the steps in line order, then the
    environment."""
    chosen = [a for a in AGGREGATIONS if aggregations is None or a in aggregations]
    parameters = Parameter.objects.in_bulk([pair.parameter_id for pair in found])
    sequence = dict(Step.objects.values_list("code", "sequence"))

    def order(pair: PairCoverage) -> tuple[Any, ...]:
        parameter = parameters[pair.parameter_id]
        place = {Scope.MATERIAL: 0, Scope.ENVIRONMENT: 2}.get(Scope(parameter.scope), 1)
        return (place, sequence.get(parameter.step_id or "", 0), _POLARITY_ORDER[pair.polarity], parameter.code)

    columns = []
    for pair in sorted(found, key=order):
        parameter = parameters[pair.parameter_id]
        stem = measurement_column_stem(parameter, pair.polarity)
        for aggregation in chosen if pair.roots_several else [VALUE]:
            columns.append(
                Column(
                    stem if aggregation == VALUE else f"{stem}.{aggregation}",
                    "int" if aggregation == "n" else "float",
                    "measurement",
                    parameter=parameter,
                    polarity=pair.polarity,
                    aggregation=aggregation,
                    coverage=pair.roots_several if aggregation == "std" else pair.roots,
                    description=parameter.name,
                    role="target" if is_target(parameter) else "feature",
                )
            )
    return columns
