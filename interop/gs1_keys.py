"""GS1 keys in EPC URNs and GS1 Digital Links, to one canonical id.gs1.org Digital Link.

EPC Tag Data Standard 2.0 (pure-identity, class and pattern URNs) and GS1 Digital Link 1.2
(primary keys, their short names, key qualifiers), as the CBV 2.0 event hash wants them: the
lowest level of identification, no CPV, no query string. Follows the rules of the CBV editors'
reference implementation (github.com/RalphTro/epcis-event-hash-generator, dl_normaliser.py).
"""

import re
from collections.abc import Callable

from lots.identifiers import gtin_check_digit

# What GS1 Digital Link table 7-1 wants escaped that an EPC URN may carry bare.
_DL_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "!()*+,:"})


def _esc(text: str) -> str:
    return text.translate(_DL_ESCAPES)


def _check(body: str) -> str:
    return body + gtin_check_digit(body)


def _gtin(prefix: str, item_ref: str) -> str:
    """GTIN-14 of an SGTIN-style company prefix and item reference (indicator digit first)."""
    return _check(item_ref[:1] + prefix + item_ref[1:])


_Build = Callable[..., str]
# (URN head, pattern of the rest, digits the company prefix and the first reference make, build).
_URN_RULES: list[tuple[str, str, int | None, _Build]] = [
    ("id:sgtin", r"(\d+)\.(\d+)\.(.+)", 13, lambda p, i, s: f"/01/{_gtin(p, i)}/21/{_esc(s)}"),
    ("id:sscc", r"(\d+)\.(\d+)", 17, lambda p, s: f"/00/{_check(s[:1] + p + s[1:])}"),
    ("id:sgln", r"(\d+)\.(\d*)\.(.+)", 12,
     lambda p, loc, e: f"/414/{_check(p + loc)}" + ("" if e == "0" else f"/254/{_esc(e)}")),
    ("id:pgln", r"(\d+)\.(\d*)", 12, lambda p, r: f"/417/{_check(p + r)}"),
    ("id:grai", r"(\d+)\.(\d*)\.(.+)", 12, lambda p, a, s: f"/8003/{_check('0' + p + a)}{_esc(s)}"),
    ("id:giai", r"(\d+)\.(.+)", None, lambda p, a: f"/8004/{p}{_esc(a)}"),
    ("id:gsrn", r"(\d+)\.(\d+)", 17, lambda p, s: f"/8018/{_check(p + s)}"),
    ("id:gsrnp", r"(\d+)\.(\d+)", 17, lambda p, s: f"/8017/{_check(p + s)}"),
    ("id:gdti", r"(\d+)\.(\d*)\.(.+)", 12, lambda p, d, s: f"/253/{_check(p + d)}{_esc(s)}"),
    ("id:cpi", r"(\d+)\.([0-9A-Z%-]+)\.(\d{1,12})", None, lambda p, c, s: f"/8010/{_esc(p + c)}/8011/{s}"),
    ("id:sgcn", r"(\d+)\.(\d*)\.(\d{1,12})", 12, lambda p, c, s: f"/255/{_check(p + c)}{s}"),
    ("id:ginc", r"(\d+)\.(.+)", None, lambda p, r: f"/401/{p}{_esc(r)}"),
    ("id:gsin", r"(\d+)\.(\d+)", 16, lambda p, s: f"/402/{_check(p + s)}"),
    ("id:itip", r"(\d+)\.(\d+)\.(\d\d)\.(\d\d)\.(.+)", 13,
     lambda p, i, n, t, s: f"/8006/{_gtin(p, i)}{n}{t}/21/{_esc(s)}"),
    ("id:upui", r"(\d+)\.(\d+)\.(.+)", 13, lambda p, i, s: f"/01/{_gtin(p, i)}/235/{_esc(s)}"),
    ("class:lgtin", r"(\d+)\.(\d+)\.(.+)", 13, lambda p, i, lot: f"/01/{_gtin(p, i)}/10/{_esc(lot)}"),
    ("idpat:sgtin", r"(\d+)\.(\d+)\.\*", 13, lambda p, i: f"/01/{_gtin(p, i)}"),
    ("idpat:upui", r"(\d+)\.(\d+)\.\*", 13, lambda p, i: f"/01/{_gtin(p, i)}"),
    ("idpat:grai", r"(\d+)\.(\d*)\.\*", 12, lambda p, a: f"/8003/{_check('0' + p + a)}"),
    ("idpat:gdti", r"(\d+)\.(\d*)\.\*", 12, lambda p, d: f"/253/{_check(p + d)}"),
    ("idpat:sgcn", r"(\d+)\.(\d*)\.\*", 12, lambda p, c: f"/255/{_check(p + c)}"),
    ("idpat:cpi", r"(\d+)\.([0-9A-Z%-]+)\.\*", None, lambda p, c: f"/8010/{_esc(p + c)}"),
    ("idpat:itip", r"(\d+)\.(\d+)\.(\d\d)\.(\d\d)\.\*", 13, lambda p, i, n, t: f"/8006/{_gtin(p, i)}{n}{t}"),
]  # fmt: skip
_URNS = {head: (re.compile(rest + "$"), digits, build) for head, rest, digits, build in _URN_RULES}
_URN = re.compile(r"^urn:epc:((?:id|class|idpat):[a-z]+):(.+)$")

