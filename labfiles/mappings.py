"""What a saved mapping may hold: every field checked, the values against the catalog.

`mapping_clean` takes the fields as sent (JSON) and returns them as the model stores them, or
raises InvalidInput naming the field (`values[0].parameter`). Each value column's parameter must
exist and its unit must convert to the parameter's canonical unit: the same helpers as a
measurement (measurements.services.parameter_get, linear_to_canonical), so a mapping that saves
never fails an import on its units.
"""

import functools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.errors import ErrorCode, InvalidInput
from measurements.models import Measurement, Source
from measurements.services import linear_to_canonical, parameter_get

from .models import HEADER_ROW_MAX, FileFormat, ImportMapping

FIELDS = (
    "code",
    "format",
    "sheet",
    "header_row",
    "delimiter",
    "decimal",
    "item_column",
    "time_column",
    "time_zone",
    "time_format",
    "position_column",
    "source",
    "instrument",
    "values",
)
REQUIRED = ("code", "format", "item_column", "time_column", "time_zone", "values")
MAX_VALUE_COLUMNS = 200
_CODE = re.compile(r"[-a-zA-Z0-9_]+")
_VALUE_KEYS = frozenset({"column", "parameter", "unit"})
_UNIT_MAX = int(getattr(Measurement._meta.get_field("sent_unit"), "max_length", 0) or 32)


def _max_length(name: str) -> int:
    return int(getattr(ImportMapping._meta.get_field(name), "max_length", 0) or 0)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _text(data: Mapping[str, Any], name: str, *, required: bool, limit: int | None = None, field: str = "") -> str:
    raw = data.get(name)
    field = field or name
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise InvalidInput(f"{name} is required.", field=field)
        return ""
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} is text.", field=field)
    text = raw.strip()
    limit = limit or _max_length(name)
    if len(text) > limit:
        raise InvalidInput(f"At most {limit} characters.", field=field)
    return text


def _header_row(raw: object) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidInput("header_row is a whole number (the sheet's row number).", field="header_row")
    if not 1 <= raw <= HEADER_ROW_MAX:
        raise InvalidInput(f"header_row lies between 1 and {HEADER_ROW_MAX} (Excel's last row).", field="header_row")
    return raw


def _delimiter(raw: object) -> str:
    if raw is None or raw == "":
        return ","
    if not isinstance(raw, str) or len(raw) != 1 or raw in '"\r\n\x00' or raw.isalnum():
        raise InvalidInput("delimiter is one character such as , ; or a tab.", field="delimiter")
    return raw


def _decimal(raw: object) -> str:
    if raw is None or raw == "":
        return "."
    if raw not in (".", ","):
        raise InvalidInput('decimal is "." or ",".', field="decimal")
    return str(raw)


_SAMPLE = datetime(2026, 3, 2, 9, 10, 11)  # noqa: DTZ001  (a wall time, as a file writes it)


def _time_format(data: Mapping[str, Any]) -> str:
    """A strptime format that reads back the time it writes (to the minute at least)."""
    text = _text(data, "time_format", required=False)
    if not text:
        return ""
    try:
        back = datetime.strptime(_SAMPLE.strftime(text), text)  # noqa: DTZ007  (naive: read in time_zone)
    except ValueError:
        back = None
    if back is None or back.replace(second=0, tzinfo=None) != _SAMPLE.replace(second=0):
        raise InvalidInput(
            "time_format is a strptime format with the date and the time to the minute, e.g. %d.%m.%Y %H:%M:%S.",
            field="time_format",
        )
    return text


def _time_zone(data: Mapping[str, Any]) -> str:
    name = _text(data, "time_zone", required=True)
    if name not in _zones():
        raise InvalidInput(f"Unknown time zone {name!r}; use an IANA name such as Europe/Berlin.", field="time_zone")
    return name


def _value(index: int, raw: object) -> dict[str, Any]:
    prefix = f"values[{index}]"
    if not isinstance(raw, dict):
        raise InvalidInput('Each value is {"column", "parameter", "unit"}.', field=prefix)
    unknown = sorted(str(key) for key in raw if key not in _VALUE_KEYS)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a field of a value column.",
            field=f"{prefix}.{unknown[0]}",
            code=ErrorCode.UNKNOWN_FIELD,
        )
    column = _text(raw, "column", required=True, limit=_max_length("item_column"), field=f"{prefix}.column")
    code = _text(raw, "parameter", required=True, limit=64, field=f"{prefix}.parameter")
    parameter = parameter_get(code, field=f"{prefix}.parameter")
    unit = _text(raw, "unit", required=False, limit=_UNIT_MAX, field=f"{prefix}.unit")
    linear_to_canonical(unit or None, parameter, field=f"{prefix}.unit")
    return {"column": column, "parameter": parameter.code, "unit": unit}


def _values(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("values lists the value columns, at least one.", field="values")
    if len(raw) > MAX_VALUE_COLUMNS:
        raise InvalidInput(f"At most {MAX_VALUE_COLUMNS} value columns.", field="values")
    return [_value(index, entry) for index, entry in enumerate(raw)]


def _columns_distinct(clean: Mapping[str, Any]) -> None:
    """One sheet column plays one part: an item column that is also a value column is a slip."""
    seen: dict[str, str] = {}
    named = [("item_column", clean["item_column"]), ("time_column", clean["time_column"])]
    if clean["position_column"]:
        named.append(("position_column", clean["position_column"]))
    named += [(f"values[{i}].column", entry["column"]) for i, entry in enumerate(clean["values"])]
    for field, column in named:
        if column in seen:
            raise InvalidInput(f"The column {column!r} is mapped twice (also as {seen[column]}).", field=field)
        seen[column] = field


def mapping_clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping's fields as stored, each checked; InvalidInput names the first bad field."""
    unknown = [name for name in data if name not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a field of a mapping.", field=str(unknown[0]), code=ErrorCode.UNKNOWN_FIELD
        )
    code = _text(data, "code", required=True)
    if not _CODE.fullmatch(code):
        raise InvalidInput("code is letters, digits, - and _.", field="code")
    file_format = data.get("format")
    if file_format not in FileFormat.values:
        raise InvalidInput("format is csv or xlsx.", field="format")
    source = data.get("source") or Source.OFFLINE
    if source not in Source.values:
        raise InvalidInput("source is online or offline.", field="source")
    clean: dict[str, Any] = {
        "code": code,
        "format": file_format,
        "sheet": _text(data, "sheet", required=False),
        "header_row": _header_row(data.get("header_row")),
        "delimiter": _delimiter(data.get("delimiter")),
        "decimal": _decimal(data.get("decimal")),
        "item_column": _text(data, "item_column", required=True),
        "time_column": _text(data, "time_column", required=True),
        "time_zone": _time_zone(data),
        "time_format": _time_format(data),
        "position_column": _text(data, "position_column", required=False),
        "source": source,
        "instrument": _text(data, "instrument", required=False),
        "values": _values(data.get("values")),
    }
    _columns_distinct(clean)
    return clean


def mapping_values(mapping: ImportMapping) -> dict[str, Any]:
    """A saved mapping's fields as `mapping_clean` takes them (for a partial update, the audit)."""
    return {name: getattr(mapping, name) for name in FIELDS}
