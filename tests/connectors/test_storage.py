"""A batch of connector readings into the record (connectors.sink.Routes + connectors.storage):
assigned by station and time like single values, positions from the position source, bad values
rejected with their reason without aborting the batch, nothing stored twice."""

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.config import ConnectorConfig
from connectors.drivers.base import Reading
from connectors.models import Connector, ConnectorReceipt, ConnectorStatus
from connectors.runner import configs_load
from connectors.sink import Routes
from connectors.storage import batch_store
from measurements.models import Measurement

from .conftest import ConnectorMake, at

pytestmark = pytest.mark.django_db


def reading(connector: Connector, source: str, value: Any, minutes: float | None, **extra: Any) -> Reading:
    return Reading(
        connector_id=connector.pk,
        source=source,
        value=value,
        received_at=datetime.now(UTC),
        measured_at=None if minutes is None else at(minutes),
        **extra,
    )


@pytest.fixture
def coater(connector_make: ConnectorMake) -> Connector:
    return connector_make(
        "coat-01-mqtt",
        [
            {
                "source": "line1/+/thickness",
                "station": "COAT-01",
                "parameter": "ct_thickness",
                "unit": "um",
                "position_source": "line1/coater/metre",
            },
            {"source": "room/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"},
        ],
    )


def routes() -> Routes:
    found = Routes()
    enabled, _ = configs_load()
    found.configure(enabled.values())
    return found


def config_of(connector: Connector) -> ConnectorConfig:
    return configs_load()[0][connector.pk]


def test_values_are_assigned_by_station_and_time_with_the_metre_of_the_position_source(coater: Connector) -> None:
    batch = routes().batch(
        [
            reading(coater, "line1/coater/metre", 10.0, 10),
            reading(coater, "line1/coater/metre", 20.0, 20),
            reading(coater, "line1/coater/thickness", 101.5, 15),  # metre 10 at 07:10 is the latest before 07:15
            reading(coater, "line1/coater/thickness", 102.5, 25, position_m=33.0),  # sent with the value
            reading(coater, "room/dry-1/dew", -55.0, 5),
        ]
    )
    outcome = batch_store(batch)[coater.pk]
    assert (outcome.received, outcome.stored, outcome.rejected) == (5, 3, 0)
    rows = list(Measurement.objects.order_by("measured_at").values_list("value", "position_m", "item__code", "room"))
    assert rows == [(-55.0, None, None, "dry-room-1"), (101.5, 10.0, "CR-conn", ""), (102.5, 33.0, "CR-conn", "")]
    m = Measurement.objects.get(value=101.5)
    assert (m.source, m.instrument, m.operation_id is not None) == ("online", "coat-01-mqtt", True)
    status = ConnectorStatus.objects.get(pk=coater.pk)
    assert (status.received, status.stored, status.rejected, status.last_value_at is not None) == (5, 3, 0, True)


def test_bad_values_are_rejected_with_their_reason_and_the_good_ones_stored(coater: Connector) -> None:
    batch = routes().batch(
        [
            reading(coater, "line1/coater/thickness", 100.0, 10, unit="kg"),  # not a length
            reading(coater, "line1/coater/thickness", 100.1, 90),  # 08:30: no operation at COAT-01
            reading(coater, "line1/coater/thickness", None, 10, error="the payload is not JSON or a number."),
            reading(coater, "line1/coater/thickness", float("nan"), 10),
            reading(coater, "elsewhere/thickness", 100.2, 10),  # no mapping
            reading(coater, "line1/coater/thickness", 100.3, 10, position_m=1e9),  # beyond the roll
            reading(coater, "line1/coater/thickness", 120.0, 11),  # the one good value
        ]
    )
    outcome = batch_store(batch)[coater.pk]
    assert (outcome.received, outcome.stored, outcome.rejected) == (7, 1, 6)
    assert list(Measurement.objects.values_list("value", flat=True)) == [120.0]
    # Only the stored value keeps a receipt: a rejected one sent again is judged again.
    assert ConnectorReceipt.objects.count() == 1
    status = ConnectorStatus.objects.get(pk=coater.pk)
    assert (status.received, status.stored, status.rejected) == (7, 1, 6)
    assert status.last_error and status.last_error_at is not None


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ({"unit": "kg"}, "unit"),
        ({"minutes": 90}, "COAT-01"),
        ({"value": None, "error": "the payload is not JSON or a number."}, "not JSON"),
        ({"source": "nowhere/x"}, "no mapping"),
        ({"value": float("inf")}, "finite"),
        ({"source": "line1/a\x00/thickness"}, "NUL"),
        ({"unit": "k\ud800g"}, "unit"),  # a lone surrogate, which a text column cannot hold either
    ],
)
def test_each_rejection_names_its_reason_in_last_error(coater: Connector, sent: dict[str, Any], reason: str) -> None:
    minutes = sent.pop("minutes", 10)
    source = sent.pop("source", "line1/coater/thickness")
    value = sent.pop("value", 100.0)
    batch_store(routes().batch([reading(coater, source, value, minutes, **sent)]))
    status = ConnectorStatus.objects.get(pk=coater.pk)
    assert (status.received, status.stored, status.rejected) == (1, 0, 1)
    assert reason in status.last_error
    assert not Measurement.objects.exists()


