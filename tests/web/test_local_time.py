"""The plant's time zone (CELLTRACE_TIME_ZONE): pages show local times with the zone's name, the
API answers with the offset, a misspelt zone stops the start."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client
from django.utils import timezone

from config.settings.env import env_time_zone
from lots.services import item_register
from web.templatetags.local_time import local_time

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def berlin(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        (datetime(2026, 3, 4, 8, 12, tzinfo=UTC), "2026-03-04 09:12 CET"),
        (datetime(2026, 7, 1, 8, 12, tzinfo=UTC), "2026-07-01 10:12 CEST"),
        # Spring forward (2026-03-29, 01:00 UTC): 01:59 CET is followed by 03:00 CEST.
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "2026-03-29 01:59 CET"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29 03:00 CEST"),
        # Fall back (2026-10-25, 01:00 UTC): 02:30 happens twice, told apart by the zone's name.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25 02:30 CEST"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "2026-10-25 02:30 CET"),
        # The day changes too: late evening UTC is the next morning's night shift in Berlin.
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "2027-01-01 00:30 CET"),
    ],
)
def test_a_utc_instant_is_shown_in_the_plant_zone_with_its_name(berlin: None, instant: datetime, shown: str) -> None:
    assert local_time(instant) == shown


def test_the_parts_a_page_asks_for(berlin: None) -> None:
    instant = datetime(2026, 3, 4, 8, 12, tzinfo=UTC)
    assert local_time(instant, "time") == "09:12 CET"
    assert local_time(instant, "date") == "2026-03-04"
    assert local_time(None) == ""
    with pytest.raises(TemplateSyntaxError, match="local_time takes one of"):
        local_time(instant, "H:i")


def test_utc_is_the_default_and_says_so(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    assert local_time(datetime(2026, 3, 4, 8, 12, tzinfo=UTC)) == "2026-03-04 08:12 UTC"
    # A naive value is taken as UTC (what the database keeps), not as the plant's clock.
    settings.TIME_ZONE = "Asia/Kolkata"
    assert local_time(datetime(2026, 3, 4, 8, 12)) == "2026-03-04 13:42 IST"  # noqa: DTZ001


def test_the_filter_in_a_template(berlin: None) -> None:
    template = Template('{% load local_time %}{{ when|local_time }} / {{ when|local_time:"time" }}')
    rendered = template.render(Context({"when": datetime(2026, 7, 1, 22, 5, tzinfo=UTC)}))
    assert rendered == "2026-07-02 00:05 CEST / 00:05 CEST"


def test_the_item_page_and_the_api_show_the_same_instant_in_the_plant_zone(
    berlin: None, operator: User, operator_client: Any, stations: Any
) -> None:
    made = datetime(2026, 3, 4, 8, 12, tzinfo=UTC)
    item = item_register(actor=operator, kind="cathode_active_material", quantity=25, unit="kg", created_at=made)
    client = Client()
    client.force_login(operator)
    page = client.get(f"/items/{item.code}/").content.decode()
    assert "2026-03-04 09:12 CET" in page
    assert "08:12" not in page

    body = operator_client.get(f"/api/items/{item.code}/").json()
    assert body["created_at"] == "2026-03-04T09:12:00+01:00"  # ISO 8601, with the offset
    assert datetime.fromisoformat(body["created_at"]) == made
    assert timezone.get_current_timezone_name() == "Europe/Berlin"


@pytest.mark.parametrize("value", ["Europe/Berlin", "UTC", " America/Sao_Paulo "])
def test_a_zone_name_is_accepted(monkeypatch: Any, value: str) -> None:
    monkeypatch.setenv("CELLTRACE_TIME_ZONE", value)
    assert env_time_zone("CELLTRACE_TIME_ZONE", "UTC") == value.strip()


@pytest.mark.parametrize("value", ["Europe/Berln", "CET+1", "", "../../etc/passwd", "+01:00"])
def test_a_zone_that_is_not_one_is_refused_by_name(monkeypatch: Any, value: str) -> None:
    monkeypatch.setenv("CELLTRACE_TIME_ZONE", value)
    with pytest.raises(ImproperlyConfigured, match="CELLTRACE_TIME_ZONE=.* is not a time zone"):
        env_time_zone("CELLTRACE_TIME_ZONE", "UTC")


def test_the_server_does_not_start_with_a_misspelt_zone() -> None:
    env = os.environ | {"CELLTRACE_TIME_ZONE": "Europe/Berln", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "CELLTRACE_TIME_ZONE='Europe/Berln' is not a time zone" in result.stderr
