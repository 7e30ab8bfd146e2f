"""The line's history as EPCIS 2.0 events, a page at a time, in recordTime order.

Seven sources, each one query per page (a keyset after the page token, perPage + 1 rows):
registrations (ObjectEvent ADD), operations (TransformationEvent), holds and releases
(ObjectEvent OBSERVE), measurements (ObjectEvent with a sensorElementList), corrections (the
corrected measurement's event again, with an errorDeclaration) and captured events (as they were
sent, recordTime the capture time; the items and operations a capture made are not derived
again). The page is the first perPage of their merge; the inputs, outputs and caught items of
the page's events take one query each.
"""

import heapq
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, Model, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from lots.models import Item
from measurements.models import Measurement
from traceability.models import Hold, HoldItem, Operation, OperationInput, Step

from .epcis_events import (
    EPCIS_CONTEXT,
    PageRows,
    correction_event,
    hold_event,
    measurement_event,
    operation_event,
    registration_event,
    release_event,
)
from .epcis_hash import STANDARD_NAMESPACES, context_namespaces
from .epcis_query import EventQuery, PageKey
from .models import CapturedEvent
from .vocabulary import (
    CBV_BIZ_STEP_PREFIXES,
    HOLD_BIZ_STEP,
    MEASUREMENT_BIZ_STEP,
    REGISTRATION_BIZ_STEP,
    steps_with_biz_step,
)

REGISTRATION, OPERATION, HOLD, RELEASE, MEASUREMENT, CORRECTION, CAPTURED = range(7)


@dataclass(frozen=True)
class EventPage:
    document: dict[str, Any]
    next_key: PageKey | None  # None: the last page


def _registrations(query: EventQuery) -> QuerySet[Item]:
    captured = CapturedEvent.objects.filter(event_hash=OuterRef("captured_by_event"))
    rows = (
        Item.objects.filter(produced_by__isnull=True)
        .annotate(captured_by_event=KeyTextTransform("epcis_event", "attributes"))
        .exclude(Exists(captured))  # exported as the captured event that registered it
        .select_related("kind", "station")
    )
    if query.item_ids is not None:
        rows = rows.filter(pk__in=query.item_ids)
    if query.biz_steps is not None and REGISTRATION_BIZ_STEP not in query.biz_steps:
        rows = rows.none()
    return rows.annotate(record_time=F("created_at"), event_time=F("created_at"))


def _operations(query: EventQuery) -> QuerySet[Operation]:
    captured = CapturedEvent.objects.filter(operation=OuterRef("pk"))
    rows = Operation.objects.exclude(Exists(captured)).select_related("station")
    if query.item_ids is not None:
        consumed = OperationInput.objects.filter(operation=OuterRef("pk"), item_id__in=query.item_ids)
        produced = Item.objects.filter(produced_by=OuterRef("pk"), pk__in=query.item_ids)
        rows = rows.filter(Exists(consumed) | Exists(produced))
    if query.biz_steps is not None:
        steps = list(Step.objects.values_list("code", flat=True)) if query.biz_steps else []
        rows = rows.filter(step_id__in=steps_with_biz_step(set(query.biz_steps), steps))
    return rows.annotate(record_time=F("created_at"), event_time=Coalesce("ended_at", "started_at"))


def _holds(query: EventQuery, *, released: bool) -> QuerySet[Hold]:
    rows = Hold.objects.select_related("station")
    if released:
        rows = rows.filter(released_at__isnull=False)
    if query.item_ids is not None:
        rows = rows.filter(Exists(HoldItem.objects.filter(hold=OuterRef("pk"), item_id__in=query.item_ids)))
    if query.biz_steps is not None and HOLD_BIZ_STEP not in query.biz_steps:
        rows = rows.none()
    moment = F("released_at") if released else F("created_at")
    return rows.annotate(record_time=moment, event_time=moment)


def _measurements(query: EventQuery, *, corrections: bool) -> QuerySet[Measurement]:
    subject = "supersedes__" if corrections else ""
    rows = Measurement.objects.select_related(
        f"{subject}parameter", f"{subject}item__kind", f"{subject}station", *([subject[:-2]] if subject else [])
    ).defer(f"{subject}series")
    has_series = ExpressionWrapper(Q(**{f"{subject}series__isnull": False}), output_field=BooleanField())
    rows = rows.annotate(subject_is_series=has_series)
    if corrections:
        rows = rows.filter(supersedes__isnull=False)
    if query.item_ids is not None:
        rows = rows.filter(**{f"{subject}item_id__in": query.item_ids})
    if query.biz_steps is not None and MEASUREMENT_BIZ_STEP not in query.biz_steps:
        rows = rows.none()
    return rows.annotate(record_time=F("created_at"), event_time=F(f"{subject}measured_at"))


