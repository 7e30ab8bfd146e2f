"""The engineers' pages: items, genealogy, holds and recalls, datasets, the catalog. Every write
goes through the services the API uses; the pages only read forms and show results."""

from collections import defaultdict
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.roles import Role
from datasets.export_rules import exports_visible, sees_every_export, split_default
from datasets.models import ExportStatus
from datasets.services import export_expired, export_request
from datasets.table import GRANULARITIES, GROUP_KEYS
from lots.models import Item
from lots.selectors import item_get, item_queryset
from measurements.files import attachment_response
from measurements.models import Category, Criticality, Parameter
from measurements.selectors import measurement_queryset
from measurements.selectors_profiles import Band, item_curves, roll_profiles
from measurements.selectors_station import machine_parameter_rows
from measurements.services_catalog import parameter_update
from traceability.holds import hold_items, hold_place, hold_release
from traceability.models import Hold, LineageEdge, Step
from traceability.selectors import stations_in_line_order
from traceability.selectors_item import holds_catching, item_lineage, stretch_holds_on

from .access import can, explain, role_required, signed_in
from .templatetags.local_time import local_time

operator = role_required(Role.OPERATOR)
engineer = role_required(Role.ENGINEER)

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"example": Item.objects.filter(kind="cell").order_by("code").first()})


# --- Items -------------------------------------------------------------------------------------


@operator
def items(request: HttpRequest) -> HttpResponse:
    """Find an item by code, Digital Link or EPC (an exact hit opens it), or by part of a code."""
    query = request.GET.get("q", "").strip()
    found: list[Item] = []
    if query:
        try:
            return redirect("web:item", code=item_get(query).code)
        except DomainError:
            found = list(item_queryset().filter(Q(code__icontains=query) | Q(supplier_lot__icontains=query))[:100])
            if not found:
                messages.error(request, f"No item matches {query!r}.")
    return render(request, "web/items.html", {"query": query, "found": found})


def _plots(item: Item, children: list[LineageEdge]) -> list[dict[str, Any]]:
    """The roll's profiles, each daughter's stretch marked, then its curves titled with local time."""
    bands = [
        Band(from_m=edge.parent_from_m, to_m=edge.parent_to_m, label=edge.child.code)
        for edge in children
        if edge.parent_from_m is not None and edge.parent_to_m is not None
    ]
    curves = [
        {
            "title": f"{curve.name}, {local_time(curve.measured_at)}",
            "x": curve.x,
            "y": curve.y,
            "x_title": curve.x_title,
            "y_title": curve.y_title,
            "bands": [],
        }
        for curve in item_curves(item)
    ]
    return roll_profiles(item, bands) + curves


@operator
def item(request: HttpRequest, code: str) -> HttpResponse:
    try:
        item = item_get(code)
    except DomainError as error:
        explain(request, error)
        return redirect("web:items")
    lineage = item_lineage(item)
    operation = item.produced_by
    values = measurement_queryset().filter(item=item, position_m__isnull=True, series__isnull=True)
    context = {
        "item": item,
        "operation": operation,
        "machine_parameters": machine_parameter_rows(operation.parameters if operation else None),
        "parents": lineage.parents,
        "children": lineage.children[:500],
        "more_children": max(0, len(lineage.children) - 500),
        "values": values.order_by("parameter__step_id", "parameter__code", "measured_at"),
        "plots": _plots(item, lineage.children),
        "holds": holds_catching(item),
        "stretch_holds": stretch_holds_on(item),
        "is_roll": item.kind.is_roll,
    }
    return render(request, "web/item.html", context)


@operator
def measurement_file(request: HttpRequest, pk: int) -> HttpResponse | FileResponse:
    """A measurement's file (a cycler export, an image, a report), to signed-in users only."""
    measurement = measurement_queryset(history=True).filter(pk=pk).exclude(file="").first()
    if measurement is None:
        messages.error(request, f"No file for measurement {pk}.")
        return redirect("web:items")
    return attachment_response(measurement.file, sha256=measurement.file_sha256)


# --- Holds -------------------------------------------------------------------------------------


