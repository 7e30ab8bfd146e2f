"""EPCIS 2.0 capture: check the whole document, then register what it says in one transaction.

First the GS1 schema (interop.epcis_schema) over the whole document; then every event that is
not already captured (same CBV 2.0 hash) is planned without writing: each GTIN must be in the
GTIN-to-kind table, each uom a Rec 20 code CellTrace knows. Only a document with no error
reaches the writes, which go through the lots and traceability services (their rules, their
audit): an ObjectEvent ADD registers its items, a TransformationEvent becomes an operation at the
supplier station, its outputs registered with lineage to its inputs (inputs not yet on the line
are registered first, then consumed). Anything refused there rolls the whole document back.
Identifiers without a GTIN (SSCC, GIAI, ...) and the other event types are kept as captured
events but register nothing.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import Actor, actor_user, audit_record
from core.errors import DomainError, ErrorCode, InvalidInput
from core.values import moment_check
from lots.models import ItemKind, ItemLevel
from lots.services import ItemSpec, items_register
from traceability.models import Station, Step
from traceability.services import InputSpec, OutputSpec, operation_record, station_create

from .epcis_hash import context_namespaces, event_hash
from .epcis_identities import Existing, Identity, event_identities, identities_lock, identity_of
from .epcis_schema import document_errors
from .models import CapturedEvent, GtinKind
from .units import unit_of_rec20

SUPPLIER_STEP = "supplier_transformation"
SUPPLIER_STATION = "EPCIS-SUPPLIER"


class CaptureRefused(InvalidInput):
    """A 400 with the errors keyed by JSON Pointer; nothing was stored."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        where = next(iter(errors))
        super().__init__(f"{where or '/'}: {errors[where][0]}", code=ErrorCode.INVALID, errors=errors)


class _Race(Exception):
    """Another capture stored one of these events first: plan again, it is now a duplicate."""


@dataclass(frozen=True)
class CaptureResult:
    events: int
    stored: int
    duplicates: int


@dataclass
class Thing:
    """One item an event names: found on the line (`code`) or to be registered (`kind`)."""

    pointer: str
    identity: Identity | None
    quantity: float | None = None
    unit: str | None = None
    kind: ItemKind | None = None
    code: str | None = None
    earlier: "Thing | None" = None  # registered by an earlier event of the same document

    def resolved(self) -> str | None:
        return self.earlier.resolved() if self.earlier is not None else self.code


@dataclass
class Plan:
    index: int
    event: dict[str, Any]
    event_hash: str
    at: datetime  # its eventTime, checked
    registers: list[Thing] = field(default_factory=list)  # ObjectEvent ADD
    inputs: list[Thing] = field(default_factory=list)  # TransformationEvent
    outputs: list[Thing] = field(default_factory=list)