# Digital Link primary keys and qualifiers: short names to application identifiers.
_SHORT_AI = {"gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417", "gsrnp": "8017",
             "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253", "ginc": "401", "gsin": "402",
             "grai": "8003", "giai": "8004", "lot": "10", "ser": "21", "cpv": "22"}  # fmt: skip
_KEYS = "01|gtin|8006|itip|8010|cpid|414|gln|417|party|8017|gsrnp|8018|gsrn|255|gcn|00|sscc|253|gdti|401|ginc|402|gsin|8003|grai|8004|giai"  # noqa: E501
_DL = re.compile(
    rf"^https?://[^/?#]+(?:/[^?#]*)?/({_KEYS})/"
    r"([^/?#]+)((?:/[^/?#]+/[^/?#]+)*)/?(?:[?#].*)?$"
)


def canonical_digital_link(text: str) -> str | None:
    """The canonical id.gs1.org Digital Link of an EPC URN or a Digital Link on any resolver,
    at its lowest level of identification (serial over lot, no CPV, no query), or None."""
    urn = _URN.match(text)
    if urn is not None:
        return _from_urn(urn.group(1), urn.group(2))
    match = _DL.match(text)
    if match is None:
        return None
    ai, key = _SHORT_AI.get(match.group(1), match.group(1)), match.group(2)
    if ai == "01" and key.isdigit() and len(key) in (8, 12, 13):
        key = key.zfill(14)
    pairs = match.group(3).strip("/").split("/") if match.group(3) else []
    qualifiers = {_SHORT_AI.get(pairs[i], pairs[i]): pairs[i + 1] for i in range(0, len(pairs) - 1, 2)}
    qualifiers.pop("22", None)
    if "21" in qualifiers:
        qualifiers.pop("10", None)
    return f"https://id.gs1.org/{ai}/{key}" + "".join(f"/{q}/{v}" for q, v in qualifiers.items())


def _from_urn(head: str, rest: str) -> str | None:
    """An EPC URN's Digital Link, or None if the scheme is unknown or its digits do not add up."""
    rule = _URNS.get(head)
    if rule is None:
        return None
    pattern, digits, build = rule
    match = pattern.match(rest)
    if match is None:
        return None
    prefix, reference = match.group(1), match.group(2)
    if not 6 <= len(prefix) <= 12 or (digits is not None and len(prefix) + len(reference) != digits):
        return None
    return "https://id.gs1.org" + build(*match.groups())
