"""Specification limits in a real browser: the demo's limit lines on a roll's mass-loading profile
with the dip's values marked, and an operator told at the station that a value is outside the
limits (and that the item went on hold)."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from lots.models import Item, ItemStatus
from measurements.models import Measurement, Parameter
from measurements.services_limits import limit_set
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from traceability.models import Hold

from .conftest import sign_in, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]

# The plot's limit lines and flagged points, as Plotly holds them.
_PLOT_LIMITS = """
() => [...document.querySelectorAll('.plot[data-limits]')]
  .filter(div => div.dataset.limits.includes(' of mass_loading '))
  .map(div => ({
    text: div.dataset.limits,
    lines: Object.fromEntries(div.layout.shapes.filter(s => (s.name || '').startsWith('limit-'))
      .map(s => [s.name, s.y0])),
    flagged: (div.data.find(t => t.name === 'outside specification limits') || {x: []}).x.length,
  }))
"""


def test_the_profile_draws_the_limits_and_marks_the_dip(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    user_with_role("erin", "engineer")
    # The cathode roll with the dip (the demo coats more than one cathode roll).
    coated = Item.objects.filter(kind="coated_roll", measurements__out_of_limits=True).distinct().get()
    assert coated.polarity == "cathode"
    sign_in(page, live_server.url, "erin", f"/items/{coated.code}/")
    expect(page.get_by_role("heading", name=re.compile("Profiles and curves"))).to_be_visible()
    page.wait_for_function("document.querySelectorAll('.plot[data-limits]').length > 0")
    (plot,) = page.evaluate(_PLOT_LIMITS)
    assert "NMC811-G-pouch-4.5Ah, cathode" in plot["text"]
    assert plot["lines"] == {"limit-lower": 17.1, "limit-upper": 18.9, "limit-target": 18}
    assert plot["flagged"] == Measurement.objects.filter(item=coated, out_of_limits=True).count() == 2
    expect(page.locator(".plot").filter(has_text="upper 18.9").first).to_be_visible()
    shoot(page, "profile-limits", full_page=True)


def test_the_station_flags_a_value_outside_the_limits_and_holds_the_item(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    user_with_role("otto", "operator")
    # The roll the demo left at the slitter (not the one still in the calender, an open run).
    waiting = Item.objects.get(kind="calendered_roll", status=ItemStatus.ACTIVE, produced_by__ended_at__isnull=False)
    parameter = Parameter.objects.filter(step_id="slitting").exclude(online=True).order_by("step_id", "code").first()
    assert parameter is not None, "the catalog has an offline slitting parameter"
    engineer = User.objects.get(username="demo-engineer")
    limit_set(actor=engineer, parameter=parameter.code, lower=1, upper=2, unit=parameter.unit, on_violation="hold")

    sign_in(page, live_server.url, "otto", "/station/SLT-01/")
    expect(page.locator("#scan")).to_be_focused()
    page.keyboard.type(waiting.code)
    page.keyboard.press("Enter")
    expect(page.locator("#in-hand")).to_contain_text(waiting.code)
    page.wait_for_load_state("networkidle")  # the boosted swap has settled: the form stays
    page.get_by_label("value").fill("1.5")
    expect(page.get_by_label("value")).to_have_value("1.5")
    page.get_by_role("button", name="Record").click()
    expect(page.locator(".message.success")).to_contain_text(f"Recorded {parameter.name} = 1.5")
    assert not Hold.objects.filter(item=waiting).exists()

    page.wait_for_load_state("networkidle")
    page.get_by_label("value").fill("7")
    expect(page.get_by_label("value")).to_have_value("7")
    page.get_by_role("button", name="Record").click()
    warning = page.locator(".message.warning")
    expect(warning).to_contain_text("OUTSIDE the specification")
    expect(warning).to_contain_text("lower 1 to upper 2")
    expect(warning).to_contain_text("now on hold")
    shoot(page, "station-out-of-limits")
    hold = Hold.objects.get(item=waiting)
    assert f"{parameter.code} 7 " in hold.reason
    waiting.refresh_from_db()
    assert waiting.status == ItemStatus.ON_HOLD
    assert list(
        Measurement.objects.filter(item=waiting, parameter=parameter).values_list("out_of_limits", flat=True)
    ) == [
        False,
        True,
    ]
