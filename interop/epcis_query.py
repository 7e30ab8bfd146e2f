"""The EPCIS 2.0 REST binding's query parameters of the events query, checked, and its page token."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.core import signing
from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import InvalidInput
from core.values import EARLIEST, LATEST
from lots.models import Item
from lots.selectors import item_get, item_lookup_q

from .vocabulary import EVENT_TYPES, bare_biz_step

PER_PAGE_DEFAULT = 30
PER_PAGE_MAX = 1000
_TOKEN_SALT = "interop.epcis.events.page"
_TEXT_MAX = 2000
_VALUES_MAX = 100  # of a list parameter: each EPC is a term of the query
_WHOLE = re.compile(r"[0-9]{1,7}")

# recordTime, the rank of the event's source, the source row's id: the order of the answer.
PageKey = tuple[datetime, int, int]


@dataclass(frozen=True)
class EventQuery:
    item_ids: frozenset[int] | None = None  # None: the whole line
    since: datetime | None = None  # recordTime >= since
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    biz_steps: frozenset[str] | None = None
    event_types: frozenset[str] | None = None
    after: PageKey | None = None
    per_page: int = PER_PAGE_DEFAULT


def page_token(key: PageKey) -> str:
    """Opaque and signed: a client cannot forge a position it was not given."""
    moment, rank, row_id = key
    return signing.dumps([moment.isoformat(), rank, row_id], salt=_TOKEN_SALT, compress=False)


def page_key(token: str) -> PageKey:
    try:
        moment, rank, row_id = signing.loads(token, salt=_TOKEN_SALT)
        parsed = datetime.fromisoformat(moment)
        if not (isinstance(rank, int) and isinstance(row_id, int)) or parsed.tzinfo is None:
            raise ValueError("malformed key")
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidInput("Not a page token this server gave.", field="nextPageToken") from None
    return parsed, rank, row_id


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(f"{name} may be given once.", field=name)
    value = values[0]
    if "\x00" in value or len(value) > _TEXT_MAX:
        raise InvalidInput(f"{name} is not a valid value.", field=name)
    return value


def _many(params: Mapping[str, Sequence[str]], name: str) -> frozenset[str] | None:
    """Repeated or comma-separated (the binding allows both); None when absent."""
    values = params.get(name) or []
    if not values:
        return None
    found = {part.strip() for value in values for part in value.split(",") if part.strip()}
    if len(found) > _VALUES_MAX:
        raise InvalidInput(f"{name} takes at most {_VALUES_MAX} values.", field=name)
    if not found or any("\x00" in part or len(part) > _TEXT_MAX for part in found):
        raise InvalidInput(f"{name} names no value.", field=name)
    return frozenset(found)


def _moment(params: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    text = _one(params, name)
    if text is None:
        return None
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInput(f"{name} is not an ISO 8601 date-time: {text!r}.", field=name)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not EARLIEST <= parsed < LATEST:
        raise InvalidInput(f"{name} is outside the years the line records.", field=name)
    return parsed


def _per_page(params: Mapping[str, Sequence[str]]) -> int:
    text = _one(params, "perPage")
    if text is None:
        return PER_PAGE_DEFAULT
    if not _WHOLE.fullmatch(text) or not 1 <= int(text) <= PER_PAGE_MAX:
        raise InvalidInput(f"perPage is a whole number from 1 to {PER_PAGE_MAX}.", field="perPage")
    return int(text)


def _event_types(params: Mapping[str, Sequence[str]]) -> frozenset[str] | None:
    types = _many(params, "eventType")
    unknown = sorted(set(types or ()) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"Unknown eventType {unknown[0]!r}: one of {', '.join(EVENT_TYPES)}.", field="eventType")
    return types


def _item_ids(params: Mapping[str, Sequence[str]]) -> frozenset[int] | None:
    """?item= names one item (unknown: 404); MATCH_anyEPC any number (unknown ones match nothing)."""
    ids: frozenset[int] | None = None
    item = _one(params, "item")
    if item is not None:
        ids = frozenset({item_get(item, lean=True).pk})
    epcs = _many(params, "MATCH_anyEPC")
    if epcs is not None:
        match = Q(pk__in=[])
        for epc in sorted(epcs):
            match |= item_lookup_q(epc)
        matched = frozenset(Item.objects.filter(match).values_list("pk", flat=True))
        ids = matched if ids is None else ids & matched
    return ids


def events_query_parse(params: Mapping[str, Sequence[str]]) -> EventQuery:
    """The query a request's parameters ask; InvalidInput names the first bad parameter."""
    token = _one(params, "nextPageToken")
    biz_steps = _many(params, "EQ_bizStep")
    item_ids = _item_ids(params)
    return EventQuery(
        item_ids=item_ids,
        since=_moment(params, "since"),
        ge_event_time=_moment(params, "GE_eventTime"),
        lt_event_time=_moment(params, "LT_eventTime"),
        biz_steps=frozenset(bare_biz_step(step) for step in biz_steps) if biz_steps is not None else None,
        event_types=_event_types(params),
        after=page_key(token) if token is not None else None,
        per_page=_per_page(params),
    )
