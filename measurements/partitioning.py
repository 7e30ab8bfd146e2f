"""The measurement table partitioned by month of `measured_at` (PostgreSQL; SQLite keeps one table).

Why: a year of line data is hundreds of millions of rows; a monthly partition keeps each index
small enough to stay in memory while rows stream in, and every query bounded in time reads only
its months (partition pruning). Layout, built by migration 0010 (`partitioned_table_build`):

- `measurements_measurement` PARTITION BY RANGE (measured_at), one partition per calendar month
  (UTC) named `measurements_measurement_pYYYY_MM`, plus `measurements_measurement_default` so
  that a value outside the created months is stored, never refused. `partitions_ensure` (the
  command `create_measurement_partitions --months-ahead N`, and every `migrate`) creates the
  months from last month to N ahead; it is idempotent. A month whose rows already sit in the
  default partition is skipped with a warning (its rows stay there, still found and still append-
  only; moving them needs the table owner: see docs/partitioning.md).
- Primary key (id, measured_at): PostgreSQL requires the partition key in every unique index.
  Django keeps `id` as its primary key; ids stay unique because they all come from one sequence
  (`measurements_measurement_id_seq`, owned by the column).
- The self references (`supersedes`, `derived_from`) cannot be foreign keys (the target would
  need a unique index on id alone). A BEFORE INSERT trigger checks them instead (rows are never
  updated or deleted, so a row that existed at insert keeps existing). A correction keeps the
  `measured_at` of the value it corrects (measurement_correct and the cycler re-derivation do),
  which the trigger requires: so the unique index (supersedes_id, measured_at) holds the rule
  "a value is superseded at most once" across partitions, under concurrency too (the second
  insert waits for the first's commit, then fails on the unique index).
- The foreign keys to other tables are checked once per statement, with delete guards on the
  parents (migration 0011, `parents_check_sql`); docs/partitioning.md has the whole design.
- The append-only triggers: the row trigger of 0002 is cloned by PostgreSQL onto every
  partition; TRUNCATE triggers are per table, so each partition gets its own.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

from audit.append_only import TRUNCATE_FUNCTION

TABLE = "measurements_measurement"
DEFAULT_PARTITION = f"{TABLE}_default"
SEQUENCE = f"{TABLE}_id_seq"
REFERENCES_FUNCTION = "measurement_references_check"
MONTHS_AHEAD = 3
MONTHS_BACK = 1
# The existing rows' months get partitions when the table is converted, but not more than this
# many before now (older rows go to the default partition).
CONVERT_MONTHS_BACK_MAX = 36

# Why a trigger and not foreign keys: see the module docstring. %I/%L come from format().
REFERENCES_SQL = f"""
CREATE OR REPLACE FUNCTION {REFERENCES_FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM {TABLE} WHERE id = NEW.supersedes_id AND measured_at = NEW.measured_at
    ) THEN
        IF EXISTS (SELECT 1 FROM {TABLE} WHERE id = NEW.supersedes_id) THEN
            RAISE EXCEPTION 'a correction keeps the measured_at of measurement %', NEW.supersedes_id
                USING ERRCODE = 'check_violation';
        END IF;
        RAISE EXCEPTION 'supersedes_id % is not a measurement', NEW.supersedes_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.derived_from_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM {TABLE} WHERE id = NEW.derived_from_id
    ) THEN
        RAISE EXCEPTION 'derived_from_id % is not a measurement', NEW.derived_from_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER measurement_references_check BEFORE INSERT ON {TABLE} FOR EACH ROW
    WHEN (NEW.supersedes_id IS NOT NULL OR NEW.derived_from_id IS NOT NULL)
    EXECUTE FUNCTION {REFERENCES_FUNCTION}();
"""

# Indexes PostgreSQL gets beside the model's own (Meta.indexes): BRIN serves time ranges because
# rows arrive in time order; the unique correction rule (see the module docstring).
EXTRA_INDEXES_SQL = f"""
CREATE INDEX measurement_time_brin ON {TABLE} USING brin (measured_at) WITH (pages_per_range = 32);
CREATE UNIQUE INDEX measurement_superseded_once ON {TABLE} (supersedes_id, measured_at)
    WHERE supersedes_id IS NOT NULL;
