"""Times on the pages: in the plant's zone (TIME_ZONE), always with the zone's name.

`{{ hold.created_at|local_time }}` gives "2026-03-04 09:12 CET", `|local_time:"time"` gives
"09:12 CET". A name, not a bare clock time: a shift at the end of October sees 02:30 twice.
"""

from datetime import UTC, datetime

from django import template
from django.utils import timezone

register = template.Library()

_FORMATS = {"datetime": "%Y-%m-%d %H:%M", "time": "%H:%M", "date": "%Y-%m-%d"}


@register.filter
def local_time(value: datetime | None, part: str = "datetime") -> str:
    """The instant in the current zone (TIME_ZONE unless activated otherwise); "" for none."""
    if value is None:
        return ""
    if timezone.is_naive(value):  # the database and the app keep UTC
        value = value.replace(tzinfo=UTC)
    if part not in _FORMATS:
        raise template.TemplateSyntaxError(f"local_time takes one of {sorted(_FORMATS)}, not {part!r}")
    local = timezone.localtime(value)  # sets `fold`, so the second 02:30 in October is CET
    if part == "date":
        return local.strftime(_FORMATS[part])
    # Not Django's "T", which prints nothing for a clock time that happens twice.
    zone = local.tzname() or local.strftime("%z")
    return f"{local.strftime(_FORMATS[part])} {zone}"
