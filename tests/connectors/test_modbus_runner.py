"""The Modbus driver under run_connectors, end to end against pymodbus's own server: a register's
scale is applied once (by the driver, not again when stored) and the mapping's unit is the unit
the scaled value is converted from."""

import asyncio
import threading
from collections.abc import Iterator

import pytest

from connectors.models import Connector, ConnectorStatus
from measurements.models import Measurement
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)

from .conftest import ConnectorMake
from .support import running, wait_for
from .test_modbus import HOLDING, UNIT, _free_port, _server

# Transactional (the runner's threads commit): PostgreSQL only, like the runner's own tests.
pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def meter() -> Iterator[int]:
    """A pymodbus server on its own event loop in a thread; holding:7 holds 770."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = _free_port()

    async def start() -> object:
        server = await _server(port)
        await server.async_setValues(UNIT, HOLDING, 7, [770])
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_the_scale_is_applied_once_and_the_mapping_unit_is_converted(meter: int, connector_make: ConnectorMake) -> None:
    # 770 x 0.1 = 77.0 degF = 25 degC; scaled twice it would be 7.7 degF (about -13.5 degC).
    mapping = {
        "source": "holding:7",
        "room": "dry-room-1",
        "parameter": "ct_dew_point",
        "unit": "degF",
        "data_type": "uint16",
        "scale": 0.1,
    }
    connector: Connector = connector_make(
        "room-meter",
        [mapping],
        kind="modbus",
        endpoint=f"modbus://127.0.0.1:{meter}",
        options={"poll_interval_ms": 200},
    )
    values = Measurement.objects.filter(parameter__code="ct_dew_point", instrument="room-meter")
    with running():
        wait_for(lambda: values.exists(), what="a polled value stored")
    first = values.order_by("id").first()
    assert first is not None
    assert first.room == "dry-room-1" and first.item_id is None
    assert first.sent_value == pytest.approx(77.0) and first.sent_unit == "degF"
    assert first.value == pytest.approx(25.0)
    status = ConnectorStatus.objects.get(pk=connector.pk)
    assert status.rejected == 0 and status.stored == values.count() >= 1
