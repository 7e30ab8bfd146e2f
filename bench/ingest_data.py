"""The bulk-ingest bench's rows (bench/ingest.py): the coating parameters, rolls and operator,
the CSVs in the API's and the table's columns, the lean table and the preload."""

import csv
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROLLS = 20
ROLL_M = 1000.0
STEP_M = 0.02
BASE_TIME = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
LEAN_TABLE = "bench_lean_measurement"
MEASUREMENT_TABLE = "measurements_measurement"
API_COLUMNS = ["parameter", "value", "unit", "item", "position_m", "measured_at", "source", "instrument"]
TABLE_COLUMNS = [
    "parameter_id",
    "item_id",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "value",
    "sent_value",
    "sent_unit",
    "file",
    "file_sha256",
    "out_of_range",
    "correction_reason",
    "created_at",
    "created_by_id",
]


# --- database ------------------------------------------------------------------------------------


def truncate() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # The table refuses TRUNCATE; a superuser (the bench's user) may switch its triggers off.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {MEASUREMENT_TABLE}, {LEAN_TABLE}")
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def measurement_count(table: str = MEASUREMENT_TABLE) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        return int(cursor.fetchone()[0])


def tables_prepare() -> None:
    """The bench's year of monthly partitions, and the lean table of the ceiling (see the module)."""
    from django.db import connection

    from measurements.partitioning import partitions_ensure

    partitions_ensure(months_ahead=1, months_back=12, now=BASE_TIME)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {LEAN_TABLE}")
        cursor.execute(f"CREATE TABLE {LEAN_TABLE} (LIKE {MEASUREMENT_TABLE} INCLUDING DEFAULTS)")
        cursor.execute(f"ALTER TABLE {LEAN_TABLE} ADD PRIMARY KEY (id)")
        cursor.execute(f"CREATE INDEX ON {LEAN_TABLE} (item_id, position_m)")
        cursor.execute(f"CREATE INDEX ON {LEAN_TABLE} (parameter_id, measured_at)")


def preload(setup: "Setup", rows: int) -> float:
    """`rows` measurements straight into the table by one INSERT ... SELECT (see the module)."""
    from django.db import connection

    loading, thickness = setup.parameters["mass_loading"], setup.parameters["coating_thickness"]
    rolls = [roll.pk for roll in setup.rolls]
    start = BASE_TIME - timedelta(days=365)
    span_s = (timedelta(days=365 + 15)).total_seconds()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MEASUREMENT_TABLE} (parameter_id, item_id, room, position_m, measured_at, source, "  # noqa: S608
            "instrument, method, value, sent_value, sent_unit, file, file_sha256, out_of_range, correction_reason, "
            "created_at, created_by_id) "
            "SELECT CASE WHEN n %% 2 = 0 THEN %s ELSE %s END, (%s::bigint[])[1 + (n / 2) %% %s], '', "
            "((n / 2) %% 50000) * 0.02, %s::timestamptz + make_interval(secs => n * %s), 'online', 'gauge-1', '', "
            "70.0 + (n %% 97) * 0.1, 700.0, 'g/m**2', '', '', false, '', now(), %s "
            "FROM generate_series(0, %s - 1) AS n",
            [loading.pk, thickness.pk, rolls, len(rolls), start, span_s / rows, setup.user.pk, rows],
        )
        cursor.execute("CHECKPOINT")
    return time.perf_counter() - started


def server_version() -> int:
    from django.db import connection

    connection.ensure_connection()
    return int(connection.connection.info.server_version)


# --- data ----------------------------------------------------------------------------------------


class Setup:
    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from rest_framework.authtoken.models import Token

        from lots.services import item_register
        from measurements.models import Parameter

        self.parameters = {
            code: Parameter.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "scope": "step",
                    "step_id": "coating",
                    "category": "SP",
                    "unit": unit,
                    "typical_min": low,
                    "typical_max": high,
                },
            )[0]
            for code, name, unit, low, high in (
                ("mass_loading", "Mass loading", "mg/cm**2", 18.0, 25.0),
                ("coating_thickness", "Coating thickness after drying", "um", 50.0, 90.0),
            )
        }
        user = get_user_model().objects.create_user(username="bench-operator")
        user.groups.add(Group.objects.get_or_create(name="operator")[0])
        self.user = user
        self.token = Token.objects.create(user=user).key
        self.rolls = [
            item_register(
                actor=user, kind="coated_roll", quantity=ROLL_M, unit="m", code=f"CR-B{n:04d}", polarity="cathode"
            )
            for n in range(ROLLS)
        ]


def write_csvs(setup: Setup, rows: int, directory: Path) -> tuple[Path, Path]:
    """The API CSV and the same rows in the table's columns (values converted, flags computed)."""
    from measurements.services import linear_to_canonical, out_of_range

    rng = random.Random(1)
    api_path, table_path = directory / "measurements.csv", directory / "measurements-table.csv"
    loading, thickness = setup.parameters["mass_loading"], setup.parameters["coating_thickness"]
    sent = {loading.pk: "g/m**2", thickness.pk: "um"}
    linears = {
        pk: linear_to_canonical(unit, p) for p, (pk, unit) in zip((loading, thickness), sent.items(), strict=True)
    }
    created_at = datetime.now(UTC).isoformat()
    per_roll = int(ROLL_M / STEP_M)  # 50,000 points along a roll, both parameters at each
    with api_path.open("w", newline="") as api_file, table_path.open("w", newline="") as table_file:
        api, table = csv.writer(api_file), csv.writer(table_file)
        api.writerow(API_COLUMNS)
        table.writerow(TABLE_COLUMNS)
        for i in range(rows):
            point, which = divmod(i, 2)
            roll = setup.rolls[(point // per_roll) % ROLLS]
            position = round((point % per_roll) * STEP_M, 3)
            parameter = loading if which == 0 else thickness
            value = round(rng.gauss(215.0, 12.0), 2) if which == 0 else round(rng.gauss(70.0, 6.0), 2)
            at = (BASE_TIME + timedelta(milliseconds=10 * i)).isoformat()
            api.writerow([parameter.code, value, sent[parameter.pk], roll.code, position, at, "online", "gauge-1"])
            canonical = linears[parameter.pk](value)
            flagged = out_of_range(parameter, [canonical])
            table.writerow(
                [
                    parameter.pk,
                    roll.pk,
                    "",
                    position,
                    at,
                    "online",
                    "gauge-1",
                    "",
                    repr(canonical),
                    value,
                    sent[parameter.pk],
                    "",
                    "",
                    "t" if flagged else "f",
                    "",
                    created_at,
                    setup.user.pk,
                ]
            )
    return api_path, table_path


def head(path: Path, rows: int, directory: Path) -> Path:
    """The header and the first `rows` rows of a CSV (one row per line)."""
    out = directory / f"{path.stem}-{rows}.csv"
    with path.open() as source, out.open("w") as target:
        for n, line in enumerate(source):
            if n > rows:
                break
            target.write(line)
    return out
