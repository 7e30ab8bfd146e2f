"""The rules of a connector's configuration: endpoint per kind, options per kind, mappings.

Each check returns problems (field, message, code) rather than raising, so that one answer names
every bad field; `connectors.services` raises them together. Field names follow the API's style:
`options.qos`, `mappings[1].unit`.
"""

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from jsonschema import Draft202012Validator

from core.errors import ErrorCode, InvalidInput
from core.text import NUL_MESSAGE, has_nul, text_problem
from measurements.models import Parameter
from measurements.services import linear_to_canonical
from traceability.models import Station

from .drivers.opcua_options import options_check as opcua_options_check
from .models import Connector, ConnectorKind, ConnectorMapping, ModbusDataType


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    code: str = ErrorCode.INVALID


def raise_problems(problems: Sequence[Problem]) -> None:
    """One InvalidInput naming every bad field; the first problem gives the message and code."""
    if not problems:
        return
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.field, []).append(problem.message)
    first = problems[0]
    raise InvalidInput(f"{first.field}: {first.message}", code=first.code, errors=errors)


def _max_length(model: type[Connector] | type[ConnectorMapping], name: str) -> int:
    return int(getattr(model._meta.get_field(name), "max_length", None) or 0)


def _text(value: object, field: str, max_length: int, *, blank: bool = False) -> Problem | None:
    if not isinstance(value, str):
        return Problem(field, "A text is required.")
    if not blank and not value.strip():
        return Problem(field, "A non-empty text is required.")
    if len(value) > max_length:
        return Problem(field, f"At most {max_length} characters.")
    if has_nul(value):
        return Problem(field, NUL_MESSAGE, ErrorCode.NUL_CHARACTER)
    return None


def code_problems(code: object) -> list[Problem]:
    limit = _max_length(Connector, "code")
    try:
        if not isinstance(code, str) or not code or len(code) > limit:
            raise ValidationError("bad")
        validate_slug(code)
    except ValidationError:
        return [Problem("code", f"{code!r} is not a code: letters, digits, '_' and '-', at most {limit}.")]
    return []


# --- Endpoints --------------------------------------------------------------------------------

SCHEMES: dict[str, tuple[str, ...]] = {
    ConnectorKind.OPCUA: ("opc.tcp",),
    ConnectorKind.MQTT: ("mqtt", "mqtts"),
    ConnectorKind.MODBUS: ("modbus", "modbus+tcp"),
}


def endpoint_problems(kind: str, endpoint: object) -> list[Problem]:
    """`scheme://host:port` with a scheme of the kind; OPC UA may add a path."""
    if (problem := _text(endpoint, "endpoint", _max_length(Connector, "endpoint"))) is not None:
        return [problem]
    assert isinstance(endpoint, str)
    schemes = SCHEMES.get(kind, ())
    try:
        parts = urlsplit(endpoint)
        port = parts.port  # ValueError beyond 0..65535 or not a number
        host = parts.hostname
    except ValueError as exc:
        return [Problem("endpoint", f"{endpoint!r} is not a URL: {exc}.", ErrorCode.BAD_ENDPOINT)]
    if schemes and parts.scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        return [Problem("endpoint", f"A {kind} endpoint starts with {allowed}.", ErrorCode.BAD_ENDPOINT)]
    if parts.username is not None or parts.password is not None:
        message = "Credentials go in options.username and options.password, not in the endpoint."
        return [Problem("endpoint", message, ErrorCode.BAD_ENDPOINT)]
    if not host or any(c.isspace() for c in endpoint):
        return [Problem("endpoint", f"{endpoint!r} names no host.", ErrorCode.BAD_ENDPOINT)]
    if port is None or port == 0:
        return [Problem("endpoint", "The port is required, 1..65535 (host:port).", ErrorCode.BAD_ENDPOINT)]
    if kind != ConnectorKind.OPCUA and (parts.path not in ("", "/") or parts.query or parts.fragment):
        return [Problem("endpoint", f"A {kind} endpoint is scheme://host:port only.", ErrorCode.BAD_ENDPOINT)]
    return []


