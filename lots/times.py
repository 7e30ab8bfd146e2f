"""The times the record accepts (API.md, "What the record promises"): with an offset within
±15:59, between 1970-01-01 and 2200-01-01 UTC. Outside that PostgreSQL or Python's datetime
refuse the value later (an overflow, a DataError), so it is refused where it arrives."""

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime

TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2200, 1, 1, tzinfo=UTC)
MAX_OFFSET = timedelta(hours=15, minutes=59)


def time_problem(value: datetime) -> str | None:
    """Why the record refuses this time, or None when it takes it."""
    offset = value.utcoffset()
    if offset is None:
        return "Give the time with its offset, e.g. 2026-03-02T08:00:00+01:00."
    if abs(offset) > MAX_OFFSET:
        return "The offset is beyond ±15:59."
    # Compared field by field, so a year-1 or year-9999 time with an offset cannot overflow.
    if not TIME_MIN <= value <= TIME_MAX:
        return "The time lies outside 1970-01-01 to 2200-01-01 UTC."
    return None


def time_parse(text: str) -> datetime:
    """An ISO 8601 time the record takes; ValueError saying why otherwise."""
    try:
        parsed = parse_datetime(text)
    except ValueError:  # well formed but impossible: month 13, offset +99:00
        parsed = None
    if parsed is None:
        raise ValueError(f"Not an ISO 8601 date and time: {text!r}.")
    problem = time_problem(parsed)
    if problem is not None:
        raise ValueError(problem)
    return parsed