def _captured(query: EventQuery) -> QuerySet[CapturedEvent]:
    """The events captured, as sent: found by the items they registered or consumed."""
    rows = CapturedEvent.objects.all()
    if query.event_types is not None:
        rows = rows.filter(event_type__in=query.event_types)
    if query.item_ids is not None:
        # Cast: a key transform's exact lookup reads the other side as JSON on SQLite, and a hash isn't.
        made = Item.objects.annotate(by=Cast(KeyTextTransform("epcis_event", "attributes"), TextField())).filter(
            by=OuterRef("event_hash"), pk__in=query.item_ids
        )
        taken = OperationInput.objects.filter(operation_id=OuterRef("operation_id"), item_id__in=query.item_ids)
        rows = rows.filter(Exists(made) | Exists(taken))
    if query.biz_steps is not None:
        spelled = [prefix + step for step in query.biz_steps for prefix in ("", *CBV_BIZ_STEP_PREFIXES)]
        rows = rows.annotate(biz_step=Cast(KeyTextTransform("bizStep", "event"), TextField())).filter(
            biz_step__in=spelled
        )
    return rows.annotate(record_time=F("captured_at"))


def _after(rows: QuerySet[Any], rank: int, key: PageKey | None) -> QuerySet[Any]:
    """Rows after the key in (recordTime, source rank, id) order."""
    if key is None:
        return rows
    moment, key_rank, row_id = key
    if rank > key_rank:
        return rows.filter(record_time__gte=moment)
    if rank < key_rank:
        return rows.filter(record_time__gt=moment)
    return rows.filter(Q(record_time__gt=moment) | Q(record_time=moment, pk__gt=row_id))


def _windowed(rows: QuerySet[Any], rank: int, query: EventQuery) -> list[tuple[PageKey, Model]]:
    """One source's next perPage + 1 rows, with their keys: one query."""
    rows = _after(rows, rank, query.after)
    if query.since is not None:
        rows = rows.filter(record_time__gte=query.since)
    if query.ge_event_time is not None:
        rows = rows.filter(event_time__gte=query.ge_event_time)
    if query.lt_event_time is not None:
        rows = rows.filter(event_time__lt=query.lt_event_time)
    return [((row.record_time, rank, row.pk), row) for row in rows.order_by("record_time", "pk")[: query.per_page + 1]]


def _sources(query: EventQuery) -> list[tuple[int, QuerySet[Any]]]:
    wanted = query.event_types
    sources: list[tuple[int, QuerySet[Any]]] = []
    if wanted is None or "ObjectEvent" in wanted:
        sources += [
            (REGISTRATION, _registrations(query)),
            (HOLD, _holds(query, released=False)),
            (RELEASE, _holds(query, released=True)),
            (MEASUREMENT, _measurements(query, corrections=False)),
            (CORRECTION, _measurements(query, corrections=True)),
        ]
    if wanted is None or "TransformationEvent" in wanted:
        sources.append((OPERATION, _operations(query)))
    sources.append((CAPTURED, _captured(query)))
    return sources


def _merged(query: EventQuery) -> Iterator[tuple[PageKey, Model]]:
    streams = [_windowed(rows, rank, query) for rank, rows in _sources(query)]
    return heapq.merge(*streams, key=lambda pair: pair[0])


def _rows_of_page(picked: list[tuple[PageKey, Model]]) -> PageRows:
    """The inputs, outputs and caught items of the page's operations and holds: a query each."""
    operation_ids = [row.pk for (_, rank, _), row in picked if rank == OPERATION]
    hold_ids = {row.pk for (_, rank, _), row in picked if rank in (HOLD, RELEASE)}
    rows = PageRows()
    if operation_ids:
        for taken in OperationInput.objects.filter(operation_id__in=operation_ids).select_related("item__kind"):
            rows.inputs.setdefault(taken.operation_id, []).append(taken)
        for made in Item.objects.filter(produced_by_id__in=operation_ids).select_related("kind").order_by("pk"):
            rows.outputs.setdefault(made.produced_by_id or 0, []).append(made)
    if hold_ids:
        caught = HoldItem.objects.filter(hold_id__in=hold_ids).select_related("item__kind").order_by("pk")
        for held in caught:
            rows.caught.setdefault(held.hold_id, []).append(held.item)
    return rows


