"""JSON the record can hold: no NUL character, no lone surrogate, no nesting deeper than MAX_JSON_DEPTH.

PostgreSQL refuses U+0000 in text and jsonb, and a lone UTF-16 surrogate ("\\ud800", which JSON
may escape but UTF-8 cannot encode) in jsonb (a DataError, a 500, once the row is written), and
Python's json raises RecursionError near 1,000 levels: all are refused here, before any
serializer runs, with a 400 naming the JSON path of the field (`attributes.note`,
`inputs[0].item`). The middleware applies the same NUL rule to the path, query and headers
(Django decodes those with replacement characters, so no surrogate reaches them).
"""

import json
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from core.errors import ErrorCode, InvalidInput

MAX_JSON_DEPTH = 64
NUL_MESSAGE = "Text may not contain the NUL character (U+0000)."
SURROGATE_MESSAGE = "Text may not contain a lone surrogate (U+D800..U+DFFF): it is no character."
_SURROGATE = re.compile("[\ud800-\udfff]")
# In a JSON text decoded strictly from UTF-8 a lone surrogate can only arrive escaped,
# \uD800..\uDFFF; the raw range catches a text made some other way.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def has_nul(text: str) -> bool:
    return "\x00" in text


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def printable(name: str) -> str:
    """A name as an error may show it: NUL and lone surrogates written as JSON escapes (an
    answer could not be encoded with a surrogate in it)."""
    name = name.replace("\x00", "\\u0000")
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", name) if has_surrogate(name) else name


def _text_problem(text: str) -> tuple[str, str] | None:
    """The message and code refusing `text`, or None when PostgreSQL can store it."""
    if has_nul(text):
        return NUL_MESSAGE, ErrorCode.NUL_CHARACTER
    if has_surrogate(text):
        return SURROGATE_MESSAGE, ErrorCode.LONE_SURROGATE
    return None


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = printable(key)
    return f"{path}.{key}" if path else key


def refuse(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", code=code, errors={field: [message]})


def _too_deep(field: str) -> InvalidInput:
    return refuse(field, f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.", ErrorCode.TOO_DEEP)


def json_check(data: Any, *, prefix: str = "", strings: bool = True) -> None:
    """Raise InvalidInput naming the first NUL or lone surrogate (with `strings`) or too deep container in `data`.

    Iterative, so that the check itself has no recursion limit."""
    stack: list[tuple[Any, str, int]] = [(data, prefix, 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if strings and (problem := _text_problem(value)) is not None:
                raise refuse(printable(path) or "body", *problem)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep(path or "body")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            if strings and isinstance(key, str) and (problem := _text_problem(key)) is not None:
                raise refuse(_child(path, key), *problem)
            stack.append((child, _child(path, key), depth + 1))


def json_loads(text: str | bytes, *, prefix: str = "", **options: Any) -> Any:
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
        json_check(data, prefix=prefix, strings=strings)
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