# --- Options ----------------------------------------------------------------------------------

_SECRET = {"type": "string", "maxLength": 10_000}
# Answers show a secret option as the mask; a write that sends the mask back keeps the stored value.
OPTION_MASK = "********"
MASKED_OPTIONS = frozenset({"password", "private_key_password"})
_PATH = {"type": "string", "maxLength": 1_000}
OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    ConnectorKind.OPCUA: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "security_policy": {"enum": ["None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"]},
            "security_mode": {"enum": ["None", "Sign", "SignAndEncrypt"]},
            "certificate": _PATH,
            "private_key": _PATH,
            "username": {"type": "string", "maxLength": 200},
            "password": _SECRET,
            "publishing_interval_ms": {"type": "integer", "minimum": 10, "maximum": 3_600_000},
            "sampling_interval_ms": {"type": "integer", "minimum": 0, "maximum": 3_600_000},
            "queue_size": {"type": "integer", "minimum": 1, "maximum": 100_000},
            "server_certificate": _PATH,
            "private_key_password": _SECRET,
        },
    },
    ConnectorKind.MQTT: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # MQTT 3.1.1 allows 23 bytes at least; brokers take more. The broker refuses the rest.
            "client_id": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[^\s]+$"},
            "qos": {"const": 1},  # QoS 1 only: a value is acknowledged once it is committed
            "username": {"type": "string", "maxLength": 200},
            "password": _SECRET,
            "keepalive": {"type": "integer", "minimum": 5, "maximum": 65_535},
        },
    },
    ConnectorKind.MODBUS: {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "unit_id": {"type": "integer", "minimum": 0, "maximum": 247},
            "poll_interval_ms": {"type": "integer", "minimum": 50, "maximum": 3_600_000},
            "timeout_ms": {"type": "integer", "minimum": 50, "maximum": 60_000},
            "word_order": {"enum": ["big", "little"]},
            "byte_order": {"enum": ["big", "little"]},
        },
    },
}
_OPTION_VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in OPTION_SCHEMAS.items()}


