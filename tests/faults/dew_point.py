"""The dry-room dew-point connector the connector fault tests stream into run_connectors from a
Mosquitto of their own, its numbered messages (one a second) and its state."""

from datetime import UTC, datetime, timedelta

from connectors.models import Connector, ConnectorMapping, ConnectorStatus
from measurements.models import Parameter

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def dew_point_connector(port: int, client_id: str) -> Connector:
    parameter = Parameter.objects.create(
        code="ct_dew_point", name="Dew point", scope="environment", category="PP", unit="degC"
    )
    found = Connector.objects.create(
        code="room-mqtt", kind="mqtt", endpoint=f"mqtt://127.0.0.1:{port}", options={"client_id": client_id}
    )
    ConnectorMapping.objects.create(
        connector=found, source="plant/dew/#", room="dry-room-1", parameter=parameter, unit="degC"
    )
    ConnectorStatus.objects.create(connector=found)
    return found


def dew_point_messages(start: int, stop: int) -> list[tuple[str, dict[str, object]]]:
    return [
        ("plant/dew/a", {"value": -50.0 - i / 1000, "measured_at": (T0 + timedelta(seconds=i)).isoformat()})
        for i in range(start, stop)
    ]


def connector_state(connector: Connector) -> str:
    return str(ConnectorStatus.objects.get(pk=connector.pk).state)