"""


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime | date) -> "Month":
        return cls(moment.year, moment.month)

    def shifted(self, months: int) -> "Month":
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def name(self) -> str:
        return f"{TABLE}_p{self.year:04d}_{self.month:02d}"


def is_partitioned(connection: BaseDatabaseWrapper = default_connection) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
        return cursor.fetchone() is not None


def _truncate_trigger_sql(table: str, quote: Any) -> str:
    name = quote(table[:50] + "_no_truncate")
    return (
        f"CREATE OR REPLACE TRIGGER {name} BEFORE TRUNCATE ON {quote(table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {TRUNCATE_FUNCTION}()"
    )


def _partition_create(cursor: Any, month: Month, quote: Any) -> bool:
    """The month's partition, unless it exists; False when the default partition holds rows of it."""
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [month.name])
    if cursor.fetchone()[0]:
        return True
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {quote(DEFAULT_PARTITION)} WHERE measured_at >= %s AND measured_at < %s)",  # noqa: S608
        [month.start, month.shifted(1).start],
    )
    if cursor.fetchone()[0]:
        return False
    cursor.execute(
        f"CREATE TABLE {quote(month.name)} PARTITION OF {quote(TABLE)} FOR VALUES FROM (%s) TO (%s)",
        [month.start, month.shifted(1).start],
    )
    cursor.execute(_truncate_trigger_sql(month.name, quote))
    return True


def partitions_ensure(
    *,
    months_ahead: int = MONTHS_AHEAD,
    months_back: int = MONTHS_BACK,
    now: datetime | None = None,
    connection: BaseDatabaseWrapper = default_connection,
) -> tuple[list[str], list[str]]:
    """Create the monthly partitions from `months_back` before `now`'s month to `months_ahead`
    after it, and the default partition; (names ensured, names skipped). Idempotent."""
    if not is_partitioned(connection):
        return [], []
    quote = connection.ops.quote_name
    current = Month.of(now or datetime.now(UTC))
    ensured: list[str] = []
    skipped: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {quote(DEFAULT_PARTITION)} PARTITION OF {quote(TABLE)} DEFAULT")
        cursor.execute(_truncate_trigger_sql(DEFAULT_PARTITION, quote))
        for offset in range(-months_back, months_ahead + 1):
            month = current.shifted(offset)
            (ensured if _partition_create(cursor, month, quote) else skipped).append(month.name)
    return ensured, skipped


def partitions_list(connection: BaseDatabaseWrapper = default_connection) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [TABLE],
        )
        return [row[0] for row in cursor.fetchall()]


PARENTS_FUNCTION = "measurement_parents_check"
PARENT_DELETE_FUNCTION = "measurement_parent_delete_check"


def parents_check_sql(parents: list[tuple[str, str]]) -> str:  # parents are referenced by "id"
    """The foreign keys to other tables, checked once per statement: (column, parent table) pairs.

    Why not FOREIGN KEY: PostgreSQL checks one row at a time (a queued trigger event and a query
    for each row and key), which made COPY into the table four times slower than into a lean one.
    This trigger does what those checks do, set-based: the distinct parents of the statement's
    rows are locked FOR KEY SHARE (as a foreign key check locks them: a concurrent DELETE waits
    for this transaction, then its own trigger, `parent_delete_guard_sql`, sees these rows), and
    any key without its parent fails the statement with foreign_key_violation."""
    arrays = ", ".join(f"{column}_ids bigint[]" for column, _ in parents)
    collect = ", ".join(f"array_agg(DISTINCT {column}) FILTER (WHERE {column} IS NOT NULL)" for column, _ in parents)
    columns = ", ".join(column for column, _ in parents)
    into = ", ".join(f"{column}_ids" for column, _ in parents)
    checks = "\n".join(
        f"""    IF {column}_ids IS NOT NULL THEN
        SELECT count(*) INTO found FROM (SELECT 1 FROM {parent} WHERE id = ANY({column}_ids) FOR KEY SHARE) AS locked;
        IF found < cardinality({column}_ids) THEN
            RAISE EXCEPTION '{TABLE}.{column} names a row {parent} does not hold'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;"""
        for column, parent in parents
    )
    return f"""
CREATE OR REPLACE FUNCTION {PARENTS_FUNCTION}() RETURNS trigger AS $$
DECLARE
    {arrays.replace(", ", "; ")};
    found bigint;
BEGIN
    WITH keys AS MATERIALIZED (SELECT {columns} FROM inserted GROUP BY {columns})
    SELECT {collect} INTO {into} FROM keys;
{checks}
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {PARENTS_FUNCTION} AFTER INSERT ON {TABLE} REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION {PARENTS_FUNCTION}();
CREATE OR REPLACE FUNCTION {PARENT_DELETE_FUNCTION}() RETURNS trigger AS $$
DECLARE
    referenced boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE %I = $1)', TG_ARGV[0]) INTO referenced USING OLD.id;
    IF referenced THEN
        RAISE EXCEPTION '% % is referenced by {TABLE}.%', TG_TABLE_NAME, OLD.id, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
"""


def parent_delete_guard_sql(column: str, parent: str) -> str:
    """A parent row referenced by a measurement is never deleted (what ON DELETE PROTECT /
    RESTRICT of a foreign key did; Django's PROTECT refuses it before, for the ORM)."""
    return (
        f"CREATE OR REPLACE TRIGGER {parent[:40]}_{column[:14]}_guard BEFORE DELETE ON {parent} "
        f"FOR EACH ROW EXECUTE FUNCTION {PARENT_DELETE_FUNCTION}('{column}')"
    )
