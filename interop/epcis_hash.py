"""The CBV 2.0 event hash (CBV 2.0 section 8.9): `ni:///sha-256;<hex>?ver=CBV2.0`.

The pre-hash string is the event's fields in the standard's order, each `name=value` with values
canonicalised (times in UTC at millisecond precision, EPC URNs and Digital Links as canonical
id.gs1.org Digital Links, bare CBV terms as their web vocabulary URIs, numbers without trailing
zeros), repeated values sorted, then the user extensions as `{namespace}name=value`, sorted.
What the document says about itself (creationDate, eventID, recordTime, comments, key order,
whitespace) is not in it. Written after the reference implementation by the CBV editors
(github.com/RalphTro/epcis-event-hash-generator, MIT) and checked against its published hashes.
"""

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .gs1_keys import canonical_digital_link

# (field, sub-order) in the order of CBV 2.0 section 8.9.2; None: a plain value.
_QUANTITY = [("epcClass", None), ("quantity", None), ("uom", None)]
_SENSOR_METADATA = ["time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData",
                    "dataProcessingMethod", "bizRules"]  # fmt: skip
_SENSOR_REPORT = ["type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
                  "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
                  "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank",
                  "percValue", "uom", "coordinateReferenceSystem"]  # fmt: skip
_EPC_LISTS = ("epcList", "inputEPCList", "childEPCs", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_ORDER = ["eventTime", "eventTimeZoneOffset", "certificationInfo", "parentID", "epcList", "inputEPCList",
          "childEPCs", "quantityList", "childQuantityList", "inputQuantityList", "outputEPCList",
          "outputQuantityList", "action", "transformationID", "bizStep", "disposition", "persistentDisposition",
          "readPoint", "bizLocation", "bizTransactionList", "destinationList", "sourceList",
          "sensorElementList"]  # fmt: skip
_NOT_HASHED = {"type", "eventID", "recordTime", "errorDeclaration", "@context", "#text", "rdfs:comment", "comment"}

_CBV = "https://ref.gs1.org/cbv/"
_VOC = "https://gs1.org/voc/"
# Prefixes the standard EPCIS 2.0 context declares, so a document need not.
STANDARD_NAMESPACES = {"gs1": _VOC, "cbv": _CBV}
# Bare CBV terms: the vocabulary of each field (what the EPCIS JSON-LD context expands them to).
_BARE_PREFIX = {"bizStep": "BizStep-", "disposition": "Disp-", "set": "Disp-", "unset": "Disp-",
                "bizTransactionType": "BTT-", "sourceType": "SDT-", "destinationType": "SDT-",
                "reason": "ER-", "component": "Comp-"}  # fmt: skip
_URN_VOCABULARY = {"urn:epcglobal:cbv:bizstep:": "BizStep-", "urn:epcglobal:cbv:disp:": "Disp-",
                   "urn:epcglobal:cbv:btt:": "BTT-", "urn:epcglobal:cbv:sdt:": "SDT-",
                   "urn:epcglobal:cbv:er:": "ER-"}  # fmt: skip


def event_hash(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    """The CBV 2.0 hash of one event; `namespaces` are the document's @context prefixes."""
    digest = hashlib.sha256(event_prehash(event, namespaces).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def context_namespaces(context: object, into: dict[str, str] | None = None) -> dict[str, str]:
    """Prefix -> namespace IRI of the objects in a JSON-LD @context (strings are remote contexts;
    a null clears a prefix an outer context defined)."""
    found = dict(into or {})
    entries = context if isinstance(context, list) else [context]
    for entry in entries:
        if isinstance(entry, dict):
            found.update({k: v for k, v in entry.items() if isinstance(v, str)})
            for key in [k for k, v in entry.items() if v is None]:
                found.pop(key, None)
    return found


def event_prehash(event: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> str:
    names = context_namespaces(event.get("@context"), STANDARD_NAMESPACES | dict(namespaces or {}))
    parts = [f"eventType={event.get('type', '')}"]
    for field in _ORDER:
        if field in event:
            parts.append(_field(field, event[field], names))
    parts.append(_extensions({k: v for k, v in event.items() if k not in _ORDER and k not in _NOT_HASHED}, names))
    return "".join(parts)


def _field(field: str, value: Any, names: Mapping[str, str]) -> str:
    if field in _EPC_LISTS:
        return field + "".join(sorted(f"epc={canonical_value(v)}" for v in _as_list(value)))
    if field in _QUANTITY_LISTS:
        elements = [_ordered("quantityElement", q, _QUANTITY, names) for q in _as_list(value) if isinstance(q, dict)]
        return field + "".join(sorted(elements))
    if field == "persistentDisposition" and isinstance(value, dict):
        inner = [s for key in ("set", "unset") for s in sorted(_value(key, v) for v in _as_list(value.get(key)))]
        return field + "".join(inner)
    if field in ("readPoint", "bizLocation") and isinstance(value, dict):
        rest = {k: v for k, v in value.items() if k != "id"}
        return field + (_value("id", value["id"]) if "id" in value else "") + _extensions(rest, names)
    if field in ("bizTransactionList", "sourceList", "destinationList"):
        key = field.removesuffix("List")
        entries = [
            (_value("type", e["type"], f"{key}Type") if "type" in e else "") + (_value(key, e[key]) if key in e else "")
            for e in _as_list(value)
            if isinstance(e, dict)
        ]
        return field + "".join(sorted(entries))
    if field == "sensorElementList":
        return field + "".join(sorted(_sensor_element(e, names) for e in _as_list(value) if isinstance(e, dict)))
    if isinstance(value, dict | list):
        return _generic(field, value, names)
    return _value(field, value)


def _sensor_element(element: Mapping[str, Any], names: Mapping[str, str]) -> str:
    metadata = element.get("sensorMetadata")
    text = "sensorElement"
    if isinstance(metadata, dict):
        text += _ordered("sensorMetadata", metadata, [(k, None) for k in _SENSOR_METADATA], names)
    reports = [
        _ordered("sensorReport", r, [(k, None) for k in _SENSOR_REPORT], names)
        for r in _as_list(element.get("sensorReport"))
        if isinstance(r, dict)
    ]
    rest = {k: v for k, v in element.items() if k not in ("sensorMetadata", "sensorReport")}
    return text + "".join(sorted(reports)) + _extensions(rest, names)


def _ordered(name: str, obj: Mapping[str, Any], order: list[tuple[str, None]], names: Mapping[str, str]) -> str:
    known = [key for key, _sub in order]
    text = name
    for key in known:
        if key in obj:
            value = obj[key]
            if name == "sensorReport" and key in ("type", "exception"):
                value = _sensor_term(str(value), names)
            text += _value(key, value)
    return text + _extensions({k: v for k, v in obj.items() if k not in known}, names)


def _sensor_term(term: str, names: Mapping[str, str]) -> str:
    """A sensor report's type: bare or `gs1:` terms are GS1 web vocabulary."""
    prefix, sep, local = term.partition(":")
    if sep and prefix in names:
        return names[prefix] + local
    return term if sep else _VOC + term


def _value(name: str, value: Any, vocabulary: str | None = None) -> str:
    """`name=value` canonicalised; `vocabulary` names the CBV list a bare term is from."""
    text = _text(value).strip()
    if not text:
        return ""
    bare = _BARE_PREFIX.get(vocabulary or name)
    if "time" in name.lower() and "offset" not in name.lower():
        text = canonical_time(text)
    elif bare is not None and ":" not in text:
        text = _CBV + bare + text
    elif text.startswith(("cbv:", "gs1:")):
        text = STANDARD_NAMESPACES[text[:3]] + text[4:]
    else:
        text = canonical_value(text)
    return f"{name}={text}"


def _extensions(fields: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """User extensions (and anything the order does not name): sorted `{ns}name=value` strings."""
    return "".join(sorted(_generic(key, value, names) for key, value in fields.items() if key not in _NOT_HASHED))


def _generic(key: str, value: Any, names: Mapping[str, str]) -> str:
    name = _expanded_name(key, names)
    if isinstance(value, list):
        return "".join(sorted(_generic(key, v, names) for v in value))
    if isinstance(value, dict):
        text = value.get("#text")
        head = name + (f"={canonical_value(_text(text).strip())}" if text not in (None, "") else "")
        return head + _extensions(value, names)
    text = _text(value).strip()
    return name + (f"={canonical_value(_expanded_value(text, names))}" if text else "")


def _expanded_name(key: str, names: Mapping[str, str]) -> str:
    prefix, sep, local = key.partition(":")
    return "{" + names[prefix] + "}" + local if sep and prefix in names else key


def _expanded_value(text: str, names: Mapping[str, str]) -> str:
    prefix, sep, local = text.partition(":")
    return names[prefix] + local if sep and prefix in names and not local.startswith("//") else text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)  # as the reference implementation writes it
    return str(value) if value is not None else ""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def canonical_time(text: str) -> str:
    """A timestamp in UTC at millisecond precision with a Z, or the text if it is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text
    moment = moment.astimezone(UTC)
    millis = round(moment.microsecond, -3)
    if millis == 1_000_000:
        moment = moment.replace(microsecond=0).timestamp() + 1  # type: ignore[assignment]
        moment = datetime.fromtimestamp(moment, UTC)  # type: ignore[arg-type]
    else:
        moment = moment.replace(microsecond=millis)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def canonical_value(text: str) -> str:
    """Old CBV URNs as web vocabulary, numbers without trailing zeros, GS1 keys as Digital Links."""
    for urn, prefix in _URN_VOCABULARY.items():
        if text.startswith(urn):
            return _CBV + prefix + text[len(urn) :]
    try:
        number = float(text)
        if number == number and abs(number) != float("inf"):
            return str(int(number)) if number == int(number) else str(number)
    except ValueError:
        pass
    return canonical_digital_link(text) or text
