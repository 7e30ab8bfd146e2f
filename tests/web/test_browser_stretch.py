"""A stretch hold placed from the holds page in a real browser (headless Chromium), on the demo
line: only what holds metres 12.0-13.5 of a cathode lane is held, the lane stays usable."""

from typing import Any

import pytest
from playwright.sync_api import expect

from lots.models import Item, ItemStatus
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from traceability.models import Hold, LineageEdge
from traceability.selectors import lineage_track

from .conftest import sign_in, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]
REASON = "beta gauge: thickness +6 um at 12.0-13.5 m"


def _made_of_the_stretch(lane: Item) -> set[str]:
    """What still exists and holds lane metres [12.0, 13.5): the sheets cut from them, and all
    made of those sheets; worked out from the edges, not by the hold's walk."""
    sheets = LineageEdge.objects.filter(parent=lane, parent_from_m__lt=13.5, parent_to_m__gt=12.0)
    codes: set[str] = set()
    for edge in sheets.select_related("child"):
        codes |= {node.code for node in lineage_track(item=edge.child).nodes}
    alive = [ItemStatus.ACTIVE, ItemStatus.ON_HOLD, ItemStatus.SHIPPED]
    return set(Item.objects.filter(code__in=codes, status__in=alive).values_list("code", flat=True))


def test_an_engineer_holds_a_stretch_of_a_lane_from_the_holds_page(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    user_with_role("stella", "engineer")
    base = live_server.url
    lane = Item.objects.filter(kind="slit_roll", polarity="cathode", status=ItemStatus.ACTIVE).order_by("code")[0]
    expected = _made_of_the_stretch(lane)
    assert any(code.startswith("CELL-") for code in expected), "the stretch went into a cell"

    sign_in(page, base, "stella", f"/items/{lane.code}/")
    page.get_by_role("link", name="Hold or recall").click()
    expect(page.locator("#id_item")).to_have_value(lane.code)
    page.fill("#id_reason", REASON)
    page.fill("#id_from_m", "12.0")
    page.fill("#id_to_m", "13.5")
    expect(page.locator("#id_downstream")).to_be_checked()
    shoot(page, "holds-stretch")
    page.get_by_role("button", name="Place the hold").click()

    expect(page.locator(".message.success")).to_contain_text(f"{len(expected)} items on hold")
    expect(page.locator("table.facts")).to_contain_text(f"{lane.code}, metres 12.0-13.5 and everything made from it")
    hold = Hold.objects.get(reason=REASON)
    assert (hold.item_id, hold.from_m, hold.to_m) == (lane.pk, 12.0, 13.5)
    caught = set(hold.hold_items.values_list("item__code", flat=True))
    assert caught == expected
    assert set(Item.objects.filter(code__in=caught).values_list("status", flat=True)) == {ItemStatus.ON_HOLD}
    lane.refresh_from_db()
    assert lane.status == ItemStatus.ACTIVE
    shoot(page, "hold-stretch")

    # The list names the stretch; the lane's page says which metres are held and that the rest is usable.
    page.goto(base + "/holds/")
    expect(page.locator("table").first).to_contain_text(f"{lane.code}, metres 12.0-13.5 and all made from it")
    page.goto(base + f"/items/{lane.code}/")
    expect(page.locator(".stretch-hold")).to_contain_text("METRES 12.0-13.5 ON HOLD")
    expect(page.locator(".stretch-hold")).to_contain_text(f"The rest of {lane.code} may be used.")
    # A sheet cut from elsewhere on the lane shows no hold.
    elsewhere = LineageEdge.objects.filter(parent=lane, parent_from_m__gte=13.5).order_by("parent_from_m")[0]
    page.goto(base + f"/items/{elsewhere.child.code}/")
    expect(page.locator("body")).not_to_contain_text(f"hold {hold.pk}")
    expect(page.locator("p.alarm")).to_have_count(0)
