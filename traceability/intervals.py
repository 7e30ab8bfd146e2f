"""The SQL of the interval walk up the genealogy, shared by every walk that carries a stretch
(roll maps, limits, datasets): functions returning SQL for the database in use,
naming the lineage table through its model. The walk is aliased `w` (columns lo, hi: the
stretch of the current item, NULL for the whole item) and the edge crossed `e`."""

from django.db import connection

from .models import LineageEdge


def edge_table() -> str:
    return LineageEdge._meta.db_table


def vendor_functions() -> dict[str, str]:
    """GREATEST/LEAST, or SQLite's two-argument MAX/MIN."""
    if connection.vendor == "postgresql":
        return {"greatest": "GREATEST", "least": "LEAST"}
    return {"greatest": "MAX", "least": "MIN"}


_SCALE = "((e.parent_to_m - e.parent_from_m) / (e.child_to_m - e.child_from_m))"


def clipped_lo_sql() -> str:
    """The start of the child's stretch clipped to the edge's child range."""
    return f"{vendor_functions()['greatest']}(w.lo, e.child_from_m)"


def clipped_hi_sql() -> str:
    """The end of the child's stretch clipped to the edge's child range."""
    return f"{vendor_functions()['least']}(w.hi, e.child_to_m)"


def stretch_lo_sql() -> str:
    """The start of the parent's stretch that the child's [w.lo, w.hi] came from through `e`
    (the roll map's rule): clipped, mapped linearly, ends swapped when the parent was
    unwound reversed; NULL for a whole item."""
    return f"""CASE WHEN e.parent_from_m IS NULL THEN NULL
             WHEN w.lo IS NULL OR e.child_from_m IS NULL THEN e.parent_from_m
             WHEN e.reversed THEN e.parent_to_m - ({clipped_hi_sql()} - e.child_from_m) * {_SCALE}
             ELSE e.parent_from_m + ({clipped_lo_sql()} - e.child_from_m) * {_SCALE} END"""


def stretch_hi_sql() -> str:
    """The end of that stretch of the parent (see `stretch_lo_sql`)."""
    return f"""CASE WHEN e.parent_from_m IS NULL THEN NULL
             WHEN w.lo IS NULL OR e.child_from_m IS NULL THEN e.parent_to_m
             WHEN e.reversed THEN e.parent_to_m - ({clipped_lo_sql()} - e.child_from_m) * {_SCALE}
             ELSE e.parent_from_m + ({clipped_hi_sql()} - e.child_from_m) * {_SCALE} END"""


def stretch_reaches_sql() -> str:
    """The edge takes part of the walk's stretch (or either side is whole): the walk goes on."""
    return "(w.lo IS NULL OR e.child_from_m IS NULL OR (w.hi >= e.child_from_m AND w.lo <= e.child_to_m))"
