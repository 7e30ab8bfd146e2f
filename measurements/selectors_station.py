"""The catalog as a station reads it: the machine parameters of a step, the settings the
operator typed read as values, and those outside their typical range."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import QuerySet

from core.errors import DomainError
from core.units import convert
from traceability.scanning import last_parameters
from traceability.selectors import last_run_pitch

from .models import Category, Parameter, Scope
from .services import out_of_range


def machine_parameters(step: str) -> QuerySet[Parameter]:
    """What the operator sets on the machine of `step`: its MP rows of step scope, not the
    material properties the catalog files under the step (a powder's D10, D50, D90)."""
    return Parameter.objects.filter(step_id=step, category=Category.MP, scope=Scope.STEP)


def measurable_offline(steps: Sequence[str]) -> list[Parameter]:
    """What can be measured offline on an item at a station: its steps' non-online parameters."""
    return list(Parameter.objects.filter(step_id__in=list(steps)).exclude(online=True).order_by("step_id", "code"))


def machine_settings(step: str, entered: Mapping[str, str]) -> dict[str, Any]:
    """The typed settings of `step`'s machine parameters as recorded: a number in the catalog's
    unit ("," read as "."), else the text (the knife type); blanks and unknown codes are left out."""
    catalog = {p.code: p for p in machine_parameters(step)}
    settings: dict[str, Any] = {}
    for name, text in entered.items():
        if not text or name not in catalog:
            continue
        try:
            settings[name] = {"value": float(text.replace(",", ".")), "unit": catalog[name].unit}
        except ValueError:
            settings[name] = {"value": text}
    return settings


def settings_outside_range(settings: Mapping[str, Any]) -> dict[str, str]:
    """{code: why} for each numeric setting outside its parameter's typical range."""
    found = {}
    for parameter in Parameter.objects.filter(code__in=list(settings)).order_by("code"):
        value = settings[parameter.code]["value"]
        if isinstance(value, float) and out_of_range(parameter, [value]):
            found[parameter.code] = (
                f"{parameter.name} {value:g} {parameter.unit} is outside the typical range "
                f"{parameter.typical_min:g} to {parameter.typical_max:g} {parameter.unit}"
            )
    return found


def machine_parameter_rows(parameters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """An operation's machine parameters by name (code beside it), sorted by name; a code the
    catalog no longer has is shown as it was recorded."""
    if not parameters:
        return []
    names = dict(Parameter.objects.filter(code__in=list(parameters)).values_list("code", "name"))
    rows = [
        {
            "code": code,
            "name": names.get(code, code),
            "value": entry.get("value") if isinstance(entry, dict) else entry,
            "unit": entry.get("unit", "") if isinstance(entry, dict) else "",
        }
        for code, entry in parameters.items()
    ]
    return sorted(rows, key=lambda row: (row["name"].lower(), row["code"]))


def sheet_pitch(*, station: Any, step: str, entered: dict[str, str] | None = None) -> float | None:
    """Metres of lane per sheet at `station`'s `step`: the step's pitch or sheet-length machine
    parameter in the catalog (as typed on the form, else from the station's last run), else the
    pitch of the station's last run computed from its edges; None when neither is known."""
    codes = Parameter.objects.filter(step_id=step, category=Category.MP).values_list("code", "unit")
    ranked = sorted(
        ((code, unit) for code, unit in codes if "pitch" in code or "sheet_length" in code),
        key=lambda pair: ("pitch" not in pair[0], pair[0]),
    )
    last = last_parameters(station=station, step=step)
    for code, catalog_unit in ranked:
        text = (entered or {}).get(code, "")
        value: Any = text.replace(",", ".") if text else last.get(code, {}).get("value")
        unit = (last.get(code, {}).get("unit") if not text else None) or catalog_unit
        try:
            metres = convert(float(value), str(unit), "m", field=code)
        except (TypeError, ValueError, DomainError):
            continue
        if metres > 0:
            return round(metres, 6)
    return last_run_pitch(station, step)
