"""The roll map listing as plain rows: the values upstream of an item without a Measurement
object per value. A cell's roll map runs to ~10,000 values, and building a model and its related
objects for each cost ten times the SQL (issue 14)."""

from typing import Any

from django.db.models.expressions import RawSQL

from core.routing import routed_connection as connection
from lots.models import Item

from .models import Measurement
from .selectors import UpstreamValue, belongings, listing_order, unique_rows

# The columns of a listed measurement, joined in the one query (related codes included).
MEASUREMENT_COLUMNS = (
    "id",
    "parameter__code",
    "parameter__step_id",
    "parameter__unit",
    "value",
    "series",
    "file",
    "file_sha256",
    "file_format",
    "file_reader",
    "derived_from_id",
    "sent_value",
    "sent_unit",
    "item__code",
    "operation_id",
    "station__code",
    "room",
    "position_m",
    "measured_at",
    "source",
    "instrument",
    "method",
    "uncertainty",
    "out_of_range",
    "out_of_limits",
    "supersedes_id",
    "correction_reason",
    "created_by__username",
    "parameter_id",
)


# One listed value: the measurement as its columns (MEASUREMENT_COLUMNS order), and how it
# belongs to the item asked about.
UpstreamRow = UpstreamValue[tuple[Any, ...]]


def upstream_listing(*, item: Item, parameter: str | None = None, step: str | None = None) -> list[UpstreamRow]:
    """What `measurements_upstream` lists, in its order, in three queries (the walk, the values,
    the measurements with their codes joined) and no model instance per value."""
    unique = unique_rows(item)
    ids = {row[0] for row in unique.values()}
    if not ids:
        return []
    # On PostgreSQL one array parameter: 10,000 bound ids cost twice the lookup they feed.
    wanted = RawSQL("SELECT unnest(%s::bigint[])", (list(ids),)) if connection.vendor == "postgresql" else ids
    queryset = Measurement.objects.filter(pk__in=wanted).order_by()
    if parameter:
        queryset = queryset.filter(parameter__code=parameter)
    if step:
        queryset = queryset.filter(parameter__step_id=step)
    measurements = {m[0]: m for m in queryset.values_list(*MEASUREMENT_COLUMNS)}
    found = [b for b in belongings(unique) if b.measurement in measurements]
    # parameter_id last in the columns, measured_at at 18
    found.sort(
        key=lambda b: listing_order(
            b.depth, b.upstream_item, measurements[b.measurement][-1], measurements[b.measurement][18], b
        )
    )
    return [b.carrying(measurements[b.measurement]) for b in found]
