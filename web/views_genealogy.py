"""The genealogy pages: the trace (upstream) or track (downstream) graph of an item, drawn with
Cytoscape.js, and for a track the items a recall reaches, listed and as CSV."""

import io
import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from core.errors import DomainError
from core.roles import Role
from core.routing import replica_safe
from core.spreadsheet import cell_text, csv_writer
from lots.models import Item, ItemKind
from lots.selectors import item_get
from traceability.selectors import Genealogy, lineage_trace, lineage_track, track_ends
from traceability.selectors_item import track_ends_listed

from .access import explain, role_required

operator = role_required(Role.OPERATOR)

# Node colours of the genealogy graph, one per kind along the line (supplier lots are grey).
KIND_COLOURS = {
    "slurry": "#8e44ad",
    "coated_roll": "#2980b9",
    "calendered_roll": "#16a085",
    "slit_roll": "#27ae60",
    "electrode_sheet": "#f39c12",
    "stack": "#d35400",
    "jelly_roll": "#d35400",
    "cell": "#c0392b",
}
SUPPLIER_COLOUR = "#7f8c8d"
# Above this many items the list of what a recall reaches comes first, the graph under it.
LARGE_GRAPH = 150
LISTED = 500
CSV_COLUMNS = ["code", "kind", "status", "quantity", "unit", "created_at"]


def _stretch(from_m: float | None, to_m: float | None) -> str:
    return f"{from_m:g}-{to_m:g} m" if from_m is not None and to_m is not None else ""


def _elements(graph: Genealogy, root: str, names: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    nodes = [
        {
            "data": {
                "id": node.code,
                "label": node.code,
                "kind": names.get(node.kind, node.kind),
                "status": node.status,
                "depth": node.depth,
                "colour": KIND_COLOURS.get(node.kind, SUPPLIER_COLOUR),
                "url": reverse("web:item", kwargs={"code": node.code}),
                "root": node.code == root,
            }
        }
        for node in graph.nodes
    ]
    edges = [
        {
            "data": {
                "id": f"e{index}",
                "source": edge.parent,
                "target": edge.child,
                "step": edge.step,
                "stretch": _stretch(edge.from_m, edge.to_m),
            }
        }
        for index, edge in enumerate(graph.edges)
    ]
    return {"nodes": nodes, "edges": edges}


@operator
@replica_safe  # the item and its genealogy from one server, the replica when there is one
def genealogy(request: HttpRequest, code: str) -> HttpResponse:
    try:
        item = item_get(code)
    except DomainError as error:
        explain(request, error)
        return redirect("web:items")
    direction = "downstream" if request.GET.get("direction") == "downstream" else "upstream"
    graph = lineage_track(item=item) if direction == "downstream" else lineage_trace(item=item)
    names = dict(ItemKind.objects.values_list("code", "name"))
    elements = _elements(graph, item.code, names)
    legend = [(names.get(kind, kind), colour) for kind, colour in KIND_COLOURS.items()]
    legend.append(("supplier lot", SUPPLIER_COLOUR))
    context: dict[str, Any] = {
        "item": item,
        "direction": direction,
        "elements": elements,
        "legend": legend,
        "large": len(elements["nodes"]) > LARGE_GRAPH,
    }
    if direction == "downstream":
        listed = track_ends_listed(item, LISTED)
        context["ends"] = listed.ends
        context["ends_total"] = listed.total
    return render(request, "web/genealogy.html", context)


@operator
@replica_safe
def track_csv(request: HttpRequest, code: str) -> HttpResponse:
    """What a recall of the item reaches (track_ends), one row per item; text cells are made
    safe for a spreadsheet (a code such as "=HYPERLINK(...)" is not run)."""
    try:
        item = item_get(code)
    except DomainError as error:
        explain(request, error)
        return redirect("web:items")
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for end in track_ends(item=item).iterator(chunk_size=2000):
        writer.writerow(_row(end))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", item.code)
    response["Content-Disposition"] = f'attachment; filename="track-{name}.csv"'
    return response


def _row(end: Item) -> list[Any]:
    return [
        cell_text(end.code),
        cell_text(end.kind_id),
        cell_text(end.status),
        format(end.quantity.normalize(), "f"),
        cell_text(end.unit),
        end.created_at.isoformat(),
    ]
