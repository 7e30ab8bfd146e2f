"""The station page: an operator at a station with a handheld scanner (which types the code and
presses Enter), gloves on. Large controls, one scan box that always has the focus.

The operation being prepared lives in the session until it is finished, then it is recorded by
`operation_record`, the API's service, in one transaction: nothing is written before.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from core.errors import DomainError, InvalidInput
from core.roles import Role
from lots.models import Item, ItemStatus
from measurements.selectors_station import (
    machine_parameters,
    machine_settings,
    measurable_offline,
    settings_outside_range,
)
from traceability.cutting import Cut, cut_record
from traceability.models import Station
from traceability.runs import run_start, runs_open
from traceability.scanning import item_scan, last_parameters, step_refuses
from traceability.selectors import stations_in_line_order
from traceability.services import InputSpec, OutputSpec, ScrapSpec, operation_record, station_get
from traceability.station_rules import (
    OUTPUT_KINDS,
    TakenInput,
    cut_lane,
    kinds_made,
    lane_made_from,
    run_streams,
    scrap_charged,
    step_consumes,
)

from .access import explain, role_required, signed_in
from .once import new_token, submit_once, submitted
from .station_cut import counted_check, cut_context, cut_of, cutting, form_number, input_specs, length_as_pitch

STATION_COOKIE = "celltrace_station"
operator = role_required(Role.OPERATOR)


def _draft_key(station: str) -> str:
    return f"draft:{station}"


def in_hand_key(station: str) -> str:
    return f"in_hand:{station}"


def station_of(code: str) -> Station:
    """The station of the URL; an unknown one is a 404, as for any unknown page."""
    try:
        return station_get(code)
    except DomainError as error:
        raise Http404(error.message) from None


@operator
def station_pick(request: HttpRequest) -> HttpResponse:
    """Pick the station once; the browser remembers it (a cookie) for the next sign-in."""
    if request.method == "POST":
        station = Station.objects.filter(code=request.POST.get("station", "")).first()
        if station is None:
            messages.error(request, "Pick one of the stations below.")
            return redirect(reverse("web:station-pick") + "?change=1")
        response = redirect("web:station", code=station.code)
        response.set_cookie(STATION_COOKIE, station.code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
        return response
    remembered = request.COOKIES.get(STATION_COOKIE, "")
    if remembered and "change" not in request.GET and Station.objects.filter(code=remembered).exists():
        return redirect("web:station", code=remembered)
    stations = stations_in_line_order().prefetch_related("steps")
    return render(request, "web/station_pick.html", {"stations": stations})


def _parameter_rows(
    step: str, station: Station, entered: dict[str, Any], outside: dict[str, str]
) -> list[dict[str, Any]]:
    """The step's machine parameters from the catalog, pre-filled with what the operator entered,
    else the station's last run of the step; `outside` says which to confirm, and why."""
    last = last_parameters(station=station, step=step)
    rows = []
    for parameter in machine_parameters(step).order_by("code"):
        previous = last.get(parameter.code, {})
        value = entered.get(parameter.code, previous.get("value", ""))
        unit = previous.get("unit") or parameter.unit
        rows.append(
            {
                "parameter": parameter,
                "value": value,
                "unit": unit,
                "from_last_run": parameter.code in last,
                "outside": outside.get(parameter.code, ""),
            }
        )
    return rows


@operator
def station(request: HttpRequest, code: str) -> HttpResponse:
    station = Station.objects.filter(code=code).first()
    if station is None:
        messages.error(request, f"There is no station {code}: pick one.")
        return redirect(reverse("web:station-pick") + "?change=1")
    draft = request.session.get(_draft_key(station.code))
    scan = None
    in_hand = request.session.get(in_hand_key(station.code))
    if in_hand:
        try:
            scan = item_scan(code=in_hand, station=station)
        except DomainError:
            request.session.pop(in_hand_key(station.code), None)
    context: dict[str, Any] = {
        "station": station,
        "steps": list(station.steps.all()),
        "scan": scan,
        "draft": draft,
        "measurable": measurable_offline(list(station.steps.values_list("code", flat=True))) if scan else [],
        "open_runs": list(runs_open(station=station).prefetch_related("outputs")),
    }
    if draft:
        codes = [x["item"] for x in draft["inputs"]]
        items = {i.code: i for i in Item.objects.select_related("kind").filter(code__in=codes)}
        output_kind = draft.get("output", {}).get("kind") or OUTPUT_KINDS.get(draft["step"], "")
        lane = cut_lane(draft["step"], codes, output_kind)
        context.update(
            inputs=[{**entry, "obj": items.get(entry["item"])} for entry in draft["inputs"]],
            parameters=_parameter_rows(draft["step"], station, draft.get("entered", {}), draft.get("confirm") or {}),
            kinds=kinds_made(station, output_kind),
            output_kind=output_kind,
            output=draft.get("output", {}),
            started_at=parse_datetime(draft["started_at"]),
            cut=cut_context(draft, station, lane) if lane is not None else None,
            streams=run_streams(draft["step"]) and lane is None,
        )
    return render(request, "web/station.html", context)


