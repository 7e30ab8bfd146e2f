"""The cutting part of the station form: a lane cut into sheets, each sheet a stretch of the
lane (from its next unused metre, one pitch each), and the numbers the operator types."""

import math
import re
from typing import Any

from core.errors import DomainError, InvalidInput
from core.units import convert, is_length, parse_unit
from lots.models import Item, ItemKind, ItemLevel
from measurements.selectors_station import sheet_pitch
from traceability.cutting import Cut
from traceability.models import Station
from traceability.selectors import next_unused_metre
from traceability.services import InputSpec
from traceability.station_rules import cut_lane

# "0.15 m" typed in one box: a number, then a unit.
QUANTITY_WITH_UNIT = re.compile(r"^\s*([0-9]+(?:[.,][0-9]*)?)\s*([A-Za-z_µ]+)\s*$")


def _text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def cut_context(draft: dict[str, Any], station: Station, lane: Item) -> dict[str, Any]:
    """From, pitch and count of the sheets, as typed, else the lane's next unused metre and the
    station's sheet pitch, for the operator to confirm."""
    typed = draft.get("cut", {})
    pitch = sheet_pitch(station=station, step=draft["step"], entered=draft.get("entered", {}))
    following = next_unused_metre(lane)
    return {
        "lane": lane,
        "next": _text(following),
        "from": typed.get("from") or _text(following),
        "pitch": typed.get("pitch") or _text(pitch),
    }


def form_number(text: str, field: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # "nan", "inf", "1e400" would pass every comparison after
        raise InvalidInput(f"{field} is not a number: {text!r}.", field=field)
    return value


def _is_length(text: str) -> bool:
    """Whether `text` names a length unit (a wrong or empty unit is not one: it fails later, named)."""
    try:
        return bool(text) and is_length(str(parse_unit(text, field="unit")))
    except DomainError:
        return False


def length_as_pitch(draft: dict[str, Any]) -> str | None:
    """A length typed as the sheets' quantity ("0.15 m") at a cut is one sheet's length: a sheet
    is counted, so the length goes into the pitch and the count follows from the length taken.
    Returns what the operator is told (the form comes back rewritten, nothing recorded)."""
    output = draft["output"]
    match = QUANTITY_WITH_UNIT.match(output["quantity"])
    text, unit = (match.group(1), match.group(2)) if match else (output["quantity"], output["unit"])
    if not text or not _is_length(unit):
        return None
    pitch = convert(form_number(text, "output quantity") or 0.0, unit, "m", field="output-unit")
    if pitch <= 0:
        raise InvalidInput("A sheet's length must be positive.", field="output-quantity")
    entry = draft["inputs"][0]
    taken = form_number(entry["quantity"], f"quantity of {entry['item']}")
    if taken:
        taken_m = convert(taken, entry["unit"], "m", field=f"input-{entry['item']}-quantity")
        count = int(taken_m / pitch + 1e-6)
    else:
        count = int(form_number(output["count"], "number of outputs") or 1)
        taken_m = count * pitch
    output.update(quantity="", unit="", count=str(count))
    draft["cut"]["pitch"] = _text(round(pitch, 6))
    return (
        f"{text} {unit} is the length of one sheet, not its quantity (a sheet is counted, one per label): "
        f"it is now the pitch, so {taken_m:g} m make {count} sheets. Check from, pitch and count, then finish again."
    )


def cutting(draft: dict[str, Any]) -> bool:
    codes = [entry["item"] for entry in draft["inputs"]]
    return cut_lane(draft["step"], codes, draft["output"]["kind"]) is not None


def cut_of(draft: dict[str, Any], station: Station, lane: Item) -> Cut:
    """The sheets' stretch on the lane, from the form, else the lane's next unused metre and the
    station's sheet pitch (what the page showed)."""
    output = draft["output"]
    if output["quantity"] or output["unit"]:  # a length there went into the pitch already
        raise InvalidInput(
            "A sheet is counted, one per label: leave its quantity and unit empty; its length is the pitch.",
            field="output-quantity",
        )
    start = form_number(draft["cut"]["from"], "from (first metre)")
    pitch = form_number(draft["cut"]["pitch"], "pitch")
    if pitch is None:
        pitch = sheet_pitch(station=station, step=draft["step"], entered=draft["entered"])
        if pitch is None:
            raise InvalidInput("Enter the pitch: the metres of lane each sheet takes.", field="cut-pitch")
    count = form_number(output["count"], "number of outputs")
    if count is None or count != int(count):
        raise InvalidInput("Enter how many sheets were cut (a whole number).", field="output-count")
    return Cut(
        lane=lane.code,
        start_m=next_unused_metre(lane) if start is None else start,
        pitch_m=pitch,
        count=int(count),
        kind=output["kind"],
    )


def counted_check(kind_code: str, output: dict[str, Any]) -> None:
    """A sheet, a stack, a cell is one per item: a length typed as its quantity failed deep in the
    service as "'m' cannot be converted to 'count'"; here it is refused naming the box to empty."""
    match = QUANTITY_WITH_UNIT.match(output["quantity"])
    unit = match.group(2) if match else output["unit"]
    kind = ItemKind.objects.filter(code=kind_code, level=ItemLevel.INSTANCE).first()
    if kind is not None and _is_length(unit):
        raise InvalidInput(
            f"A {kind.name.lower()} is counted, one per label, not measured in {unit}: "
            "leave its quantity and unit empty and enter how many were made.",
            field="output-quantity",
        )


def input_specs(draft: dict[str, Any], cut: Cut | None) -> list[InputSpec]:
    inputs = []
    for entry in draft["inputs"]:
        quantity = form_number(entry["quantity"], f"quantity of {entry['item']}")
        unit = entry["unit"] if quantity else None
        if cut is not None and quantity is None:  # a cut takes what its sheets span
            quantity, unit = round(cut.end_m - cut.start_m, 6), "m"
        inputs.append(InputSpec(item=entry["item"], quantity=quantity, unit=unit, consume=entry["consume"]))
    return inputs
