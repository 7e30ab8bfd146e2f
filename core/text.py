"""Text the database can hold: PostgreSQL refuses U+0000 in text and jsonb, and a lone UTF-16
surrogate ("\\ud800", which JSON may escape but UTF-8 cannot encode) in jsonb. The API's JSON
parser and the forms that bypass it (the connectors' admin) refuse both by these rules."""

import re

from .errors import ErrorCode

NUL_MESSAGE = "Text may not contain the NUL character (U+0000)."
SURROGATE_MESSAGE = "Text may not contain a lone surrogate (U+D800..U+DFFF): it is no character."
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_nul(text: str) -> bool:
    return "\x00" in text


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def printable(name: str) -> str:
    """A name as an error may show it: NUL and lone surrogates written as JSON escapes (an
    answer could not be encoded with a surrogate in it)."""
    name = name.replace("\x00", "\\u0000")
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", name) if has_surrogate(name) else name


def text_problem(text: str) -> tuple[str, str] | None:
    """The message and code refusing `text`, or None when PostgreSQL can store it."""
    if has_nul(text):
        return NUL_MESSAGE, ErrorCode.NUL_CHARACTER
    if has_surrogate(text):
        return SURROGATE_MESSAGE, ErrorCode.LONE_SURROGATE
    return None