def captured_event(row: CapturedEvent, record_time: datetime, rows: PageRows, base_url: str) -> dict[str, Any]:
    """The event as it was captured (its own eventID, if it had one), recorded when captured."""
    return _floats_back(row.event) | {"recordTime": record_time.astimezone(UTC).isoformat()}


def _floats_back(value: Any) -> Any:
    """The event with the numbers PostgreSQL wrote out in full (1e308 as 309 digits) floats again:
    an integer of more than 17 digits, 17 or fewer of them significant, was a float when sent."""
    if isinstance(value, dict):
        return {k: _floats_back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_back(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**17:
        digits = str(abs(value))
        return float(value) if len(digits.rstrip("0")) <= 17 else value
    return value


# The prefixes the standard EPCIS 2.0 context defines: a captured document may map them otherwise.
_STANDARD_CONTEXT_PREFIXES = frozenset({"epcis", "cbv", "cbvmda", "gs1", "rdfs", "owl", "xsd", "dcterms"})


def _context(picked: list[tuple[PageKey, Model]]) -> list[Any]:
    """The export's @context, with the prefixes the page's captured events' extensions use that
    neither the standard context, CellTrace nor an earlier captured event of the page defines."""
    context = EPCIS_CONTEXT()
    taken = set(context_namespaces(context)) | _STANDARD_CONTEXT_PREFIXES
    extra: dict[str, str] = {}
    for (_, rank, _), row in picked:
        if rank == CAPTURED and isinstance(row, CapturedEvent):
            for prefix, iri in (row.namespaces or {}).items():
                if isinstance(iri, str) and not prefix.startswith("@") and prefix not in taken | set(extra):
                    extra[prefix] = iri
    return context + [extra] if extra else context


def _scoped(event: dict[str, Any], captured: dict[str, Any], exported: dict[str, str]) -> dict[str, Any]:
    """The event with its own @context where its document's prefixes differ from the export's:
    a prefix mapped otherwise, or one the export defines and its document did not (null)."""
    own = STANDARD_NAMESPACES | {k: v for k, v in captured.items() if isinstance(v, str)}
    seen = STANDARD_NAMESPACES | exported
    scope: dict[str, str | None] = {k: v for k, v in own.items() if seen.get(k) != v}
    missing = [k for k in seen if k not in own]
    if missing:  # a compact IRI is a string starting "prefix:": look for them in the text, once
        text = json.dumps(event)
        scope |= {k: None for k in missing if f'"{k}:' in text}
    if not scope:
        return event
    inner = event.get("@context")
    context = [scope, *(inner if isinstance(inner, list) else [inner])] if inner is not None else scope
    return {"@context": context} | {k: v for k, v in event.items() if k != "@context"}


_BUILDERS: dict[int, Callable[[Any, datetime, PageRows, str], dict[str, Any]]] = {
    REGISTRATION: registration_event,
    OPERATION: operation_event,
    HOLD: hold_event,
    RELEASE: release_event,
    MEASUREMENT: measurement_event,
    CORRECTION: correction_event,
    CAPTURED: captured_event,
}


def events_page(query: EventQuery, *, base_url: str, now: datetime | None = None) -> EventPage:
    """One page of the EPCISQueryDocument answering `query`; `base_url` prefixes the links to
    files (rawData). A constant number of queries, whatever the number of events."""
    picked = list(islice(_merged(query), query.per_page + 1))
    more = len(picked) > query.per_page
    picked = picked[: query.per_page]
    rows = _rows_of_page(picked)
    context = _context(picked)
    exported = context_namespaces(context)
    events = [
        _scoped(captured_event(row, key[0], rows, base_url), row.namespaces or {}, exported)
        if isinstance(row, CapturedEvent)
        else _BUILDERS[key[1]](row, key[0], rows, base_url)
        for key, row in picked
    ]
    document = {
        "@context": context,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": (now or timezone.now()).isoformat(),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }
    return EventPage(document=document, next_key=picked[-1][0] if more and picked else None)