def _add_input(draft: dict[str, Any], item: Item) -> bool:
    """Add the item once, pre-ticked as used up when the step uses it up (station_rules)."""
    if any(entry["item"] == item.code for entry in draft["inputs"]):
        return False
    consume = step_consumes(item.kind, draft["step"])
    draft["inputs"].append({"item": item.code, "quantity": "", "unit": item.unit, "consume": consume})
    return True


@operator
@require_POST
def station_scan(request: HttpRequest, code: str) -> HttpResponse:
    """A scan shows the item; with an operation started, a usable item also becomes an input."""
    station = station_of(code)
    text = request.POST.get("code", "")
    if not text.strip():
        messages.error(request, "Nothing was scanned: scan a label or type its code.")
        return redirect("web:station", code=station.code)
    try:
        scan = item_scan(code=text, station=station)
    except DomainError as error:
        # The card of the item scanned before would read as this scan's answer: drop it.
        request.session.pop(in_hand_key(station.code), None)
        explain(request, error)
        return redirect("web:station", code=station.code)
    request.session[in_hand_key(station.code)] = scan.item.code
    draft = request.session.get(_draft_key(station.code))
    if draft is not None:
        refused = step_refuses(scan.item, draft["step"])
        if not scan.usable:
            messages.error(
                request,
                f"{scan.item.code} cannot be used in this operation: {'; '.join(scan.warnings)}. It was not added.",
            )
        elif refused is not None:
            messages.error(request, refused)
        elif _add_input(draft, scan.item):
            request.session.modified = True
            messages.success(request, f"{scan.item.code} added as an input.")
    return redirect("web:station", code=station.code)


@operator
@require_POST
def station_start(request: HttpRequest, code: str) -> HttpResponse:
    station = station_of(code)
    step = request.POST.get("step", "")
    if not station.steps.filter(code=step).exists():
        messages.error(request, f"Station {station.code} does not run {step or 'that step'}: pick one of its steps.")
        return redirect("web:station", code=station.code)
    draft: dict[str, Any] = {"step": step, "started_at": timezone.now().isoformat(), "inputs": [], "token": new_token()}
    in_hand = request.session.get(in_hand_key(station.code))
    if in_hand:
        item = Item.objects.select_related("kind").filter(code=in_hand, status=ItemStatus.ACTIVE).first()
        if item is not None and step_refuses(item, step) is None:
            _add_input(draft, item)
    request.session[_draft_key(station.code)] = draft
    messages.success(request, f"{step.replace('_', ' ').capitalize()} started. Scan its inputs.")
    return redirect("web:station", code=station.code)


@operator
@require_POST
def station_remove_input(request: HttpRequest, code: str, item: str) -> HttpResponse:
    draft = request.session.get(_draft_key(code))
    if draft is not None:
        draft["inputs"] = [entry for entry in draft["inputs"] if entry["item"] != item]
        request.session.modified = True
    return redirect("web:station", code=code)


@operator
@require_POST
def station_cancel(request: HttpRequest, code: str) -> HttpResponse:
    if request.session.pop(_draft_key(code), None) is not None:
        messages.info(request, "The operation was cancelled; nothing was recorded.")
    return redirect("web:station", code=code)


def _read_form(request: HttpRequest, draft: dict[str, Any]) -> None:
    """Keep what the operator typed in the draft, so that a refused form comes back filled in."""
    post = request.POST
    for entry in draft["inputs"]:
        entry["quantity"] = post.get(f"input-{entry['item']}-quantity", "").strip()
        # Any unit of the kind's dimensions: kg of a solvent counted in litres, through its density.
        entry["unit"] = post.get(f"input-{entry['item']}-unit", "").strip() or entry["unit"]
        entry["consume"] = post.get(f"input-{entry['item']}-consume") == "on"
    draft["entered"] = {
        name.removeprefix("param-"): post.get(name, "").strip() for name in post if name.startswith("param-")
    }
    draft["output"] = {
        "kind": post.get("output-kind", ""),
        "count": post.get("output-count", "").strip(),
        "quantity": post.get("output-quantity", "").strip(),
        "unit": post.get("output-unit", "").strip(),
        "lanes": post.get("output-lanes") == "on",
    }
    draft["cut"] = {"from": post.get("cut-from", "").strip(), "pitch": post.get("cut-pitch", "").strip()}
    draft["scrap"] = {
        "quantity": post.get("scrap-quantity", "").strip(),
        "unit": post.get("scrap-unit", "").strip(),
        "reason": post.get("scrap-reason", "").strip(),
    }


@dataclass(frozen=True)
class _Specs:
    """The operation the finished form describes, as the services take it."""

    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    scrap: list[ScrapSpec]
    parameters: dict[str, Any]
    cut: Cut | None


