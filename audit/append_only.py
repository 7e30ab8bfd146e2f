"""The record's tables refuse change in PostgreSQL itself, whoever connects.

Every app's migrations use these operations (audit is the ground floor: it imports no other app):
`functions_install()` creates the two trigger functions once (audit's migration), then
`append_only("app.Model", free=..., once=...)` and `truncate_refused("app.Model")` put triggers on
a table. Table and column names come from the migration's historical model, never copied text.

- `celltrace_append_only(free, once)`: a row trigger refusing DELETE, and any UPDATE that changes
  a column other than the `free` ones (an item's status and remaining quantity) and the `once`
  ones. The `once` columns change together, and only when the first of them goes from NULL to a
  value (an operation being finished; a hold being released): so they change once.
  The rows are compared as jsonb without the allowed columns, so a column added later is guarded
  without touching the trigger.
- `celltrace_no_truncate()`: a statement trigger refusing TRUNCATE, which skips row triggers.

A superuser can switch triggers off (`session_replication_role = replica`) and the table owner
can drop them: the app therefore connects as a role that is neither (`grant_app_role`,
docs/deployment.md). The test suite's flush relies on that same superuser escape hatch.
On SQLite (the demo database) these operations do nothing.
"""

from collections.abc import Sequence
from typing import Any

from django.db import migrations

ROW_FUNCTION = "celltrace_append_only"
TRUNCATE_FUNCTION = "celltrace_no_truncate"

_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION {ROW_FUNCTION}() RETURNS trigger AS $$
DECLARE
    free text[] := coalesce(string_to_array(TG_ARGV[0], ','), '{{}}');
    once text[] := coalesce(string_to_array(TG_ARGV[1], ','), '{{}}');
    before jsonb;
    after jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '% is append-only: a row is never deleted', TG_TABLE_NAME;
    END IF;
    before := to_jsonb(OLD) - free;
    after := to_jsonb(NEW) - free;
    IF (before - once) IS DISTINCT FROM (after - once) THEN
        RAISE EXCEPTION '% is append-only: only % may change', TG_TABLE_NAME,
            coalesce(nullif(array_to_string(free || once, ', '), ''), 'nothing');
    END IF;
    IF before IS DISTINCT FROM after AND (before ->> once[1] IS NOT NULL OR after ->> once[1] IS NULL) THEN
        RAISE EXCEPTION '% is append-only: % is set once, from empty', TG_TABLE_NAME, once[1];
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION {TRUNCATE_FUNCTION}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: it is never truncated', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""
_DROP_FUNCTIONS = f"DROP FUNCTION IF EXISTS {ROW_FUNCTION}(); DROP FUNCTION IF EXISTS {TRUNCATE_FUNCTION}();"


def _run(forward: Any, backward: Any, model: str | None = None) -> migrations.RunPython:
    """A RunPython executing SQL on PostgreSQL only. With `model`, the SQL is built from
    (table name, historical model, quote_name)."""

    def run(build: Any) -> Any:
        def apply(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor != "postgresql":
                return
            if model is None:
                schema_editor.execute(build, params=None)  # the SQL has literal % signs
                return
            found = apps.get_model(model)
            schema_editor.execute(build(found._meta.db_table, found, schema_editor.quote_name))

        return apply

    return migrations.RunPython(run(forward), run(backward))


def functions_install() -> migrations.RunPython:
    return _run(_FUNCTIONS, _DROP_FUNCTIONS)


def _trigger_name(table: str, suffix: str) -> str:
    return table[: 63 - len(suffix) - 1] + "_" + suffix  # PostgreSQL names are at most 63 bytes


def _literal(columns: Sequence[str], found: Any) -> str:
    """Field names -> a quoted, comma-separated list of their database columns."""
    return "'" + ",".join(found._meta.get_field(name).column for name in columns) + "'"


def _trigger(model: str, suffix: str, clause: Any) -> migrations.RunPython:
    """CREATE TRIGGER <table>_<suffix> `clause(table, found, quote)` on `model`'s table; back: DROP."""

    def forward(table: str, found: Any, quote: Any) -> str:
        return f"CREATE TRIGGER {quote(_trigger_name(table, suffix))} {clause(table, found, quote)}"

    def backward(table: str, found: Any, quote: Any) -> str:
        return f"DROP TRIGGER IF EXISTS {quote(_trigger_name(table, suffix))} ON {quote(table)}"

    return _run(forward, backward, model)


def append_only(model: str, *, free: Sequence[str] = (), once: Sequence[str] = ()) -> migrations.RunPython:
    """Refuse DELETE and every UPDATE but the allowed ones on `model`'s table (see the module)."""

    def clause(table: str, found: Any, quote: Any) -> str:
        return (
            f"BEFORE UPDATE OR DELETE ON {quote(table)} FOR EACH ROW "
            f"EXECUTE FUNCTION {ROW_FUNCTION}({_literal(free, found)}, {_literal(once, found)})"
        )

    return _trigger(model, "append_only", clause)


def truncate_refused(model: str) -> migrations.RunPython:
    """Refuse TRUNCATE on `model`'s table (a statement-level trigger)."""

    def clause(table: str, found: Any, quote: Any) -> str:
        return f"BEFORE TRUNCATE ON {quote(table)} FOR EACH STATEMENT EXECUTE FUNCTION {TRUNCATE_FUNCTION}()"

    return _trigger(model, "no_truncate", clause)
