"""The plots of an item's page: values along a roll (one per parameter, with the limit that
applies and the stretches of its daughters), and the series measurements (a formation curve)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.units import display_unit
from lots.models import Item

from .selectors import measurement_queryset
from .selectors_limits import limit_book, limit_text

BANDS_SHOWN = 400


@dataclass(frozen=True)
class Band:
    """A daughter's stretch of the roll, marked on its profiles."""

    from_m: float
    to_m: float
    label: str


def axis_title(title: str, unit: object) -> str:
    shown = display_unit(unit)
    return f"{title} ({shown})" if shown else title


def roll_profiles(item: Item, bands: Sequence[Band]) -> list[dict[str, Any]]:
    """The item's roll profiles: its own values along its metres, one plot per parameter, with
    the stretch of each daughter shaded (the upstream roll map is the API's `upstream=true`)."""
    along = measurement_queryset().filter(item=item, position_m__isnull=False, value__isnull=False)
    series: dict[str, dict[str, Any]] = {}
    for measurement in along.order_by("parameter__code", "position_m"):
        parameter = measurement.parameter
        entry = series.setdefault(
            parameter.code,
            {
                "title": f"{parameter.name} along {item.code}",
                "x": [],
                "y": [],
                "x_title": "position (m)",
                "y_title": axis_title(parameter.name, parameter.unit),
                "low": parameter.typical_min,
                "high": parameter.typical_max,
                "flags": [],
                "parameter_id": parameter.pk,
            },
        )
        entry["x"].append(measurement.position_m)
        entry["y"].append(measurement.value)
        entry["flags"].append(measurement.out_of_limits is True)
    # The specification limit that applies to this item now, one per parameter (lines on the plot).
    book = limit_book({entry["parameter_id"] for entry in series.values()}, [item.pk])
    marked = [{"from": b.from_m, "to": b.to_m, "label": b.label} for b in bands[:BANDS_SHOWN]]
    for entry in series.values():
        limit = book.limit(entry.pop("parameter_id"), item.pk)
        entry["limits"] = (
            {"lower": limit.lower, "upper": limit.upper, "target": limit.target, "text": limit_text(limit)}
            if limit is not None
            else None
        )
        entry["bands"] = marked
    return list(series.values())


@dataclass(frozen=True)
class Curve:
    """A series measurement, to plot; the page titles it with its local time."""

    name: str
    measured_at: datetime
    x: list[Any]
    y: list[Any]
    x_title: str
    y_title: str


def item_curves(item: Item) -> list[Curve]:
    """Series measurements (a formation curve, a profile sent as one series), oldest first."""
    curves = []
    for measurement in measurement_queryset().filter(item=item, series__isnull=False).order_by("measured_at"):
        series = measurement.series or {}
        parameter = measurement.parameter
        curves.append(
            Curve(
                name=parameter.name,
                measured_at=measurement.measured_at,
                x=series.get("x", []),
                y=series.get("y", []),
                x_title=axis_title(str(series.get("x_kind", "x")), series.get("x_unit")),
                y_title=axis_title(parameter.name, parameter.unit),
            )
        )
    return curves
