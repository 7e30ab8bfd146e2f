"""The cutter in a real browser (headless Chromium) on the demo line: a lane cut into ten sheets,
each recording its stretch of the lane, and a failed scan that clears the card of the item before
(issue 11, points 7 and 10)."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from lots.models import Item, ItemStatus
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from traceability.models import LineageEdge, Operation
from traceability.selectors import next_unused_metre

from .conftest import sign_in, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]


def _at_the_cutter(page: Any, base: str) -> None:
    user_with_role("otto", "operator")
    sign_in(page, base, "otto", "/station/?change=1")
    page.get_by_role("button", name=re.compile("CUT-01")).click()
    expect(page.get_by_role("heading", name=re.compile("CUT-01"))).to_be_visible()


def _scan(page: Any, code: str) -> None:
    page.locator("#scan").focus()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_an_operator_cuts_ten_sheets_from_a_lane_and_each_records_its_stretch(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    lane = Item.objects.filter(kind="slit_roll", status=ItemStatus.ACTIVE).order_by("code").first()
    assert lane is not None
    start = next_unused_metre(lane)
    assert start > 0, "the demo cut sheets from every lane already"
    _at_the_cutter(page, live_server.url)
    _scan(page, lane.code)
    expect(page.locator("#in-hand")).to_contain_text(lane.code)
    page.get_by_role("button", name="Start cutting").click()
    expect(page.locator("#operation")).to_contain_text(lane.code)
    expect(page.locator("input[name=cut-from]")).to_have_value(f"{start:g}")
    expect(page.locator("input[name=cut-pitch]")).not_to_have_value("")  # the last run's sheet length
    expect(page.locator(f"input[name=input-{lane.code}-consume]")).not_to_be_checked()
    assert page.eval_on_selector_all("select[name=output-kind] option", "o => o.map(x => x.value)") == [
        "",
        "electrode_sheet",
    ]

    # The operator types the sheet's length where its quantity goes: it becomes the pitch.
    page.fill(f"input[name=input-{lane.code}-quantity]", "1.6")
    page.fill("input[name=output-quantity]", "0.16 m")
    page.get_by_role("button", name="Finish and record").click()
    expect(page.locator(".message.warning")).to_contain_text("is the length of one sheet, not its quantity")
    expect(page.locator("input[name=cut-pitch]")).to_have_value("0.16")
    expect(page.locator("input[name=output-count]")).to_have_value("10")
    assert not Operation.objects.filter(step="cutting", edges__parent=lane, edges__parent_from_m__gte=start).exists()
    cut_off = page.eval_on_selector_all(
        "#operation input:not([type=checkbox]):not([type=hidden])",
        "fields => fields.filter(f => f.scrollWidth > f.clientWidth + 1).map(f => f.name)",
    )
    assert cut_off == [], "every field shows all it holds"
    shoot(page, "station-cutting", full_page=True)

    page.get_by_role("button", name="Finish and record").click()
    expect(page.get_by_role("heading", name=re.compile("Cutting recorded"))).to_be_visible()
    edges = LineageEdge.objects.filter(parent=lane, parent_from_m__gte=start - 1e-9).order_by("parent_from_m")
    assert [(e.parent_from_m, e.parent_to_m) for e in edges] == [
        pytest.approx((start + i * 0.16, start + (i + 1) * 0.16)) for i in range(10)
    ]
    assert len({e.operation_id for e in edges}) == 1
    assert next_unused_metre(lane) == pytest.approx(start + 1.6)
    lane.refresh_from_db()
    assert lane.status == ItemStatus.ACTIVE, "the lane goes on to the next cut"


def test_a_failed_scan_clears_the_red_card_of_the_held_item_before(
    page: Any, live_server: Any, demo_line: None
) -> None:
    held = Item.objects.filter(status=ItemStatus.ON_HOLD).order_by("code").first()
    assert held is not None
    _at_the_cutter(page, live_server.url)
    _scan(page, held.code)
    expect(page.locator("#in-hand .alarm")).to_contain_text("ON HOLD")
    _scan(page, "NOT-A-CODE-42")
    expect(page.locator(".message.error")).to_contain_text("Nothing on this line has the code 'NOT-A-CODE-42'")
    expect(page.locator("#in-hand")).to_have_count(0)
    _scan(page, held.code)
    expect(page.locator("#in-hand .alarm")).to_contain_text("ON HOLD")
    _scan(page, "https://id.other-plant.example/01/04012345000019/10/LOT-7")
    expect(page.locator(".message.error")).to_contain_text("belongs to another site")
    expect(page.locator("#in-hand")).to_have_count(0)
    expect(page.locator("#scan")).to_be_focused()
