from collections.abc import Iterable
from typing import Any, TypeAlias

from django.contrib.auth.models import AnonymousUser, User

from .models import AuditEvent

Actor: TypeAlias = User | AnonymousUser | None


def actor_user(actor: Actor) -> User | None:
    """The user to attribute a write to (None for management commands run without one)."""
    return actor if isinstance(actor, User) and actor.is_authenticated else None


def audit_record(
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int,
    station: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor_user(actor),
        station=station,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
    )


def audit_record_many(
    *, actor: Actor, action: str, entity: str, station: str = "", rows: Iterable[tuple[str, Any, Any]]
) -> None:
    """One INSERT for many rows of (entity_id, before, after)."""
    user = actor_user(actor)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=user,
            station=station,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
        )
        for entity_id, before, after in rows
    )
