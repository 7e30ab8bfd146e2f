"""The summary load_demo prints: items by kind and status, the holds, the example cell, measurements."""

from django.db.models import Count

from lots.models import Item

from .configuration import demo_configuration_report
from .line import DemoSummary, example_cell
from .line_data import HELD_LANE, HELD_STRETCH, LINE_START
from .measure_record import demo_measurements_report


def demo_report(summary: DemoSummary, seconds: float) -> tuple[str, list[str]]:
    """The headline (printed as a success) and the lines after it."""
    headline = f"Demo line loaded in {seconds:.1f} s (line day {LINE_START.isoformat()})."
    return headline, [
        *_items(),
        *_holds(summary),
        *_pointers(),
        *_running(summary),
        *demo_measurements_report(summary.measurements),
    ]


def _items() -> list[str]:
    rows = Item.objects.values("kind", "status").annotate(n=Count("id")).order_by("kind__gtin_item_reference", "status")
    by_kind: dict[str, list[str]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(f"{row['n']} {row['status']}")
    return ["Items by kind and status:", *(f"  {kind:<24} {', '.join(counts)}" for kind, counts in by_kind.items())]


def _holds(summary: DemoSummary) -> list[str]:
    cells = Item.objects.filter(kind="cell")
    held_cells = cells.filter(code__in=summary.held).count()
    stretch = HELD_STRETCH
    caught = len(summary.stretch_held)
    stretch_cells = cells.filter(code__in=summary.stretch_held).count()
    return [
        f"Cells: {cells.count()} ({', '.join(summary.rejects)} scrapped at the end-of-line test).",
        f"Hold on anode lane {HELD_LANE.lane}: {len(summary.held)} items on hold, {held_cells} of them cells.",
        f"Hold on metres {stretch.from_m:.1f}-{stretch.to_m:.1f} of {stretch.polarity} lane {stretch.lane}: "
        f"{_n(caught, 'item')} on hold, {_n(stretch_cells, 'cell')} among them; the lane itself stays usable.",
    ]


def _pointers() -> list[str]:
    lines = []
    # Made and waiting: not the roll still in the calender (the open run).
    rolls = Item.objects.filter(kind="calendered_roll", status="active", produced_by__ended_at__isnull=False)
    waiting = rolls.order_by("code").first()
    if waiting is not None:
        lines.append(
            f"Waiting at the slitter SLT-01: calendered roll {waiting.code} ({waiting.quantity:g} {waiting.unit})."
        )
    example = example_cell()
    if example is not None:
        lines += [
            f"Example cell: {example.code}. Trace it (token: `manage.py create_api_user NAME --role engineer`):",
            f'  curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/items/{example.code}/trace/',
        ]
    return lines


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _running(summary: DemoSummary) -> list[str]:
    run, made = summary.running.operation, summary.running.roll.code
    return [
        f"Open run {run.pk} at {run.station.code}: {run.step_id} of {made} since {run.started_at.isoformat()}, "
        f"{_n(len(summary.running.values), 'value')} sent by station; finish it on the station page.",
        *demo_configuration_report(summary.configuration),
    ]
