"""Accessibility: axe-core (vendored, tests/web/vendor) checks every page against WCAG 2 A and AA
in headless Chromium, with the demo line loaded; any violation fails, named by page and rule."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from datasets.services import export_request
from lots.models import Item
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from traceability.models import Hold

from .conftest import sign_in, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } });
  return result.violations.map((v) => ({
    rule: v.id, impact: v.impact,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " " + n.failureSummary.replace(/\\s+/g, " ")),
  }));
}"""


def _violations(page: Any) -> list[dict[str, Any]]:
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    return list(page.evaluate(RUN_AXE))


def test_every_page_passes_axe_wcag2_a_and_aa(page: Any, live_server: Any, demo_line: None) -> None:
    user_with_role("erin", "engineer")
    base = live_server.url
    cell = Item.objects.filter(kind="cell").order_by("code").first()
    roll = Item.objects.filter(kind="coated_roll").order_by("code").first()
    slurry = Item.objects.filter(kind="slurry").order_by("code").first()
    hold = Hold.objects.order_by("pk").first()
    assert cell and roll and slurry and hold, "the demo line has a cell, a coated roll, a slurry and a hold"
    export = export_request(actor=User.objects.get(username="erin"), granularity="cell", format="csv", layout="wide")

    found: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        violations = _violations(page)
        if violations:
            found[name] = violations

    page.goto(base + "/accounts/login/")
    check("login")
    sign_in(page, base, "erin")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    pages = {
        "home": "/",
        "items": "/items/",
        "items search": "/items/?q=CELL-00000",
        "item cell": f"/items/{cell.code}/",
        "item roll": f"/items/{roll.code}/",
        "station pick": "/station/?change=1",
        "station CUT-01": "/station/CUT-01/",
        "trace": f"/items/{cell.code}/genealogy/",
        "track": f"/items/{slurry.code}/genealogy/?direction=downstream",
        "holds": "/holds/",
        "hold": f"/holds/{hold.pk}/",
        "catalog": "/catalog/",
        "datasets": "/datasets/",
        "labels": f"/labels/?items={cell.code},{roll.code}",
        "parameter edit": "/catalog/mass_loading/edit/",
        "lab files": "/lab-files/",
        "export": f"/datasets/{export.pk}/",
    }
    for name, path in pages.items():
        page.goto(base + path)
        check(name)

    # The station with an operation under way: the form, its machine parameters, the scan card.
    page.goto(base + "/station/CUT-01/")
    page.get_by_role("button", name=re.compile("Start cutting")).click()
    expect(page.locator("#operation")).to_be_visible()
    check("station CUT-01 operation")
    page.locator("#scan").fill(roll.code)
    page.keyboard.press("Enter")
    expect(page.locator("#in-hand")).to_contain_text(roll.code)
    check("station CUT-01 scanned")
    # A page with an error message on it.
    page.goto(base + "/items/?q=NOTHING-LIKE-THIS")
    check("items nothing found")

    report = "\n".join(
        f"{name}: {v['rule']} ({v['impact']}) {node}"
        for name, items in found.items()
        for v in items
        for node in v["nodes"]
    )
    assert not found, f"axe-core WCAG 2 A/AA violations:\n{report}"


def test_the_axe_run_finds_what_it_should(page: Any, db: None) -> None:
    """The harness itself: a prohibited aria-label on a plain div (the genealogy page had one),
    grey on white text and a list item outside a list are each reported."""
    page.set_content(
        "<!doctype html><html lang='en'><head><title>t</title></head><body><main>"
        "<div aria-label='genealogy graph'></div>"
        "<p style='color:#aaa;background:#fff'>faint</p>"
        "<ul role='status'><li>message</li></ul></main></body></html>"
    )
    rules = {violation["rule"] for violation in _violations(page)}
    assert {"aria-prohibited-attr", "color-contrast", "listitem"} <= rules
