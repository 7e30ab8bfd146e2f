"""Bulk ingest: rows that name a station and no item get the item in process there and then."""

from typing import Any

from core.errors import DomainError
from lots.models import Item
from traceability.models import Operation

from .assignment import assigned_position, in_process_error, items_in_process_held
from .ingest_rows import (
    AT_ITEM,
    AT_MEASURED_AT,
    AT_OPERATION,
    AT_OUT_OF_LIMITS,
    AT_PARAMETER,
    AT_POSITION,
    AT_STATION,
    AT_VALUE,
    RowError,
    RowRules,
    row_error,
)


def by_time(rules: RowRules, row: tuple[Any, ...]) -> bool:
    """A row that names a station and no item, of a parameter not about the room."""
    return row[AT_ITEM] is None and row[AT_STATION] is not None and row[AT_PARAMETER] in rules.by_station


def rows_assign(rules: RowRules, checked: list[tuple[int, tuple[Any, ...]]]) -> list[RowError]:
    """Rows naming a station and no item get the item in process there and then, by
    measurement_record's rule (selectors_in_process.items_in_process): one query for the chunk's rows,
    one holding their runs (assignment.runs_hold), one for their operations and one for their
    items. Returns the rows that have none."""
    pending = [(index, row_number, row) for index, (row_number, row) in enumerate(checked) if by_time(rules, row)]
    if not pending:
        return []
    keys = [(row[AT_STATION], row[AT_MEASURED_AT], rules.by_station[row[AT_PARAMETER]]) for _, _, row in pending]
    found = items_in_process_held(keys)
    operations = Operation.objects.only("id", "started_at", "parameters").in_bulk(
        {f.operation_id for f in found if f.item_id is not None}
    )
    items = Item.objects.only("id", "code", "length_m").in_bulk({f.item_id for f in found if f.item_id is not None})
    rules.limits.extend(items)  # the assigned items' product and polarity, for their limits
    errors: list[RowError] = []
    for (index, row_number, row), assigned in zip(pending, found, strict=True):
        at = row[AT_MEASURED_AT]
        try:
            error = in_process_error(assigned, station=rules.station_codes[row[AT_STATION]], at=at)
            if error is not None:
                raise error
            operation, item = operations[assigned.operation_id or 0], items[assigned.item_id or 0]
            where = assigned_position(operation, item, at, row[AT_POSITION])
        except DomainError as exc:
            errors.append(row_error(row_number, exc))
            continue
        values = list(row)
        values[AT_ITEM], values[AT_OPERATION], values[AT_POSITION] = where.item.pk, where.operation.pk, where.position_m
        values[AT_OUT_OF_LIMITS] = rules.limits_flag(row[AT_PARAMETER], where.item.pk, row[AT_VALUE], where.position_m)
        checked[index] = (row_number, tuple(values))
    return errors
