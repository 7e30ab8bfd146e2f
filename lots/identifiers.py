"""GS1 identifiers: the Digital Link URI on every QR label and the RFID EPC of tagged items."""

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from epcpy import (
    epc_pure_identity_to_tag_encodable,
    hex_to_tag_encodable,
    tag_uri_to_tag_encodable,
)
from epcpy.epc_schemes.base_scheme import EPCScheme

from core.errors import ErrorCode, InvalidInput

_HEX = re.compile(r"^(0x)?[0-9A-Fa-f]{24,}$")


def gtin_check_digit(digits13: str) -> str:
    """GS1 mod-10 check digit: weights 3,1,3,... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits13)))
    return str((10 - total % 10) % 10)


def kind_gtin(gtin_item_reference: int) -> str:
    """GTIN-14 of an item kind: indicator 0, the company prefix, the kind's item reference."""
    prefix = settings.CELLTRACE_GS1_COMPANY_PREFIX
    body = "0" + prefix + str(gtin_item_reference).zfill(12 - len(prefix))
    if len(body) != 13 or not body.isdigit():  # else the Digital Link would carry an invalid GTIN
        raise ImproperlyConfigured(
            f"GS1 company prefix {prefix!r} leaves no room for item reference {gtin_item_reference}."
        )
    return body + gtin_check_digit(body)


def digital_link(*, code: str, gtin_item_reference: int, level: str) -> str:
    """Batch items carry the code as the lot (AI 10), instance items as the serial (AI 21)."""
    key = "10" if level == "batch" else "21"
    gtin = kind_gtin(gtin_item_reference)
    return f"https://{settings.CELLTRACE_RESOLVER}/01/{gtin}/{key}/{quote(code, safe='')}"


@dataclass(frozen=True)
class DigitalLinkParts:
    host: str
    gtin: str
    code: str
    key: str = "10"  # the qualifier's AI: 10 lot, 21 serial


def digital_link_parts(uri: str) -> DigitalLinkParts | None:
    """Host, GTIN and item code of a Digital Link URI (any resolver), or None if `uri` is not one."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:  # "http://[" and other unparsable netlocs
        return None
    if parts.scheme not in ("http", "https"):
        return None
    segments = parts.path.strip("/").split("/")
    for index in range(len(segments) - 3):
        if segments[index] in ("01", "gtin") and segments[index + 2] in ("10", "21", "lot", "ser"):
            key = {"lot": "10", "ser": "21"}.get(segments[index + 2], segments[index + 2])
            # A serial after the lot (/01/G/10/L/21/S) names the instance: the lowest level wins.
            if key == "10" and index + 5 < len(segments) and segments[index + 4] in ("21", "ser"):
                return DigitalLinkParts(host, gtin14(segments[index + 1]), unquote(segments[index + 5]), "21")
            return DigitalLinkParts(host, gtin14(segments[index + 1]), unquote(segments[index + 3]), key)
    return None


def gtin14(gtin: str) -> str:
    """A GTIN-8, -12 or -13 padded to the 14 digits GTINs are stored and compared in."""
    return gtin.zfill(14) if gtin.isdigit() and len(gtin) in (8, 12, 13) else gtin


def gtin_of(prefix: str, item_reference: str) -> str:
    """GTIN-14 of an EPC's company prefix and item reference (its first digit the indicator)."""
    body = item_reference[:1] + prefix + item_reference[1:]
    return body + gtin_check_digit(body)


_EPC_GTIN = re.compile(r"^urn:epc:(id:sgtin|class:lgtin):(\d{6,12})\.(\d{1,7})\.(.+)$")


def epc_gtin_parts(urn: str) -> tuple[str, str, str] | None:
    """(GTIN-14, AI, lot or serial) of an SGTIN or LGTIN URN, or None for any other text."""
    match = _EPC_GTIN.match(urn.strip())
    if match is None or len(match.group(2)) + len(match.group(3)) != 13:
        return None
    key = "21" if match.group(1) == "id:sgtin" else "10"
    return gtin_of(match.group(2), match.group(3)), key, unquote(match.group(4))


def foreign_label(text: str) -> str | None:
    """Why a Digital Link is not one of this site's labels (another resolver or another company
    prefix), or None when it is ours or not a Digital Link at all."""
    link = digital_link_parts(text.strip())
    if link is None:
        return None
    if link.host != settings.CELLTRACE_RESOLVER:
        return f"This label belongs to another site ({link.host}), not to this line."
    prefix = settings.CELLTRACE_GS1_COMPANY_PREFIX  # GTIN-14: indicator digit, then the prefix
    if link.gtin[1 : 1 + len(prefix)] != prefix:
        return f"This label carries another company's GTIN ({link.gtin}), not one of this line's."
    return None


def code_from_digital_link(uri: str) -> str | None:
    """The item code inside a Digital Link URI (any resolver), or None if `uri` is not one."""
    found = digital_link_parts(uri)
    return found.code if found is not None else None


def epc_normalize(raw: str, *, field: str = "rfid_epc") -> str:
    """An EPC as its pure-identity URN (urn:epc:id:...), from a URN, a tag URI or hex."""
    value = raw.strip()
    try:
        if value.lower().startswith("urn:epc:id:"):
            scheme: EPCScheme = epc_pure_identity_to_tag_encodable(value)
        elif value.lower().startswith("urn:epc:tag:"):
            scheme = tag_uri_to_tag_encodable(value)
        elif _HEX.match(value):
            scheme = hex_to_tag_encodable(value.removeprefix("0x"))
        else:
            raise ValueError("not an EPC URN or hex")
    except Exception as exc:  # epcpy raises many kinds; all mean "not a valid EPC"
        raise InvalidInput(
            f"{raw!r} is not a valid EPC (URN or hex): {exc}", field=field, code=ErrorCode.BAD_EPC
        ) from None
    return str(scheme.epc_uri)
