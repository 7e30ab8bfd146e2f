"""An EPCIS 2.0 document checked against the GS1 JSON Schema, its `date-time` and `uri` formats
on (without them the schema lets a bad eventTime or a bare bizStep through), plus the CBV rule
that bizStep and disposition are CBV terms or namespaced URIs.

Errors come keyed by the JSON Pointer of the failing field: a missing property or an unexpected
one is named by its own pointer, not its parent's.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH = Path(__file__).parent / "schema" / "EPCIS-JSON-Schema.json"
MAX_ERRORS = 50  # a hostile document could fail in every one of thousands of events

# CBV 2.0 section 7.1 / 7.2 bare terms (the schema's enums, repeated for the message).
_VOCABULARY_FIELDS = ("bizStep", "disposition")


@cache
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def pointer(parts: Iterable[Any]) -> str:
    """RFC 6901 JSON Pointer of a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _deepest(error: ValidationError) -> ValidationError:
    """The sub-error of an anyOf/oneOf that says most (the branch that got furthest)."""
    while error.context:
        chosen = best_match(error.context)
        if chosen is None or len(chosen.absolute_path) < len(error.absolute_path):
            break
        error = chosen
    return error


def _located(error: ValidationError) -> tuple[str, str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else ""
        return pointer([*path, missing]), f"{missing!r} is required."
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        return pointer([*path, error.instance]), f"{error.instance!r} is not a field of this object."
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            return pointer([*path, extra[0]]), f"{extra[0]!r} is not a field of this object."
    if path and path[-1] in _VOCABULARY_FIELDS and error.validator in ("anyOf", "oneOf", "format"):
        return pointer(path), f"{error.instance!r} is neither a CBV {path[-1]} nor a namespaced URI."
    return pointer(path), error.message


def document_errors(document: object) -> dict[str, list[str]]:
    """Every schema error of the document, keyed by JSON Pointer; empty when it is valid."""
    errors: dict[str, list[str]] = defaultdict(list)
    for count, error in enumerate(sorted(validator().iter_errors(document), key=lambda e: list(map(str, e.path)))):
        if count >= MAX_ERRORS:
            errors[""].append(f"More than {MAX_ERRORS} errors; the rest are not listed.")
            break
        where, message = _located(_deepest(error))
        if message not in errors[where]:
            errors[where].append(message)
    return dict(errors)