class HoldForm(forms.Form):
    """An item (and, for a recall, all made from it), or a station over a time window."""

    reason = forms.CharField(max_length=500)
    item = forms.CharField(required=False, help_text="code, Digital Link or EPC")
    from_m = forms.FloatField(required=False, min_value=0, label="only metres from", help_text="m, along the item")
    to_m = forms.FloatField(required=False, min_value=0, label="to metre", help_text="what holds these metres is held")
    downstream = forms.BooleanField(required=False, initial=True, label="and everything made from it (recall)")
    station = forms.ChoiceField(required=False, help_text="or everything a station made or took in a time window")
    window_from = forms.DateTimeField(required=False, label="from", widget=DATETIME)
    window_to = forms.DateTimeField(required=False, label="to", widget=DATETIME)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stations = stations_in_line_order().values_list("code", "name")
        field = self.fields["station"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "-")] + [(code, f"{code} {name}") for code, name in stations]


@operator
def holds(request: HttpRequest) -> HttpResponse:
    """Open holds, recent releases, and (engineers) a form to place a hold or a recall."""
    form = HoldForm(request.POST or None, initial={"item": request.GET.get("item", "")})
    if request.method == "POST":
        if not can(request, Role.ENGINEER):
            messages.error(request, "Only engineers place holds. Ask an engineer.")
            return redirect("web:holds")
        if form.is_valid():
            data = form.cleaned_data
            try:
                item = item_get(data["item"]) if data["item"] else None
                result = hold_place(
                    actor=request.user,
                    reason=data["reason"],
                    item=item,
                    station=data["station"] or None,
                    window_from=data["window_from"],
                    window_to=data["window_to"],
                    from_m=data["from_m"],
                    to_m=data["to_m"],
                    downstream=data["downstream"],
                )
            except DomainError as error:
                explain(request, error)
            else:
                messages.success(request, f"Hold {result.hold.pk} placed: {len(result.items)} items on hold.")
                return redirect("web:hold", pk=result.hold.pk)
    queryset = Hold.objects.select_related("item", "station", "created_by", "released_by").order_by("-created_at")
    context = {
        "form": form,
        "open": queryset.filter(released_at__isnull=True),
        "released": queryset.filter(released_at__isnull=False)[:20],
    }
    return render(request, "web/holds.html", context)


@operator
def hold(request: HttpRequest, pk: int) -> HttpResponse:
    held = Hold.objects.select_related("item", "station", "created_by", "released_by").filter(pk=pk).first()
    if held is None:
        messages.error(request, f"No hold {pk}.")
        return redirect("web:holds")
    caught = hold_items(held)
    found = {i.code: i for i in Item.objects.select_related("kind").filter(code__in=caught)}
    by_kind: dict[str, list[Item]] = defaultdict(list)
    for code in caught:
        if code in found:
            by_kind[found[code].kind.name].append(found[code])
    return render(request, "web/hold.html", {"hold": held, "caught": len(caught), "by_kind": dict(by_kind)})


@engineer
@require_POST
def hold_release_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        result = hold_release(actor=request.user, hold_id=pk, reason=request.POST.get("reason", "").strip())
    except DomainError as error:
        explain(request, error)
    else:
        messages.success(request, f"Hold {pk} released: {len(result.items)} items are free again.")
    return redirect("web:hold", pk=pk)


# --- Datasets ----------------------------------------------------------------------------------