def test_a_value_sent_again_is_stored_once_and_counted_as_received(coater: Connector) -> None:
    again = [reading(coater, "line1/coater/thickness", 101.0, 10), reading(coater, "line1/coater/thickness", 101.0, 10)]
    first = batch_store(routes().batch(again))[coater.pk]
    second = batch_store(routes().batch(again[:1]))[coater.pk]
    assert (first.received, first.stored, second.received, second.stored) == (2, 1, 1, 0)
    # Same source and time, another value: a new value.
    third = batch_store(routes().batch([reading(coater, "line1/coater/thickness", 101.5, 10)]))[coater.pk]
    assert third.stored == 1
    assert Measurement.objects.count() == 2
    status = ConnectorStatus.objects.get(pk=coater.pk)
    assert (status.received, status.stored, status.rejected) == (4, 2, 0)


def test_values_of_a_connector_deleted_meanwhile_are_dropped(coater: Connector, connector_make: ConnectorMake) -> None:
    other = connector_make(
        "room-mqtt", [{"source": "r/#", "room": "dry-room-1", "parameter": "ct_dew_point", "unit": "degC"}]
    )
    found = routes()
    batch = found.batch([reading(coater, "room/a", -50.0, 1), reading(other, "r/a", -51.0, 1)])
    coater.delete()
    outcomes = batch_store(batch)
    assert list(outcomes) == [other.pk]
    assert list(Measurement.objects.values_list("value", flat=True)) == [-51.0]


def test_a_batch_of_only_bad_values_stores_nothing_and_raises_nothing(coater: Connector) -> None:
    outcome = batch_store(routes().batch([reading(coater, "line1/coater/thickness", 1.0, 200)]))[coater.pk]
    assert (outcome.stored, outcome.rejected) == (0, 1)
    assert not Measurement.objects.exists() and not ConnectorReceipt.objects.exists()


def test_a_batch_is_checked_column_by_column_with_the_collector_paused_and_stored_exactly(
    coater: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path (measurements.ingest_columns) takes a plain batch whole, with the cycle
    collector off; floats and microsecond times come back bit for bit."""
    import gc

    from measurements import ingest

    seen: list[tuple[bool, bool]] = []
    check = ingest.columns_check

    def recording(*args: Any) -> Any:
        checked = check(*args)
        seen.append((checked is not None, gc.isenabled()))
        return checked

    monkeypatch.setattr(ingest, "columns_check", recording)
    values = [0.1 + 0.2, 1e-300, 123456.789012345, -0.0]
    moments = [datetime(2026, 3, 2, 7, 10, 0, 123457, tzinfo=UTC).replace(minute=10 + i) for i in range(4)]
    batch = routes().batch(
        [
            Reading(connector_id=coater.pk, source="room/dry-1/dew", value=v, received_at=t, measured_at=t)
            for v, t in zip(values, moments, strict=True)
        ]
    )
    was_on = gc.isenabled()
    outcome = batch_store(batch)[coater.pk]
    assert (outcome.stored, outcome.rejected) == (4, 0)
    assert seen == [(True, False)]
    assert gc.isenabled() == was_on
    stored = list(Measurement.objects.order_by("measured_at").values_list("value", "sent_value", "measured_at"))
    assert stored == [(v, v, t) for v, t in zip(values, moments, strict=True)]


def test_a_batch_with_one_bad_value_falls_back_to_the_per_row_check(coater: Connector) -> None:
    batch = routes().batch(
        [
            reading(coater, "room/dry-1/dew", -55.0, 5),
            reading(coater, "room/dry-1/dew", -54.0, 6, unit="kg"),  # not a temperature
            reading(coater, "room/dry-1/dew", -53.0, 7),
        ]
    )
    outcome = batch_store(batch)[coater.pk]
    assert (outcome.stored, outcome.rejected) == (2, 1)
    assert "unit" in outcome.last_error
    assert list(Measurement.objects.order_by("value").values_list("value", flat=True)) == [-55.0, -53.0]
