"""A coating run in a real browser (headless Chromium) on the demo line: started open, so the
coater's values find the roll while it runs, its label ready at once, then finished from the
station page (issue 13, point 2)."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from lots.services import item_register
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from traceability.models import Operation

from .conftest import sign_in, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]


def test_an_operator_starts_a_coating_run_and_finishes_it_when_the_roll_is_done(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    user_with_role("otto", "operator")
    slurry = item_register(actor=None, kind="slurry", quantity=10, unit="kg", polarity="cathode")
    sign_in(page, live_server.url, "otto", "/station/COAT-01/")
    expect(page.get_by_role("heading", name=re.compile("COAT-01"))).to_be_visible()
    page.locator("#scan").focus()
    page.keyboard.type(slurry.code)
    page.keyboard.press("Enter")
    expect(page.locator("#in-hand")).to_contain_text(slurry.code)
    page.get_by_role("button", name="Start coating").click()
    expect(page.locator("#operation")).to_contain_text(slurry.code)
    page.fill(f"input[name=input-{slurry.code}-quantity]", "8")
    page.fill("input[name=output-count]", "1")
    page.fill("input[name=output-quantity]", "100")
    page.fill("input[name=output-unit]", "m")
    before = Operation.objects.count()

    page.get_by_role("button", name=re.compile("Start run")).dblclick()  # a double tap with gloves on

    expect(page.get_by_role("heading", name=re.compile("Coating run started"))).to_be_visible()
    expect(page.locator("#run-open")).to_be_visible()
    expect(page.locator("#print-labels")).to_contain_text("Print 1 label")
    assert Operation.objects.count() == before + 1, "a double tap starts one run"
    run = Operation.objects.get(step="coating", ended_at__isnull=True)
    shoot(page, "station-run-started")

    page.get_by_role("link", name="Back to COAT-01").click()
    expect(page.locator("#open-runs")).to_contain_text(run.outputs.get().code)
    page.get_by_role("button", name=f"Finish run {run.pk}").click()

    expect(page.get_by_role("heading", name=re.compile("Coating recorded"))).to_be_visible()
    expect(page.locator(".message.success")).to_contain_text(f"run {run.pk} finished")
    run.refresh_from_db()
    assert run.ended_at is not None