class ExportForm(forms.Form):
    granularity = forms.ChoiceField(choices=[(g, g) for g in GRANULARITIES], initial="cell")
    format = forms.ChoiceField(choices=[("parquet", "Parquet"), ("csv", "CSV"), ("json", "JSON Lines")])
    layout = forms.ChoiceField(choices=[("wide", "wide: one row per item"), ("long", "long: one row per value")])
    steps = forms.MultipleChoiceField(required=False, help_text="only the parameters of these steps")
    parameters = forms.CharField(required=False, help_text="only these parameter codes, separated by commas")
    criticality_ml = forms.ChoiceField(
        required=False,
        label="criticality for ML models",
        choices=[("", "any")] + [(grade, f"at least {grade}") for grade in Criticality.values],
    )
    created_after = forms.DateTimeField(required=False, widget=DATETIME)
    split_by = forms.ChoiceField(
        required=False, label="train/test split by", choices=[("", "no split")] + [(s, s) for s, _k in GROUP_KEYS]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["steps"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = list(Step.objects.order_by("pk").values_list("code", "name"))


@operator
def datasets(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.POST or None)
    if request.method == "POST":
        if not can(request, Role.ENGINEER):
            messages.error(request, "Only engineers start exports.")
            return redirect("web:datasets")
        if form.is_valid():
            data = form.cleaned_data
            codes = [code.strip() for code in data["parameters"].split(",") if code.strip()]
            if data["steps"]:
                codes += list(Parameter.objects.filter(step_id__in=data["steps"]).values_list("code", flat=True))
            created_after: datetime | None = data["created_after"]
            try:
                export = export_request(
                    actor=signed_in(request),
                    granularity=data["granularity"],
                    format=data["format"],
                    layout=data["layout"],
                    filters={"created_after": created_after.isoformat()} if created_after else None,
                    parameters=codes or None,
                    criticality={"ml": data["criticality_ml"]} if data["criticality_ml"] else None,
                    split=split_default(data["split_by"]) if data["split_by"] else None,
                )
            except DomainError as error:
                explain(request, error)
            else:
                return redirect("web:export", pk=export.pk)
    user = signed_in(request)
    exports = exports_visible(user).order_by("-pk")[:20]
    context = {"form": form, "exports": exports, "everyone": sees_every_export(user)}
    return render(request, "web/datasets.html", context)


@operator
def export(request: HttpRequest, pk: int) -> HttpResponse:
    """The export's progress; htmx polls the `progress` fragment until it is done."""
    found = exports_visible(signed_in(request)).filter(pk=pk).first()
    if found is None:
        messages.error(request, f"No export {pk} of yours.")
        return redirect("web:datasets")
    context = {
        "export": found,
        "finished": found.status in (ExportStatus.DONE, ExportStatus.FAILED),
        "expired": export_expired(found),
        "percent": round(found.progress * 100),
    }
    template = "web/_export_progress.html" if request.headers.get("HX-Request") else "web/export.html"
    return render(request, template, context)


# --- Catalog -----------------------------------------------------------------------------------


class ParameterForm(forms.Form):
    typical_min = forms.FloatField(required=False)
    typical_max = forms.FloatField(required=False)
    criticality_empirical = forms.ChoiceField(required=False, choices=[("", "-")] + Criticality.choices)
    criticality_continuum = forms.ChoiceField(required=False, choices=[("", "-")] + Criticality.choices)
    criticality_discrete = forms.ChoiceField(required=False, choices=[("", "-")] + Criticality.choices)
    criticality_ml = forms.ChoiceField(required=False, choices=[("", "-")] + Criticality.choices)


@operator
def catalog(request: HttpRequest) -> HttpResponse:
    """The parameter catalog as the paper's tables: by step and category, searchable."""
    parameters = Parameter.objects.select_related("step").order_by("step__pk", "category", "code")
    query = request.GET.get("q", "").strip()
    step = request.GET.get("step", "")
    category = request.GET.get("category", "")
    if query:
        parameters = parameters.filter(Q(code__icontains=query) | Q(name__icontains=query))
    if step:
        parameters = parameters.filter(step_id=step) if step != "none" else parameters.filter(step__isnull=True)
    if category:
        parameters = parameters.filter(category=category)
    context = {
        "parameters": parameters,
        "query": query,
        "step": step,
        "category": category,
        "steps": Step.objects.order_by("pk"),
        "categories": Category.choices,
    }
    return render(request, "web/catalog.html", context)


@engineer
def parameter_edit(request: HttpRequest, code: str) -> HttpResponse:
    parameter = Parameter.objects.select_related("step").filter(code=code).first()
    if parameter is None:
        messages.error(request, f"No parameter {code!r}.")
        return redirect("web:catalog")
    initial = {name: getattr(parameter, name) for name in ParameterForm.base_fields}
    form = ParameterForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            parameter_update(actor=request.user, code=code, data=form.cleaned_data)
        except DomainError as error:
            explain(request, error)
        else:
            messages.success(request, f"{parameter.name} saved.")
            return redirect(reverse("web:catalog") + f"?q={code}")
    return render(request, "web/parameter_edit.html", {"parameter": parameter, "form": form})
