"""A dry-room dew-point stream over MQTT, shared by the tests that run the runner as processes
against a broker of their own: the connector, numbered messages, and what was stored."""

from datetime import UTC, datetime, timedelta

from django.db import connection

from connectors.models import Connector, ConnectorStatus

from .conftest import ConnectorMake

BASE = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def room_connector(connector_make: ConnectorMake, prefix: str, port: int) -> Connector:
    return connector_make(
        "room-mqtt",
        [{"source": f"{prefix}/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"}],
        endpoint=f"mqtt://127.0.0.1:{port}",
        options={"client_id": f"ct-{prefix[-12:]}"},
    )


def room_messages(prefix: str, start: int, n: int) -> list[tuple[str, dict[str, object]]]:
    """Messages start .. start + n - 1, each its own value and millisecond."""
    return [
        (f"{prefix}/a", {"value": -50.0 - i / 1000, "measured_at": (BASE + timedelta(milliseconds=i)).isoformat()})
        for i in range(start, start + n)
    ]


def status_counts(connector: Connector) -> tuple[int, int, int]:
    """(received, stored, rejected) of the connector's live status."""
    s = ConnectorStatus.objects.get(pk=connector.pk)
    return (s.received, s.stored, s.rejected)


def stored_once() -> tuple[int, int]:
    """(rows, distinct messages) in the measurement table: equal when nothing is doubled."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT (measured_at, value)) FROM measurements_measurement")
        total, distinct = cursor.fetchone()
    return int(total), int(distinct)