def document_events(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document.get("epcisBody") or {}
    if "queryResults" in body:  # a query's answer, captured as the events it holds
        body = (body["queryResults"].get("resultsBody") or {}) if isinstance(body["queryResults"], dict) else {}
    if "eventList" in body:
        return list(body["eventList"])
    return [body["event"]] if "event" in body else []


class _Planner:
    """Reads only: turns events into Plans, gathering every error of the document."""

    def __init__(self, named: dict[str, Identity]) -> None:
        self.errors: dict[str, list[str]] = {}
        self.existing = Existing(named)
        self.kinds = {row.gtin: row.kind for row in GtinKind.objects.select_related("kind")}
        self.planned: dict[tuple[str, str, str], Thing] = {}  # registered by an earlier event

    def known(self, identity: Identity | None, text: str, pointer: str, *, known_ok: bool) -> Thing | None:
        """The item an identifier names, on the line or registered earlier in this document."""
        if identity is None or not (identity.lot or identity.serial):
            return None  # a pattern names a class, never one item
        earlier = self.planned.get((identity.gtin, identity.lot, identity.serial))
        existing = self.existing.code(identity, text) if earlier is None else None
        if earlier is None and existing is None:
            return None
        if not known_ok:
            self.refuse(pointer, f"{text} is already registered" + (f", as item {existing}." if existing else "."))
        return Thing(pointer, identity, code=existing, earlier=earlier)

    def will_register(self, thing: Thing) -> Thing:
        if thing.identity is not None and (thing.identity.lot or thing.identity.serial):
            self.planned[(thing.identity.gtin, thing.identity.lot, thing.identity.serial)] = thing
        return thing

    def refuse(self, pointer: str, message: str) -> None:
        self.errors.setdefault(pointer, []).append(message)

    def kind(self, identity: Identity | None, pointer: str) -> ItemKind | None:
        if identity is None:
            return None
        kind = self.kinds.get(identity.gtin)
        if kind is None:
            self.refuse(pointer, f"GTIN {identity.gtin} is not in the GTIN-to-kind table; an engineer adds it first.")
        return kind

    def epc(self, text: str, pointer: str, *, known_ok: bool) -> Thing | None:
        identity = identity_of(text)
        if identity is None:
            return None  # an SSCC, a GIAI...: nothing CellTrace registers
        found = self.known(identity, text, pointer, known_ok=known_ok)
        if found is not None:
            return found
        kind = self.kind(identity, pointer)
        if kind is not None and kind.level != ItemLevel.INSTANCE:
            self.refuse(
                pointer, f"GTIN {identity.gtin} is a {kind.code}, counted by quantity: send it in a quantity list."
            )
        return self.will_register(Thing(pointer, identity, kind=kind))

    def quantity(self, element: dict[str, Any], pointer: str, *, known_ok: bool) -> Thing | None:
        text = str(element.get("epcClass", ""))
        identity = identity_of(text)
        where = f"{pointer}/epcClass"
        if identity is None:
            self.refuse(where, f"{text!r} names no GTIN; CellTrace registers only GTIN classes.")
            return None
        found = self.known(identity, text, where, known_ok=known_ok)
        kind = None if found is not None else self.kind(identity, where)
        if kind is not None and kind.level != ItemLevel.BATCH:
            self.refuse(where, f"GTIN {identity.gtin} is a {kind.code}, counted one by one: send its EPCs.")
        unit = kind.default_unit if kind is not None else None
        if "uom" in element:
            unit = unit_of_rec20(str(element["uom"]))
            if unit is None:
                self.refuse(f"{pointer}/uom", f"{element['uom']!r} is not a UN/ECE Rec 20 unit CellTrace knows.")
        quantity = element.get("quantity")
        if found is not None:
            found.quantity, found.unit, found.pointer = quantity, unit, pointer
            return found
        return self.will_register(Thing(pointer, identity, quantity=quantity, unit=unit, kind=kind))

    def things(self, event: dict[str, Any], at: str, epcs: str, quantities: str, *, known_ok: bool) -> list[Thing]:
        found = [self.epc(str(e), f"{at}/{epcs}/{j}", known_ok=known_ok) for j, e in enumerate(event.get(epcs, []))]
        found += [
            self.quantity(q, f"{at}/{quantities}/{j}", known_ok=known_ok)
            for j, q in enumerate(event.get(quantities, []))
            if isinstance(q, dict)
        ]
        return [thing for thing in found if thing is not None]

    def plan(self, index: int, event: dict[str, Any], digest: str) -> Plan | None:
        """The event's plan; None if its time is refused (the document then stores nothing)."""
        at = f"/epcisBody/eventList/{index}"
        try:
            plan = Plan(index, event, digest, _event_time(event))
        except (ValueError, InvalidInput) as exc:  # a leap second, a year CellTrace does not hold
            self.refuse(f"{at}/eventTime", exc.message if isinstance(exc, InvalidInput) else str(exc))
            return None
        if "errorDeclaration" in event:
            return plan  # a retraction or correction of an earlier event: kept, registers nothing
        if event.get("type") == "ObjectEvent" and event.get("action") == "ADD":
            plan.registers = self.things(event, at, "epcList", "quantityList", known_ok=False)
        elif event.get("type") == "TransformationEvent":
            plan.inputs = self.things(event, at, "inputEPCList", "inputQuantityList", known_ok=True)
            plan.outputs = self.things(event, at, "outputEPCList", "outputQuantityList", known_ok=False)
        return plan


def _event_time(event: dict[str, Any]) -> datetime:
    """The eventTime the planner checked (RFC 3339, which Python reads once `Z` is an offset)."""
    text = str(event["eventTime"]).upper().replace("Z", "+00:00")
    return moment_check(datetime.fromisoformat(text), field="eventTime")


def _new_things(plan: Plan) -> list[Thing]:
    """What an event registers before anything else: an ADD's items, a transformation's inputs
    not yet on the line (its outputs are the operation's)."""
    if plan.registers:
        return [t for t in plan.registers if t.kind]
    return [t for t in plan.inputs if t.code is None and t.earlier is None]


def _register_all(news: list[tuple[Thing, Plan]], *, actor: Actor) -> None:
    """Every item the document registers outside its operations, in one items_register: those
    of each event at its eventTime, before any operation (which may consume them)."""
    specs = []
    for thing, plan in news:
        identity = thing.identity
        assert thing.kind is not None and identity is not None  # the planner refused the others
        specs.append(
            ItemSpec(kind=thing.kind.code, quantity=thing.quantity, unit=thing.unit, rfid_epc=identity.urn or None,
                     supplier_lot=identity.lot, gtin=identity.gtin, gs1_serial=identity.serial,
                     attributes={"epcis_event": plan.event_hash}, created_at=plan.at)
        )  # fmt: skip
    try:
        items = items_register(actor=actor, specs=specs)
    except DomainError as exc:
        match = _ITEMS_FIELD.match(next(iter(exc.errors), ""))
        where = news[int(match.group(1))][0].pointer if match else f"/epcisBody/eventList/{news[0][1].index}"
        raise CaptureRefused({where: [exc.message]}) from None
    for (thing, _plan), item in zip(news, items, strict=True):
        thing.code = item.code


def _supplier_station(actor: Actor) -> str:
    """The step and station a supplier's transformations are recorded at, made on first use."""
    Step.objects.get_or_create(
        code=SUPPLIER_STEP, defaults={"name": "Supplier transformation (EPCIS capture)", "sequence": 900}
    )
    if not Station.objects.filter(code=SUPPLIER_STATION).exists():
        station_create(actor=actor, code=SUPPLIER_STATION, name="Suppliers (EPCIS capture)", steps=[SUPPLIER_STEP])
    return SUPPLIER_STATION


def _transform(plan: Plan, registered: list[str], *, actor: Actor, station: str) -> tuple[int | None, list[str]]:
    inputs = [
        InputSpec(item=str(t.resolved()))
        if t.quantity is None
        else InputSpec(item=str(t.resolved()), quantity=t.quantity, unit=t.unit)
        for t in plan.inputs
    ]
    outputs = [
        OutputSpec(kind=t.kind.code, quantity=t.quantity, unit=t.unit, rfid_epc=(t.identity.urn or None),
                   attributes={"epcis_event": plan.event_hash}, gtin=t.identity.gtin, supplier_lot=t.identity.lot,
                   gs1_serial=t.identity.serial)
        for t in plan.outputs
        if t.kind is not None and t.identity is not None
    ]  # fmt: skip
    result = operation_record(
        actor=actor, step=SUPPLIER_STEP, station=station, started_at=plan.at, ended_at=plan.at,
        inputs=inputs, outputs=outputs,
    )  # fmt: skip
    for thing, item in zip(plan.outputs, result.outputs, strict=True):
        thing.code = item.code  # a later event of the document may consume it
    return result.operation.pk, registered + [item.code for item in result.outputs]


_SPEC_FIELD = re.compile(r"^(inputs|outputs)\[(\d+)\]")
_ITEMS_FIELD = re.compile(r"^items\[(\d+)\]")


def _pointer_of(error: DomainError, plan: Plan) -> str:
    """The JSON Pointer of what a service refused: the input or output it names, else the event."""
    name = next(iter(error.errors), "")
    match = _SPEC_FIELD.match(name)
    things = plan.inputs if match and match.group(1) == "inputs" else plan.outputs
    if match and int(match.group(2)) < len(things):
        return things[int(match.group(2))].pointer
    for thing in plan.registers + plan.inputs + plan.outputs:
        if thing.resolved() is None:
            return thing.pointer
    return f"/epcisBody/eventList/{plan.index}"


def _apply(plans: list[Plan], namespaces: dict[str, str], *, actor: Actor) -> None:
    rows = [
        CapturedEvent(event_hash=p.event_hash, event_type=str(p.event.get("type", "")), event_time=p.at,
                      event=p.event, namespaces=namespaces, captured_by=actor_user(actor))
        for p in plans
    ]  # fmt: skip
    try:
        with transaction.atomic():
            # First, so that a parallel capture of the same events waits here, then fails.
            CapturedEvent.objects.bulk_create(rows)
    except IntegrityError:
        raise _Race from None
    fresh = {plan.index: _new_things(plan) for plan in plans}  # before their codes are known
    _register_all([(thing, plan) for plan in plans for thing in fresh[plan.index]], actor=actor)
    registered = {index: [str(thing.code) for thing in things] for index, things in fresh.items()}
    station = _supplier_station(actor) if any(p.inputs or p.outputs for p in plans) else ""
    for plan, row in zip(plans, rows, strict=True):
        if plan.registers:
            row.items = registered[plan.index]
            continue
        if not (plan.inputs or plan.outputs):
            continue
        try:
            row.operation_id, row.items = _transform(plan, registered[plan.index], actor=actor, station=station)
        except DomainError as exc:
            raise CaptureRefused({_pointer_of(exc, plan): [exc.message]}) from None
        except IntegrityError:  # a parallel capture registered the same serial: plan again
            raise _Race from None
    # What the events did, in one UPDATE for the document (a CASE per column; Django splits it
    # only past SQLite's parameter limit), not one per event.
    done = [row for row in rows if row.items or row.operation_id]
    if done:
        CapturedEvent.objects.bulk_update(done, ["items", "operation"])


def capture(document: object, *, actor: Actor) -> CaptureResult:
    """Capture an EPCIS 2.0 document: all of it, or (CaptureRefused) nothing."""
    errors = document_errors(document)
    if errors:
        raise CaptureRefused(errors)
    assert isinstance(document, dict)  # the schema says so
    namespaces = context_namespaces(document.get("@context"))
    events = document_events(document)
    hashes = [event_hash(event, namespaces) for event in events]
    for _attempt in range(3):
        try:
            return _capture_once(events, hashes, namespaces, actor=actor)
        except _Race:
            continue
    raise CaptureRefused({"": ["The document is being captured by another request; send it again."]})


@transaction.atomic
def _capture_once(
    events: list[dict[str, Any]], hashes: list[str], namespaces: dict[str, str], *, actor: Actor
) -> CaptureResult:
    named = event_identities(events)  # the lookups may ask for more than the events not yet stored
    identities_lock(named)
    known = set(CapturedEvent.objects.filter(event_hash__in=hashes).values_list("event_hash", flat=True))
    planner, plans, seen = _Planner(named), [], set(known)
    for index, (event, digest) in enumerate(zip(events, hashes, strict=True)):
        if digest in seen:
            continue
        seen.add(digest)
        if (plan := planner.plan(index, event, digest)) is not None:
            plans.append(plan)
    if planner.errors:
        raise CaptureRefused(planner.errors)
    _apply(plans, namespaces, actor=actor)
    if plans:
        audit_record(actor=actor, action="epcis.capture", entity="epcis_document", entity_id=hashes[0][:64],
                     after={"events": len(events), "stored": [p.event_hash for p in plans]})  # fmt: skip
    return CaptureResult(events=len(events), stored=len(plans), duplicates=len(events) - len(plans))
