"""The station page after an operation: what it made with its labels to print, and offline
measurements of the item in hand (through the API's service)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import DomainError, InvalidInput
from lots.models import Item
from measurements.models import Measurement
from measurements.selectors_limits import limit_applying, limit_text
from measurements.services import MeasurementInput, measurement_record
from traceability.models import Operation
from traceability.runs import operation_finish, runs_open

from .access import explain, signed_in
from .station_cut import form_number
from .views_station import in_hand_key, operator, station_of


def _outside_limits(measurement: Measurement) -> str:
    """The warning for a value outside its specification limits, with the hold it placed."""
    limit = limit_applying(measurement.parameter_id, measurement.item_id)
    text = f"It is OUTSIDE the specification: {limit_text(limit)}." if limit else "It is outside the specification."
    if limit is not None and limit.on_violation == "hold":
        text += " The item (or the stretch around the value) is now on hold."
    return text


@operator
def station_done(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    """What the operation made, with its labels to print."""
    station = station_of(code)
    operation = (
        Operation.objects.select_related("step", "station", "created_by")
        .prefetch_related("inputs__item")
        .filter(pk=pk, station=station)
        .first()
    )
    if operation is None:
        messages.error(request, f"No operation {pk} at {station.code}.")
        return redirect("web:station", code=station.code)
    outputs = list(Item.objects.select_related("kind").filter(produced_by=operation).order_by("code"))
    outside = list(
        Measurement.objects.select_related("parameter").filter(operation=operation, out_of_limits=True).order_by("pk")
    )
    context = {"station": station, "operation": operation, "outputs": outputs, "outside_limits": outside}
    return render(request, "web/station_done.html", context)


@operator
def labels(request: HttpRequest) -> HttpResponse:
    """A sheet of QR labels to print: ?items=A,B,C."""
    codes = [code for code in request.GET.get("items", "").split(",") if code][:500]
    items = list(Item.objects.select_related("kind").filter(code__in=codes).order_by("code"))
    return render(request, "web/labels.html", {"items": items})


@operator
@require_POST
def station_measure(request: HttpRequest, code: str) -> HttpResponse:
    """An offline measurement of the item in hand, through the API's service."""
    station = station_of(code)
    item = request.session.get(in_hand_key(station.code))
    if not item:
        messages.error(request, "Scan the item you measured first.")
        return redirect("web:station", code=station.code)
    try:
        value = form_number(request.POST.get("value", ""), "value")
        if value is None:
            raise InvalidInput("Enter the value you measured.", field="value")
        recorded = measurement_record(
            actor=request.user,
            data=MeasurementInput(
                parameter=request.POST.get("parameter", ""),
                value=value,
                unit=request.POST.get("unit", "").strip() or None,
                item=item,
                measured_at=timezone.now(),
                source="offline",
                instrument=request.POST.get("instrument", "").strip(),
            ),
        )
    except DomainError as error:
        explain(request, error)
        return redirect("web:station", code=station.code)
    measurement = recorded.measurement
    text = f"Recorded {measurement.parameter.name} = {measurement.value:g} {measurement.parameter.unit} on {item}."
    if measurement.out_of_limits:
        messages.warning(request, text + " " + _outside_limits(measurement))
    elif measurement.out_of_range:
        messages.warning(request, text + " It is outside the typical range: check it.")
    else:
        messages.success(request, text)
    return redirect("web:station", code=station.code)


@operator
@require_POST
def station_run_finish(request: HttpRequest, code: str, pk: int) -> HttpResponse:
    """Finish an open run of this station now: values sent after this no longer find its roll."""
    station = station_of(code)
    run = runs_open(station=station).filter(pk=pk).first()
    if run is None:
        messages.error(request, f"Run {pk} is not open at {station.code}: it may have been finished already.")
        return redirect("web:station", code=station.code)
    try:
        operation_finish(
            actor=signed_in(request), operation_id=run.pk, ended_at=timezone.now(), from_station=station.code
        )
    except DomainError as error:
        explain(request, error)
        return redirect("web:station", code=station.code)
    messages.success(request, f"{run.step.name} run {run.pk} finished.")
    return redirect("web:station-done", code=station.code, pk=run.pk)
