"""Temporary tables for one export: the walk, the claims and the aggregation run once each,
for both the discovery of the columns and the rows; the statistics PostgreSQL needs after a bulk
load; and the work memory the de-duplication hashes in."""

import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db import connection as primary

from core.routing import routed_connection as connection
from lots.models import Item
from measurements.models import Measurement, Parameter
from traceability.models import LineageEdge, Operation, OperationInput, Station

# The pieces of the WITH clause run once each, in this order, into temporary tables that the
# later pieces, the discovery of the columns and the rows read.
_MATERIALISED = ("roots", "walk", "claims", "spans", "ops", "windows", "chosen", "agg")


def _pieces(cte: str) -> dict[str, str]:
    """The named pieces of a WITH clause, in order, each as `name(columns) AS (...)`."""
    starts = [(m.group(1), m.start(1)) for m in re.finditer(r"^(?:WITH RECURSIVE )?(\w+)\([\w, ]+\) AS \(", cte, re.M)]
    ends = [start for _name, start in starts[1:]] + [len(cte)]
    return {name: cte[start:end].rstrip().rstrip(",") for (name, start), end in zip(starts, ends, strict=True)}


@dataclass(frozen=True, slots=True)
class Materialised:
    """The WITH clause reading the temporary tables, its parameters (none), the tables to drop."""

    cte: str
    params: list[Any]
    tables: list[str]


def materialise(
    cte: str, root_params: list[Any], parameter_params: list[Any], *, aggregate: bool = True
) -> Materialised:
    """Run the walk, the claims and the aggregation once, into temporary tables, for both the
    discovery of the columns and the rows; without `aggregate`, all but the aggregation (`agg`
    then stays a piece of the WITH clause, for a caller that reads it once)."""
    pieces = _pieces(cte)
    params = {"roots": root_params, "chosen": parameter_params}
    if connection.alias != DEFAULT_DB_ALIAS:
        # A hot standby creates no tables, temporary ones included: each read runs the whole
        # WITH clause, its parameters in the order of its pieces.
        ordered = [value for name in pieces for value in params.get(name, [])]
        return Materialised(cte, ordered, [])
    stem = f"dataset_{uuid.uuid4().hex[:12]}"
    made: dict[str, str] = {}
    names = list(pieces)
    with connection.cursor() as cursor:
        for name in _MATERIALISED if aggregate else _MATERIALISED[:-1]:
            table = f"{stem}_{name}"
            reads = [f"{done} AS (SELECT * FROM {made[done]})" for done in made]
            fresh = [pieces[n] for n in names[: names.index(name) + 1] if n not in made]
            query = "WITH RECURSIVE " + ",\n".join(reads + fresh) + f"\nSELECT * FROM {name}"
            cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {query}", params.get(name, []))
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {table}")  # autovacuum never analyses temporary tables
            made[name] = table
    rest = [pieces[n] for n in names[names.index(list(made)[-1]) + 1 :]]
    reads = [f"{done} AS (SELECT * FROM {table})" for done, table in made.items()]
    return Materialised("WITH " + ",\n".join(reads + rest) + "\n", [], list(made.values()))


# The tables the export reads. Right after a bulk load (the demo, an import) PostgreSQL has no
# statistics on them until autovacuum comes round, and plans the walk's joins as if they were
# empty: minutes instead of seconds.
_READ_MODELS = (Item, LineageEdge, Operation, OperationInput, Station, Measurement, Parameter)


def analyze_unanalyzed() -> None:
    """One statement whatever the state: the tables are the models' names, not input. On the
    primary, a standby can't ANALYZE and replays the primary's statistics."""
    if primary.vendor != "postgresql":
        return
    names = ", ".join(f"'{model._meta.db_table}'" for model in _READ_MODELS)
    with primary.cursor() as cursor:
        cursor.execute(
            "DO $$ DECLARE t text; BEGIN "
            f"FOR t IN SELECT relname FROM pg_stat_user_tables WHERE relname IN ({names}) "
            "AND last_analyze IS NULL AND last_autoanalyze IS NULL "
            "LOOP EXECUTE format('ANALYZE %I', t); END LOOP; END $$"
        )


def release(tables: list[str]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and tables:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")  # SQLite drops one at a time
        else:
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
    work_mem(None)


def work_mem(size: str | None) -> None:
    """Give the export's de-duplication and aggregation room to hash in memory (a value along a
    roll reaches several cells, millions of pairs on a real line), then hand the connection back
    as it was. PostgreSQL only; `size` None resets."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if size is None:
            cursor.execute("RESET work_mem")
        else:
            cursor.execute("SELECT set_config('work_mem', %s, false)", [size])
