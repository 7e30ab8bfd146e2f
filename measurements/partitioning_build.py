"""Migration 0010's PostgreSQL step: the plain measurement table rebuilt as a partitioned one
(measurements.partitioning says why and how it is laid out). Rows, ids and constraints carry
over; the model's indexes and foreign keys are created again from the migration's model."""

from typing import Any

from .partitioning import (
    CONVERT_MONTHS_BACK_MAX,
    EXTRA_INDEXES_SQL,
    MONTHS_AHEAD,
    REFERENCES_SQL,
    SEQUENCE,
    TABLE,
    Month,
    _truncate_trigger_sql,
    partitions_ensure,
)

OLD = f"{TABLE}_unpartitioned"


def _months_back(cursor: Any, now_month: Month) -> int:
    cursor.execute(f"SELECT min(measured_at) FROM {OLD}")  # noqa: S608
    earliest = cursor.fetchone()[0]
    if earliest is None:
        return 1
    first = Month.of(earliest)
    back = (now_month.year * 12 + now_month.month) - (first.year * 12 + first.month)
    return min(max(back, 1), CONVERT_MONTHS_BACK_MAX)


def partitioned_table_build(apps: Any, schema_editor: Any) -> None:
    from datetime import UTC, datetime

    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    model = apps.get_model("measurements", "Measurement")
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'p'", [OLD])
        cursor.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {quote(cursor.fetchone()[0])} TO {OLD}_pkey")
        # The ids go on from where the old sequence was: one sequence, ids unique across partitions.
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [OLD])
        next_id = cursor.fetchone()[0]
        cursor.execute(f"ALTER TABLE {OLD} ALTER COLUMN id DROP IDENTITY IF EXISTS")
        cursor.execute(f"ALTER TABLE {OLD} ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
        cursor.execute(f"CREATE SEQUENCE {SEQUENCE} START WITH {int(next_id)}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE) "
            "PARTITION BY RANGE (measured_at)"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}')")
        cursor.execute(f"ALTER SEQUENCE {SEQUENCE} OWNED BY {TABLE}.id")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, measured_at)")
        now = datetime.now(UTC)
        back = _months_back(cursor, Month.of(now))
        partitions_ensure(months_ahead=MONTHS_AHEAD, months_back=back, now=now, connection=connection)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608
        cursor.execute(f"DROP TABLE {OLD}")
    for index in model._meta.indexes:
        schema_editor.add_index(model, index)
    for field in model._meta.local_fields:
        if field.remote_field is not None and field.db_constraint and field.related_model is not model:
            schema_editor.execute(schema_editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s"))
    schema_editor.execute(EXTRA_INDEXES_SQL)
    schema_editor.execute(REFERENCES_SQL, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER measurement_never_overwritten BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION measurement_never_overwritten()"
    )
    schema_editor.execute(_truncate_trigger_sql(TABLE, quote))
