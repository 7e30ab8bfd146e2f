"""The OPC UA driver under run_connectors, end to end: values of a real asyncua server stored
as measurements of the roll in process, with their source time and the metre from the position
node; a server restart stores nothing twice. Needs the runner and its test fixtures
(connectors.runner, tests/connectors/conftest.py and support.py); skipped without them."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

pytest.importorskip("connectors.runner")

from connectors.models import Connector, ConnectorStatus  # noqa: E402
from lots.models import Item  # noqa: E402
from measurements.models import Measurement  # noqa: E402
from tests.connectors.opcua_plant import Coater, free_port  # noqa: E402
from tests.support import reseed_after_the_last_truncate  # noqa: E402, F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake, at  # noqa: E402
from .support import running, wait_for  # noqa: E402

# Transactional (the runner's threads commit): PostgreSQL only, like the runner's own tests.
pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

THICKNESS = "ns=2;s=Coater.Thickness"
POSITION = "ns=2;s=Coater.Position"


@pytest.fixture(scope="module")
def coater() -> Iterator[Coater]:
    coater = Coater(free_port())
    coater.call(coater.setup())
    yield coater
    coater.close()


def status(connector: Connector) -> ConnectorStatus:
    return ConnectorStatus.objects.get(pk=connector.pk)


def stored(item: Item) -> list[tuple[datetime, float, float | None]]:
    rows = Measurement.objects.filter(item=item, parameter__code="ct_thickness").order_by("measured_at")
    return [(m.measured_at, m.value, m.position_m) for m in rows]


def test_values_are_stored_on_the_roll_in_process_with_the_metre_and_a_restart_stores_nothing_twice(
    coater: Coater, connector_make: ConnectorMake, coating: Item
) -> None:
    mapping = {"source": THICKNESS, "station": "COAT-01", "parameter": "ct_thickness", "unit": "um"}
    connector = connector_make(
        "COAT-01-plc", [{**mapping, "position_source": POSITION}], kind="opcua", endpoint=coater.endpoint
    )
    with running():
        wait_for(lambda: status(connector).state == "connected", what="connected")
        for minute in range(10, 15):
            coater.call(coater.put("Position", float(minute), at(minute)))
            coater.call(coater.put("Thickness", 80.0 + minute / 10, at(minute) + timedelta(seconds=30)))
        wait_for(lambda: len(stored(coating)) == 5, what="5 stored")

        coater.call(coater.server.stop())
        wait_for(lambda: status(connector).state == "reconnecting", what="reconnecting")
        coater.call(coater.server.start())
        wait_for(lambda: status(connector).state == "connected", what="connected again")
        coater.call(coater.put("Thickness", 81.5, at(15) + timedelta(seconds=30)))
        wait_for(lambda: len(stored(coating)) == 6, what="the value after the restart")

    expected = [(at(m) + timedelta(seconds=30), 80.0 + m / 10, float(m)) for m in range(10, 15)]
    assert stored(coating) == [*expected, (at(15) + timedelta(seconds=30), 81.5, 14.0)]
    assert status(connector).stored == 6
