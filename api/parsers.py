"""JSON the record can hold: no NUL character, no lone surrogate, no nesting deeper than MAX_JSON_DEPTH.

PostgreSQL refuses U+0000 in text and jsonb, and a lone UTF-16 surrogate ("\\ud800", which JSON
may escape but UTF-8 cannot encode) in jsonb (a DataError, a 500, once the row is written), and
Python's json raises RecursionError near 1,000 levels: all are refused here, before any
serializer runs, with a 400 naming the JSON path of the field (`attributes.note`,
`inputs[0].item`). The middleware applies the same NUL rule to the path, query and headers
(Django decodes those with replacement characters, so no surrogate reaches them). The rules
for text are core.text's.
"""

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from core.errors import ErrorCode, InvalidInput
from core.text import printable, text_problem

MAX_JSON_DEPTH = 64
# In a JSON text decoded strictly from UTF-8 a lone surrogate can only arrive escaped,
# \uD800..\uDFFF; the raw range catches a text made some other way.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = printable(key)
    return f"{path}.{key}" if path else key


def pointer_child(path: str, key: str | int) -> str:
    """The RFC 6901 JSON Pointer naming: a key with a dot or a bracket stays one step."""
    text = printable(key) if isinstance(key, str) else str(key)
    return f"{path}/" + text.replace("~", "~0").replace("/", "~1")


Naming = Callable[[str, str | int], str]


def refuse(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", code=code, errors={field: [message]})


def _too_deep(field: str) -> InvalidInput:
    return refuse(field, f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.", ErrorCode.TOO_DEEP)


def json_check(data: Any, *, prefix: str = "", strings: bool = True, child: Naming = _child) -> None:
    """Raise InvalidInput naming the first NUL or lone surrogate (with `strings`) or too deep container in `data`;
    `child` names a path's member (dotted by default, pointer_child for a JSON Pointer).

    Iterative, so that the check itself has no recursion limit."""
    stack: list[tuple[Any, str, int]] = [(data, prefix, 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if strings and (problem := text_problem(value)) is not None:
                raise refuse(printable(path) or "body", *problem)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep(path or "body")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, member in items:
            if strings and isinstance(key, str) and (problem := text_problem(key)) is not None:
                raise refuse(child(path, key), *problem)
            stack.append((member, child(path, key), depth + 1))


def json_loads(text: str | bytes, *, prefix: str = "", child: Naming = _child, **options: Any) -> Any:
    """json.loads, then json_check; ValueError for what is not JSON, as json.loads raises."""
    if isinstance(text, bytes):
        # Strictly decoded: json.loads would let UTF-8 encoded surrogates through (surrogatepass).
        text = text.decode(json.detect_encoding(text))
    try:
        data = json.loads(text, **options)
    except RecursionError:
        raise _too_deep(prefix or "body") from None
    # Cheap scans of the raw text skip the walk for the usual body: NUL and lone surrogates can
    # only arrive escaped (strict JSON refuses raw control characters), and depth needs that
    # many brackets. A valid escaped pair (an emoji) walks too and passes.
    strings = "\\u0000" in text or _ESCAPED_SURROGATE.search(text) is not None
    brackets = text.count("[") + text.count("{")
    if strings or brackets > MAX_JSON_DEPTH:
        json_check(data, prefix=prefix, strings=strings, child=child)
    return data


class CheckedJSONParser(JSONParser):
    """DRF's JSONParser with json_check: the default parser of every API view."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return json_loads(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
