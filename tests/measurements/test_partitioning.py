"""The partitioned measurement table (PostgreSQL): values far from now are stored, partitions are
created ahead idempotently, a value is superseded at most once under concurrency, time-bounded
queries read only their months, the parents are checked per statement and protected from
deletion, and every partition stays append-only."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import Conflict, ErrorCode
from lots.models import Item
from measurements.models import Measurement, Parameter
from measurements.partitioning import DEFAULT_PARTITION, TABLE, Month, partitions_ensure, partitions_list
from measurements.services import MeasurementInput, measurement_correct, measurement_record
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from tests.traceability.test_concurrency import _race, _seeded  # noqa: F401
from traceability.models import Station

pytestmark = pytest.mark.postgresql_only


def _capacity(actor: Any, cell: Item, at: datetime, value: float = 1000.0) -> Measurement:
    data = MeasurementInput(parameter="formation_capacity_t", value=value, unit="mA*h", item=cell.code, measured_at=at)
    return measurement_record(actor=actor, data=data).measurement


def _partition_of(measurement_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [measurement_id])  # noqa: S608
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
@pytest.mark.parametrize("months", [12, -60], ids=["a_year_ahead", "five_years_back"])
def test_a_value_far_from_now_is_stored_and_read_back(engineer, cell, catalog, months):
    at = Month.of(timezone.now()).shifted(months).start + timedelta(days=3, hours=5)
    measurement = _capacity(engineer, cell, at, value=987.5)
    stored = Measurement.objects.get(pk=measurement.pk)
    assert (stored.measured_at, stored.value) == (at, 987.5)
    # Outside the months created by migrate (one back, three ahead): the default partition.
    assert _partition_of(measurement.pk) == DEFAULT_PARTITION
    assert list(Measurement.objects.filter(item=cell, measured_at__gte=at - timedelta(days=1))) == [stored]


@pytest.mark.django_db
def test_a_value_of_a_created_month_goes_to_that_months_partition(engineer, cell, catalog):
    month = Month.of(timezone.now()).shifted(2)
    measurement = _capacity(engineer, cell, month.start + timedelta(hours=1))
    assert _partition_of(measurement.pk) == month.name


@pytest.mark.django_db
def test_create_measurement_partitions_creates_n_months_ahead_and_is_idempotent(db):
    now = Month.of(datetime.now(UTC))
    wanted = {now.shifted(offset).name for offset in range(-1, 8)}
    out = StringIO()
    call_command("create_measurement_partitions", "--months-ahead", "7", stdout=out)
    first = set(partitions_list())
    assert wanted <= first and DEFAULT_PARTITION in first
    assert "9 monthly partitions present" in out.getvalue()
    call_command("create_measurement_partitions", "--months-ahead", "7", stdout=StringIO())
    ensured, skipped = partitions_ensure(months_ahead=7)
    assert set(partitions_list()) == first
    assert (set(ensured), skipped) == (wanted, [])
    # Each new partition refuses TRUNCATE like the others (its own statement trigger).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname LIKE %s",
            [now.shifted(7).name, "%no_truncate"],
        )
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db
def test_a_month_already_in_the_default_partition_is_skipped(engineer, cell, catalog):
    month = Month.of(timezone.now()).shifted(9)
    _capacity(engineer, cell, month.start + timedelta(days=1))
    ensured, skipped = partitions_ensure(months_ahead=9)
    assert skipped == [month.name] and month.shifted(-1).name in ensured
    assert month.name not in partitions_list()


@pytest.mark.django_db(transaction=True)
def test_two_corrections_of_one_value_at_once_one_wins_the_other_is_refused(engineer, cell, catalog):
    original = _capacity(engineer, cell, datetime.now(UTC) - timedelta(hours=1))

    def correct(value: float) -> Any:
        with transaction.atomic():
            data = MeasurementInput(parameter="", value=value, unit="mA*h")
            return measurement_correct(actor=engineer, measurement_id=original.pk, reason="recalibrated", data=data)

    outcomes = _race(lambda: correct(990.0), lambda: correct(995.0))
    assert sorted(kind for kind, _ in outcomes) == ["error", "ok"]
    [error] = [result for kind, result in outcomes if kind == "error"]
    # The API answers it 409 already_corrected.
    assert isinstance(error, Conflict) and error.code == ErrorCode.ALREADY_CORRECTED
    assert Measurement.objects.filter(supersedes=original).count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_second_correction_written_past_the_service(engineer, cell, catalog):
    original = _capacity(engineer, cell, datetime.now(UTC) - timedelta(hours=1))
    fields = {
        "parameter_id": original.parameter_id,
        "item_id": cell.pk,
        "measured_at": original.measured_at,
        "source": "offline",
        "value": 1.0,
        "supersedes_id": original.pk,
        "correction_reason": "again",
    }
    Measurement.objects.create(**fields)
    with pytest.raises(IntegrityError, match=r"\(supersedes_id, measured_at\)"), transaction.atomic():
        Measurement.objects.create(**fields)


def _plan(sql: str, params: list[Any]) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (COSTS OFF) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_a_time_bounded_query_reads_only_the_partitions_of_its_range(db):
    now = Month.of(datetime.now(UTC))
    partitions_ensure(months_ahead=6)
    first, last = now.shifted(1), now.shifted(2)
    sql = f"SELECT id FROM {TABLE} WHERE station_id = %s AND measured_at >= %s AND measured_at < %s"  # noqa: S608
    plan = _plan(sql, [1, first.start + timedelta(days=2), last.start + timedelta(days=5)])
    read = {name for name in partitions_list() if name in plan}
    assert read == {first.name, last.name}, plan
    # A parameter over a range, the datasets' query, is pruned the same way.
    plan = _plan(
        f"SELECT id FROM {TABLE} WHERE parameter_id = %s AND measured_at >= %s AND measured_at < %s",  # noqa: S608
        [1, now.shifted(3).start, now.shifted(4).start],
    )
    assert {name for name in partitions_list() if name in plan} == {now.shifted(3).name}, plan


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["parameter_id", "item_id", "station_id"])
def test_a_measurement_naming_a_missing_parent_is_refused(engineer, cell, catalog, column):
    fields: dict[str, Any] = {
        "parameter_id": catalog["formation_capacity_t"].pk,
        "item_id": cell.pk,
        "measured_at": datetime.now(UTC),
        "source": "offline",
        "value": 1.0,
    }
    fields[column] = 2_000_000_000
    with pytest.raises(IntegrityError, match=column.removesuffix("_id")), transaction.atomic():
        Measurement.objects.create(**fields)
    assert not Measurement.objects.filter(item=cell).exists()


@pytest.mark.django_db
def test_a_bulk_insert_with_one_missing_parent_stores_none_of_its_rows(engineer, cell, catalog):
    parameter = catalog["formation_capacity_t"]
    rows = [
        Measurement(parameter=parameter, item_id=item_id, measured_at=datetime.now(UTC), source="offline", value=1.0)
        for item_id in (cell.pk, cell.pk, 2_000_000_000)
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        Measurement.objects.bulk_create(rows)
    assert not Measurement.objects.filter(item=cell).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("parent", ["parameter", "station"])
def test_deleting_a_parent_a_measurement_uses_is_refused_by_the_database(engineer, stations, cell, catalog, parent):
    station = Station.objects.get(code="COAT-01")
    measurement = Measurement.objects.create(
        parameter=catalog["dew_point_t"], station=station, measured_at=datetime.now(UTC), source="online", value=-50.0
    )
    table, pk = (
        (Parameter._meta.db_table, measurement.parameter_id)
        if parent == "parameter"
        else (Station._meta.db_table, station.pk)
    )
    # Raw SQL: the ORM's PROTECT would refuse it first; this is what stops everything else.
    # (Items are append-only themselves: their own trigger refuses the delete before this one.)
    with pytest.raises(IntegrityError, match="is referenced by"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])  # noqa: S608
    assert Measurement.objects.filter(pk=measurement.pk).exists()


@pytest.mark.django_db
def test_an_unused_parent_can_still_be_deleted(catalog):
    unused = catalog["active_ratio_t"]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Parameter._meta.db_table} WHERE id = %s", [unused.pk])  # noqa: S608
    assert not Parameter.objects.filter(pk=unused.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {partition} SET value = 99 WHERE id = %s",
        "DELETE FROM {partition} WHERE id = %s",
        "TRUNCATE {partition}",
    ],
    ids=["update", "delete", "truncate"],
)
@pytest.mark.parametrize("months", [0, 60], ids=["monthly_partition", "default_partition"])
def test_each_partition_refuses_update_delete_and_truncate(engineer, cell, catalog, sql, months):
    measurement = _capacity(engineer, cell, datetime.now(UTC) - timedelta(days=31 * months))
    partition = _partition_of(measurement.pk)
    assert partition == (DEFAULT_PARTITION if months else Month.of(datetime.now(UTC)).name)
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            statement = sql.format(partition=connection.ops.quote_name(partition))
            cursor.execute(statement, [measurement.pk] if "%s" in statement else None)
    assert Measurement.objects.get(pk=measurement.pk).value == 1000.0


@pytest.mark.django_db
def test_a_rooms_values_during_an_operation_are_read_through_the_rooms_index(db):
    # The room comes from a join (the operation's station), so the planner cannot infer the
    # index's `room <> ''` from it: the condition spells it out. Without it, a window over
    # densely timed values read the whole time range through BRIN (10 s for one roll map).
    from measurements.belonging import in_room_during_sql, operation_window, room_operations_join

    partitions_ensure(months_ahead=1)
    window = operation_window()
    sql = (
        f"SELECT m.id FROM (SELECT %s AS operation_id) ops {room_operations_join('ops.operation_id')}\n"  # noqa: S608
        f"JOIN {TABLE} m ON {in_room_during_sql('s.room', window.start, window.end)}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table: make the planner pick an index
        plan = _plan(sql, [1])
    assert "room_measured_at_idx" in plan, plan
