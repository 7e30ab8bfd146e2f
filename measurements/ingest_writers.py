"""Bulk ingest: the writers, COPY on PostgreSQL, executemany INSERT elsewhere (SQLite)."""

from typing import Any

from django.db import connection

from .ingest_rows import COLUMNS
from .models import Measurement

INSERT_BATCH = 2_000

_COPY_TYPES = (
    "int8",
    "int8",
    "int8",
    "text",
    "float8",
    "timestamptz",
    "text",
    "text",
    "text",
    "float8",
    "float8",
    "float8",
    "text",
    "text",
    "text",
    "bool",
    "bool",
    "text",
    "timestamptz",
    "int4",
    "int8",
)
_COPY_SQL = f"COPY {Measurement._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"  # noqa: S608


class CopyWriter:
    """Rows into `COPY ... FROM STDIN` on Django's connection (psycopg 3), opened on the first
    row and paused (finished) whenever the connection is needed for a lookup."""

    def __init__(self) -> None:
        self._cursor = connection.cursor()
        self._context: Any = None
        self.write_row: Any = None

    def open(self) -> Any:
        if self._context is None:
            self._context = self._cursor.cursor.copy(_COPY_SQL)
            copy = self._context.__enter__()
            copy.set_types(_COPY_TYPES)
            self.write_row = copy.write_row
        return self.write_row

    def pause(self) -> None:
        if self._context is not None:
            context, self._context, self.write_row = self._context, None, None
            context.__exit__(None, None, None)

    def close(self, exc: BaseException | None = None) -> None:
        try:
            if self._context is not None:
                context, self._context, self.write_row = self._context, None, None
                if exc is None:
                    context.__exit__(None, None, None)
                else:  # sends CopyFail; the transaction is rolled back by the caller's atomic
                    context.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            self._cursor.close()


class InsertWriter:
    """Elsewhere (SQLite): one executemany of a plain INSERT per INSERT_BATCH rows. bulk_create
    would split each batch into INSERTs of ~40 rows (SQLite's 999-parameter limit) and build a
    model instance per row, several times slower for the same statements."""

    def __init__(self) -> None:
        self._batch: list[tuple[Any, ...]] = []
        self._adapt = connection.ops.adapt_datetimefield_value
        quote = connection.ops.quote_name
        self._sql = (
            f"INSERT INTO {quote(Measurement._meta.db_table)} ({', '.join(quote(c) for c in COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        )
        self._moments = (COLUMNS.index("measured_at"), COLUMNS.index("created_at"))

    def open(self) -> Any:
        return self.write_row

    def write_row(self, row: tuple[Any, ...]) -> None:
        values = list(row)
        for index in self._moments:
            values[index] = self._adapt(values[index])
        self._batch.append(tuple(values))
        if len(self._batch) >= INSERT_BATCH:
            self.pause()

    def pause(self) -> None:
        if self._batch:
            with connection.cursor() as cursor:
                cursor.executemany(self._sql, self._batch)
            self._batch = []

    def close(self, exc: BaseException | None = None) -> None:
        if exc is None:
            self.pause()
        self._batch = []
