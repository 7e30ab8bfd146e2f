"""The test suite's PostgreSQL backend: Django's flush (the TRUNCATE ending every transactional
test) runs with the record tables' triggers switched off.

The record tables refuse TRUNCATE (audit/append_only.py). `SET LOCAL session_replication_role =
replica` stops ordinary triggers, TRUNCATE ones included, for the flush's own transaction; only a
superuser may set it, which the suite's user is and the app's production role is not, so this
opens nothing the app could use.
"""

from typing import Any

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False) -> Any:
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        # execute_sql_flush runs the statements in one transaction: SET LOCAL ends with it.
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else statements


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