def _unstorable(value: object, path: str) -> Problem | None:
    """A text a JSON column cannot hold (core.text's rules), anywhere in `value`; the admin's
    forms reach here without the API's JSON parser."""
    items: list[tuple[object, str]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            items += [(key, path), (child, f"{path}.{key}")]
    elif isinstance(value, list):
        items += [(child, f"{path}[{i}]") for i, child in enumerate(value)]
    elif isinstance(value, str) and (refused := text_problem(value)) is not None:
        return Problem(path, refused[0])
    for child, child_path in items:
        if (problem := _unstorable(child, child_path)) is not None:
            return problem
    return None


def options_problems(kind: str, options: object) -> list[Problem]:
    validator = _OPTION_VALIDATORS.get(kind)
    if validator is None:
        return []
    if (problem := _unstorable(options, "options")) is not None:
        return [
            Problem(problem.field.encode("utf-8", "replace").decode()[:200], problem.message, ErrorCode.BAD_OPTIONS)
        ]
    found = []
    for error in sorted(validator.iter_errors(options), key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(options, dict):
            known = OPTION_SCHEMAS[kind]["properties"]
            for name in sorted(str(k) for k in options if k not in known):
                message = f"Not an option of {kind}: one of {', '.join(known)}."
                found.append(Problem(f"options.{name}"[:200], message, ErrorCode.BAD_OPTIONS))
            continue
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        found.append(Problem(f"options.{path}" if path else "options", message, ErrorCode.BAD_OPTIONS))
    if not found and kind == ConnectorKind.OPCUA:
        # The options that go together (a policy needs a certificate...): the driver's own rules.
        for text in opcua_options_check(options):
            field, _, message = text.partition(": ")
            found.append(Problem(field, message, ErrorCode.BAD_OPTIONS))
    return found


# --- Sources ----------------------------------------------------------------------------------

MODBUS_SOURCE = re.compile(r"(holding|input):(\d{1,5})")
# ns=2;s=..., nsu=urn:...;i=..., i=85, g=<uuid>, b=<base64>
_OPCUA_NODE = re.compile(r"((ns=\d{1,5}|nsu=[^;]+);)?(i=\d{1,10}|s=.+|g=[0-9A-Fa-f-]{36}|b=[A-Za-z0-9+/=]+)", re.S)
MODBUS_MAX_ADDRESS = 65_535


def modbus_register(source: str) -> tuple[str, int] | None:
    """("holding"|"input", address) of a Modbus source, or None when it is not one."""
    match = MODBUS_SOURCE.fullmatch(source)
    if match is None or int(match.group(2)) > MODBUS_MAX_ADDRESS:
        return None
    return match.group(1), int(match.group(2))


def mqtt_filter_problem(topic: str) -> str | None:
    """Why `topic` is not an MQTT topic filter (MQTT 3.1.1 section 4.7), or None."""
    if len(topic.encode()) > 65_535:
        return "At most 65535 bytes."
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' is a whole level, and the last one."
        if "+" in level and level != "+":
            return "'+' is a whole level."
    return None


def source_problem(kind: str, source: str) -> tuple[str, str] | None:
    """(message, code) when `source` is not one of the kind's, else None."""
    if kind == ConnectorKind.MODBUS and modbus_register(source) is None:
        return "A Modbus register is holding:<0..65535> or input:<0..65535>.", ErrorCode.BAD_SOURCE
    if kind == ConnectorKind.MQTT and (why := mqtt_filter_problem(source)) is not None:
        return f"Not an MQTT topic filter: {why}", ErrorCode.BAD_SOURCE
    if kind == ConnectorKind.OPCUA and not _OPCUA_NODE.fullmatch(source):
        return "An OPC UA node id is like ns=2;s=Coater.MassLoading or i=2258.", ErrorCode.BAD_SOURCE
    return None


# --- Mappings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingRow:
    """A checked mapping, ready to be written."""

    source: str
    station: Station | None
    room: str
    parameter: Parameter
    unit: str
    position_source: str
    data_type: str
    scale: float


_MAPPING_FIELDS = {"source", "station", "room", "parameter", "unit", "position_source", "data_type", "scale"}


def _source_problems(kind: str, raw: Mapping[str, Any], at: str) -> list[Problem]:
    found = []
    limit = _max_length(ConnectorMapping, "source")
    for name, blank in (("source", False), ("position_source", True)):
        value = raw.get(name, "")
        if (problem := _text(value, f"{at}.{name}", limit, blank=blank)) is not None:
            found.append(problem)
        elif value and (why := source_problem(kind, value)) is not None:
            found.append(Problem(f"{at}.{name}", *why))
    return found


def _place_problems(
    raw: Mapping[str, Any], at: str, stations: Mapping[str, Station]
) -> tuple[list[Problem], Station | None]:
    station, room = raw.get("station"), raw.get("room", "")
    if station in (None, "") and room in (None, ""):
        return [Problem(f"{at}.station", "A mapping names a station or a room.", ErrorCode.UNKNOWN_STATION)], None
    if station not in (None, "") and room not in (None, ""):
        return [Problem(f"{at}.room", "A mapping names a station or a room, not both.")], None
    if room not in (None, ""):
        problem = _text(room, f"{at}.room", _max_length(ConnectorMapping, "room"))
        return ([problem] if problem else []), None
    if isinstance(station, str) and station in stations:
        return [], stations[station]
    return [Problem(f"{at}.station", f"Unknown station {station!r}.", ErrorCode.UNKNOWN_STATION)], None


def _parameter_problems(
    raw: Mapping[str, Any], at: str, parameters: Mapping[str, Parameter]
) -> tuple[list[Problem], Parameter | None]:
    code = raw.get("parameter")
    parameter = parameters.get(code) if isinstance(code, str) else None
    if parameter is None:
        return [Problem(f"{at}.parameter", f"Unknown parameter {code!r}.", ErrorCode.UNKNOWN_PARAMETER)], None
    unit = raw.get("unit", "")
    if (problem := _text(unit, f"{at}.unit", _max_length(ConnectorMapping, "unit"), blank=True)) is not None:
        return [problem], parameter
    try:
        linear_to_canonical(unit.strip(), parameter, field=f"{at}.unit")
    except InvalidInput as exc:
        return [Problem(f"{at}.unit", exc.message, exc.code)], parameter
    return [], parameter


def _decoding_problems(kind: str, raw: Mapping[str, Any], at: str) -> list[Problem]:
    found = []
    data_type = raw.get("data_type", "")
    if kind == ConnectorKind.MODBUS and data_type not in ModbusDataType.values:
        found.append(Problem(f"{at}.data_type", f"A Modbus mapping's data_type: one of {', '.join(ModbusDataType)}."))
    elif kind != ConnectorKind.MODBUS and data_type not in (None, ""):
        found.append(Problem(f"{at}.data_type", "Only a Modbus mapping has a data_type."))
    scale = raw.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale == 0:
        found.append(Problem(f"{at}.scale", "A finite number other than 0 is required.", ErrorCode.BAD_QUANTITY))
    return found


@dataclass(frozen=True)
class Known:
    """The stations and parameters the mappings name, read in one query each."""

    stations: Mapping[str, Station]
    parameters: Mapping[str, Parameter]

    @classmethod
    def of(cls, mappings: Sequence[object]) -> "Known":
        named = [m for m in mappings if isinstance(m, Mapping)]
        station_codes = {c for m in named if isinstance(c := m.get("station"), str) and c}
        parameter_codes = {c for m in named if isinstance(c := m.get("parameter"), str) and c}
        stations = Station.objects.filter(code__in=station_codes)
        parameters = Parameter.objects.filter(code__in=parameter_codes)
        return cls({s.code: s for s in stations}, {p.code: p for p in parameters})


def mapping_check(kind: str, raw: object, index: int, known: Known) -> tuple[list[Problem], MappingRow | None]:
    at = f"mappings[{index}]"
    if not isinstance(raw, Mapping):
        return [Problem(at, "A mapping is an object.")], None
    unknown = sorted(str(k) for k in raw if k not in _MAPPING_FIELDS)
    found = [Problem(f"{at}.{name}"[:200], "Not a field of a mapping.", ErrorCode.UNKNOWN_FIELD) for name in unknown]
    found += _source_problems(kind, raw, at)
    place, station = _place_problems(raw, at, known.stations)
    named, parameter = _parameter_problems(raw, at, known.parameters)
    found += place + named + _decoding_problems(kind, raw, at)
    if found or parameter is None:
        return found, None
    row = MappingRow(
        source=raw["source"],
        station=station,
        room="" if station else raw.get("room", ""),
        parameter=parameter,
        unit=raw.get("unit", "").strip(),
        position_source=raw.get("position_source", "") or "",
        data_type=raw.get("data_type", "") or "",
        scale=float(raw.get("scale", 1.0)),
    )
    return [], row


MAX_MAPPINGS = 2_000


def mappings_check(kind: str, mappings: object) -> tuple[list[Problem], list[MappingRow]]:
    if not isinstance(mappings, list):
        return [Problem("mappings", "A list of mappings is required.")], []
    if len(mappings) > MAX_MAPPINGS:
        return [Problem("mappings", f"At most {MAX_MAPPINGS} mappings.")], []
    found: list[Problem] = []
    rows: list[MappingRow] = []
    seen: dict[str, int] = {}
    known = Known.of(mappings)
    for index, raw in enumerate(mappings):
        problems, row = mapping_check(kind, raw, index, known)
        found += problems
        source = raw.get("source") if isinstance(raw, Mapping) else None
        if isinstance(source, str) and source in seen:
            message = f"Mapped already by mappings[{seen[source]}]."
            found.append(Problem(f"mappings[{index}].source", message, ErrorCode.DUPLICATE_SOURCE))
        elif isinstance(source, str):
            seen[source] = index
        if row is not None:
            rows.append(row)
    return found, rows


def iter_kind_problems(kind: object) -> Iterator[Problem]:
    if kind not in ConnectorKind.values:
        yield Problem("kind", f"{kind!r} is not one of {', '.join(ConnectorKind.values)}.")
