"""What the app's own PostgreSQL role may do, computed from the models and the record's triggers.

The app connects as a role that owns no table and is no superuser, so it can neither drop nor
disable the append-only triggers (audit/append_only.py) nor set `session_replication_role`.
- A record table (one with the TRUNCATE trigger) gets SELECT and INSERT, and UPDATE only on
  the columns its row trigger lets change (an item's status and quantity, an operation's
  ended_at, a hold's release). One without such columns gets UPDATE on its primary key alone:
  `SELECT ... FOR UPDATE` (a correction locks the value it corrects) needs an UPDATE privilege,
  and the trigger refuses any actual UPDATE.
- Every other model's table is working state the app and its admin edit and delete (users,
  sessions, tokens, the catalog, stations, exports, idempotency keys): SELECT, INSERT, UPDATE,
  DELETE. Never TRUNCATE, TRIGGER or REFERENCES.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db import connection
from psycopg import sql

from audit.append_only import ROW_FUNCTION, TRUNCATE_FUNCTION

_TRIGGERS = """
SELECT c.relname, p.proname, t.tgargs
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid) AND p.proname IN (%s, %s)
"""
# A role that owns a table, or is a member of its owner, could drop or disable its triggers.
_OWNS_A_TABLE = """
SELECT count(*) FROM pg_class c
WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) AND pg_has_role(%s, c.relowner, 'MEMBER')
"""


class RoleUnfit(Exception):
    """The role does not exist, or could switch the record's protection off."""


@dataclass(frozen=True)
class Record:
    """What the database's triggers let change in the record tables."""

    tables: frozenset[str]
    updatable: dict[str, list[str]]


def record_read() -> Record:
    tables: set[str] = set()
    updatable: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_TRIGGERS, [ROW_FUNCTION, TRUNCATE_FUNCTION])
        for table, function, args in cursor.fetchall():
            if function == TRUNCATE_FUNCTION:
                tables.add(table)
                continue
            # tgargs holds each trigger argument NUL-terminated: (free columns, once columns).
            lists = bytes(args).decode().split("\x00")[:2]
            updatable[table] = [column for text in lists for column in text.split(",") if column]
    return Record(frozenset(tables), updatable)


def _role_check(role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            raise RoleUnfit(f"There is no role {role!r}: CREATE ROLE {role} LOGIN PASSWORD '...' first.")
        if found[0] or found[1]:
            raise RoleUnfit(f"{role} is a superuser or the migrating role: the app needs a role of its own.")
        cursor.execute(_OWNS_A_TABLE, [role])
        if cursor.fetchone()[0]:
            raise RoleUnfit(f"{role} owns tables (or is a member of their owner): it could disable the triggers.")


def _model_tables() -> dict[str, str]:
    """Every table the models use (many-to-many ones included) -> its primary key column."""
    existing = set(connection.introspection.table_names())
    return {
        model._meta.db_table: model._meta.pk.column
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.db_table in existing
    }


def app_role_grants(role: str) -> list[str]:
    """The statements that give `role` exactly the app's privileges (raises RoleUnfit)."""
    _role_check(role)
    record = record_read()
    who = sql.Identifier(role)
    schema = sql.Identifier(_schema())
    statements = [sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, who)]
    for table, pk in sorted(_model_tables().items()):
        name = sql.Identifier(table)
        statements.append(sql.SQL("REVOKE ALL ON {} FROM {}").format(name, who))
        if table not in record.tables:
            statements.append(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(name, who))
            continue
        columns = sql.SQL(", ").join(map(sql.Identifier, record.updatable.get(table) or [pk]))
        statements += [
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(name, who),
            sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(columns, name, who),
        ]
    statements += [
        sql.SQL("GRANT SELECT ON django_migrations TO {}").format(who),
        sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, who),
        # Tables a later migration creates: readable and insertable until the next grant run.
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT ON TABLES TO {}").format(schema, who),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE ON SEQUENCES TO {}").format(schema, who),
    ]
    connection.ensure_connection()
    return [statement.as_string(connection.connection) for statement in statements]


def _schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return str(cursor.fetchone()[0])
