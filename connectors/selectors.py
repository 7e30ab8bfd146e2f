"""Reads of connectors: the list with its mappings, one by code, and the live status."""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from core.errors import ErrorCode, NotFound

from .config import STALE_AFTER_S
from .models import Connector, ConnectorMapping, ConnectorState, ConnectorStatus
from .validation import MASKED_OPTIONS, OPTION_MASK


def connector_list() -> QuerySet[Connector]:
    """Every connector with its status and its mappings (station and parameter codes): three
    queries however many there are."""
    mappings = ConnectorMapping.objects.select_related("station", "parameter").order_by("id")
    return Connector.objects.select_related("status").prefetch_related(Prefetch("mappings", queryset=mappings))


def options_shown(options: dict[str, Any]) -> dict[str, Any]:
    """The options as answers show them: a password set is the mask, never its text."""
    return {k: (OPTION_MASK if k in MASKED_OPTIONS and v else v) for k, v in options.items()}


def connector_get(code: object) -> Connector:
    connector = connector_list().filter(code=str(code)).first()
    if connector is None:
        raise NotFound(f"No connector {code!r}.", field="code", code=ErrorCode.UNKNOWN_CONNECTOR)
    return connector


def _status_row(connector: Connector) -> ConnectorStatus:
    try:
        return connector.status
    except ConnectorStatus.DoesNotExist:  # made outside connector_create: never run
        return ConnectorStatus(connector=connector)


def connector_state(connector: Connector, status: ConnectorStatus, now: datetime | None = None) -> str:
    """`disabled` when switched off; `stopped` when no run_connectors has written a heartbeat
    within STALE_AFTER_S; else what the running process reported."""
    if not connector.enabled:
        return ConnectorState.DISABLED
    now = now or timezone.now()
    if status.heartbeat_at is None or now - status.heartbeat_at > timedelta(seconds=STALE_AFTER_S):
        return ConnectorState.STOPPED
    return status.state


def connector_status(connector: Connector, now: datetime | None = None) -> dict[str, Any]:
    """The contract's status: state, the counts, the last error and the last value's time."""
    status = _status_row(connector)
    return {
        "state": connector_state(connector, status, now),
        "received": status.received,
        "stored": status.stored,
        "rejected": status.rejected,
        "last_error": status.last_error,
        "last_value_at": status.last_value_at,
    }
