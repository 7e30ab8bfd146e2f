"""Writes on the GTIN-to-kind table (audited)."""

from django.db import transaction

from audit.services import Actor, audit_record
from core.errors import ErrorCode, InvalidInput, NotFound
from lots.identifiers import gtin14, gtin_check_digit
from lots.services import kind_get

from .models import GtinKind


def gtin_checked(raw: object, *, field: str = "gtin") -> str:
    """A GTIN-8/12/13/14 as its GTIN-14, its check digit right."""
    text = gtin14(str(raw).strip()) if isinstance(raw, str | int) else ""
    if len(text) != 14 or not text.isdigit() or gtin_check_digit(text[:13]) != text[13]:
        raise InvalidInput(f"{raw!r} is not a GTIN (8, 12, 13 or 14 digits, check digit right).", field=field)
    return text


@transaction.atomic
def gtin_kind_set(*, actor: Actor, gtin: str, kind: str, note: str = "") -> GtinKind:
    checked = gtin_checked(gtin)
    item_kind = kind_get(kind)
    before = GtinKind.objects.filter(gtin=checked).values("kind_id", "note").first()
    row, _created = GtinKind.objects.update_or_create(gtin=checked, defaults={"kind": item_kind, "note": note})
    audit_record(actor=actor, action="gtin_kind.set", entity="gtin_kind", entity_id=checked, before=before,
                 after={"kind_id": item_kind.code, "note": note})  # fmt: skip
    return row


@transaction.atomic
def gtin_kind_delete(*, actor: Actor, gtin: str) -> None:
    before = GtinKind.objects.filter(gtin=gtin).values("kind_id", "note").first()
    if before is None:
        raise NotFound(f"No GTIN {gtin!r} in the table.", code=ErrorCode.NOT_FOUND)
    GtinKind.objects.filter(gtin=gtin).delete()
    audit_record(actor=actor, action="gtin_kind.delete", entity="gtin_kind", entity_id=gtin, before=before)