def _outputs(draft: dict[str, Any], cut: Cut | None) -> list[OutputSpec]:
    output = draft["output"]
    count = int(form_number(output["count"], "number of outputs") or 0) if output["kind"] and cut is None else 0
    if count < 0 or count > 500:
        raise InvalidInput("The number of outputs is between 0 and 500.", field="output-count")
    if count:
        counted_check(output["kind"], output)
    quantity = form_number(output["quantity"], "output quantity")
    made_from = lane_made_from([entry["item"] for entry in draft["inputs"]]) if output["lanes"] else None
    return [
        OutputSpec(
            kind=output["kind"],
            quantity=quantity,
            unit=output["unit"] or None,
            lane=number if output["lanes"] else None,
            made_from=made_from,
        )
        for number in range(1, count + 1)
    ]


def _specs(draft: dict[str, Any], station: Station) -> _Specs:
    codes = [entry["item"] for entry in draft["inputs"]]
    lane = cut_lane(draft["step"], codes, draft["output"]["kind"])
    cut = cut_of(draft, station, lane) if lane is not None else None
    inputs = input_specs(draft, cut)
    outputs = _outputs(draft, cut)
    scrap = scrap_charged(
        [TakenInput(item=entry["item"], unit=entry["unit"]) for entry in draft["inputs"]],
        quantity=form_number(draft["scrap"]["quantity"], "scrap quantity"),
        unit=draft["scrap"]["unit"],
        reason=draft["scrap"]["reason"],
    )
    parameters = machine_settings(draft["step"], draft["entered"])
    return _Specs(inputs=inputs, outputs=outputs, scrap=scrap, parameters=parameters, cut=cut)


@operator
@require_POST
def station_finish(request: HttpRequest, code: str) -> HttpResponse:
    """Record the operation: inputs, machine parameters, outputs and scrap, in one transaction."""
    return _record(request, code, open_run=False)


@operator
@require_POST
def station_run_start(request: HttpRequest, code: str) -> HttpResponse:
    """Record the operation now, open (no end), so that the values the machine streams during
    the run find its outputs; the page then offers to finish it."""
    return _record(request, code, open_run=True)


def _record(request: HttpRequest, code: str, *, open_run: bool) -> HttpResponse:
    station = station_of(code)
    token = request.POST.get("submission", "")
    user = signed_in(request)
    first = submitted(user_id=user.pk, token=token)
    if first is not None:  # a second tap after the first was recorded: show what the first made
        return redirect("web:station-done", code=station.code, pk=first)
    draft = request.session.get(_draft_key(station.code))
    if draft is None or draft.get("token") != token:
        messages.error(request, "No operation is open at this station: start one first.")
        return redirect("web:station", code=station.code)
    _read_form(request, draft)
    request.session.modified = True
    try:
        hint = length_as_pitch(draft) if cutting(draft) else None
        if hint is not None:
            messages.warning(request, hint)
            return redirect("web:station", code=station.code)
        specs = _specs(draft, station)
        if _ranges_unconfirmed(request, draft, specs):
            return redirect("web:station", code=station.code)
        record = _recorder(user, station, draft, specs, open_run=open_run)
        operation_id, _first = submit_once(user_id=user.pk, token=token, path=request.path, write=record)
    except DomainError as error:
        explain(request, error)
        return redirect("web:station", code=station.code)
    request.session.pop(_draft_key(station.code), None)
    return redirect("web:station-done", code=station.code, pk=operation_id)


def _ranges_unconfirmed(request: HttpRequest, draft: dict[str, Any], specs: _Specs) -> bool:
    """Whether settings outside their range wait for the operator's tick; the warning names them."""
    outside = settings_outside_range(specs.parameters)
    confirmed = set(request.POST.getlist("confirm-range"))
    if outside and "on" not in confirmed and not set(outside) <= confirmed:
        text = "; ".join(outside.values())
        messages.warning(request, text + ". Check the value, or tick the box beside it to record it anyway.")
        draft["confirm"] = outside
        return True
    return False


def _recorder(
    user: User, station: Station, draft: dict[str, Any], specs: _Specs, *, open_run: bool
) -> Callable[[], int]:
    """The write of the operation (a cut, an open run or a plain one), run once per submission;
    its operation id."""
    started = parse_datetime(draft["started_at"]) or timezone.now()
    ended = max(timezone.now(), started + timedelta(seconds=1))

    def record() -> int:
        common = {
            "actor": user,
            "step": draft["step"],
            "station": station.code,
            "started_at": started,
            "inputs": specs.inputs,
            "parameters": specs.parameters,
            "scrap": specs.scrap,
        }
        if open_run and specs.cut is None:
            return run_start(**common, outputs=specs.outputs).operation.pk
        common["ended_at"] = ended
        if specs.cut is not None:
            return cut_record(**common, cut=specs.cut).operation.pk
        return operation_record(**common, outputs=specs.outputs).operation.pk

    return record
