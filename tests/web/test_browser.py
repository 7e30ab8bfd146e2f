"""The pages in a real browser (headless Chromium): an operator at the slitter, an engineer
following a cell back to its rolls and recalling a lot. Screenshots go to docs/screenshots
under `make screenshots`."""

import csv
import io
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from lots.models import Item, ItemStatus
from tests.support import reseed_after_the_last_truncate  # noqa: F401  (module-scoped autouse fixture)
from traceability.models import Hold, LineageEdge, Operation

from .conftest import sign_in, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]


def test_an_operator_slits_a_roll_prints_its_labels_and_cannot_use_a_held_lane(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    user_with_role("otto", "operator")
    base = live_server.url
    # The roll the demo left at the slitter (not the one still in the calender, an open run).
    waiting = Item.objects.get(kind="calendered_roll", status=ItemStatus.ACTIVE, produced_by__ended_at__isnull=False)

    page.goto(base + "/station/")
    shoot(page, "login")
    sign_in(page, base, "otto", "/station/")
    expect(page.get_by_role("heading", name="Which station are you at?")).to_be_visible()
    shoot(page, "station-pick")
    page.get_by_role("button", name=re.compile("SLT-01")).click()
    expect(page.get_by_role("heading", name=re.compile("SLT-01"))).to_be_visible()

    # A handheld scanner types into the focused box and presses Enter.
    expect(page.locator("#scan")).to_be_focused()
    page.keyboard.type("NOT-A-CODE-42")
    page.keyboard.press("Enter")
    expect(page.locator(".message.error")).to_contain_text("Nothing on this line has the code 'NOT-A-CODE-42'")
    page.locator("#scan").focus()
    page.keyboard.type("https://id.other-plant.example/01/04012345000019/10/LOT-7")
    page.keyboard.press("Enter")
    expect(page.locator(".message.error")).to_contain_text("belongs to another site (id.other-plant.example)")
    page.locator("#scan").focus()
    page.keyboard.type(waiting.code)
    page.keyboard.press("Enter")
    expect(page.locator("#in-hand")).to_contain_text(waiting.code)
    expect(page.locator("#in-hand")).to_contain_text("Active")

    # Slitting into four lanes: the machine parameters come from the last run of the slitter.
    page.get_by_role("button", name="Start slitting").click()
    operation = page.locator("#operation")
    expect(operation).to_contain_text(waiting.code)
    operation.get_by_role("button", name="remove").click()  # taken back, and scanned again
    expect(page.locator("#operation")).to_contain_text("No inputs yet")
    expect(page.locator("#scan")).to_be_focused()  # the scanner can go on at once
    page.keyboard.type(waiting.code)
    page.keyboard.press("Enter")
    expect(page.locator("#operation")).to_contain_text(waiting.code)
    expect(page.locator("#param-slitting_speed")).to_have_value("100.0")
    page.fill("input[name=output-count]", "4")
    # A swap settling late must not take the focus from a field being typed in (it did, and the
    # count went into the scan box: one lane recorded instead of four).
    page.evaluate("htmx.trigger(document.body, 'htmx:afterSettle')")
    expect(page.locator("input[name=output-count]")).to_be_focused()
    page.fill("input[name=output-quantity]", f"{waiting.length_m:g}")
    page.fill("input[name=output-unit]", "m")
    expect(page.locator("input[name=output-lanes]")).to_be_checked()
    shoot(page, "station-operation", full_page=True)
    before = Operation.objects.count()
    page.get_by_role("button", name="Finish and record").dblclick()  # a double tap with gloves on
    expect(page.get_by_role("heading", name=re.compile("Slitting recorded"))).to_be_visible()
    assert Operation.objects.count() == before + 1, "a double tap records one operation"
    lanes = list(LineageEdge.objects.filter(parent=waiting).order_by("lane"))
    assert [(edge.lane, edge.parent_from_m, edge.parent_to_m) for edge in lanes] == [
        (lane, 0.0, waiting.length_m) for lane in (1, 2, 3, 4)
    ]
    waiting.refresh_from_db()
    assert waiting.status == ItemStatus.CONSUMED

    # Its four labels, on a sheet to print.
    with page.context.expect_page() as opened:
        page.locator("#print-labels").click()
    labels = opened.value
    labels.wait_for_load_state()
    expect(labels.locator("figure.label")).to_have_count(4)
    widths = labels.eval_on_selector_all("figure.label img", "images => images.map(i => i.naturalWidth)")
    assert all(width > 100 for width in widths), "every QR label image loaded"
    shoot(labels, "labels")
    labels.close()

    # The demo's held anode lane cannot go into the notcher.
    held = Item.objects.filter(kind="slit_roll", status=ItemStatus.ON_HOLD).first()
    assert held is not None
    page.goto(base + "/station/?change=1")
    page.get_by_role("button", name=re.compile("CUT-01")).click()
    page.get_by_role("button", name="Start cutting").click()
    expect(page.locator("#operation")).to_contain_text("No inputs yet")
    page.locator("#scan").focus()
    page.keyboard.type(held.code)
    page.keyboard.press("Enter")
    expect(page.locator(".message.error")).to_contain_text(f"{held.code} cannot be used in this operation: on hold")
    expect(page.locator("#in-hand .alarm")).to_contain_text("ON HOLD")
    expect(page.locator("#operation")).not_to_contain_text(held.code)
    shoot(page, "station-held")
    held.refresh_from_db()
    assert held.status == ItemStatus.ON_HOLD


def test_an_engineer_follows_a_cell_to_its_roll_recalls_a_lot_and_exports_the_cells(
    page: Any, live_server: Any, demo_line: None, shoot: Any
) -> None:
    user_with_role("erin", "engineer")
    base = live_server.url
    sign_in(page, base, "erin")
    shoot(page, "home")

    # A cell's genealogy, drawn: click through to the calendered roll inside it.
    page.goto(base + "/items/CELL-000005/")
    shoot(page, "item")
    page.get_by_role("link", name="Trace: what is inside").click()
    page.wait_for_function("window.genealogy && window.genealogy.nodes().length > 0")
    nodes = page.evaluate("window.genealogy.nodes().map(n => n.id())")
    assert {"CELL-000005", "CR-000001", "CAL-000001", "SLR-000001"} <= set(nodes)
    assert page.evaluate("window.genealogy.edges().length") > len(nodes) - 1  # converging and diverging
    shoot(page, "genealogy")
    position = page.evaluate(
        """() => { const p = window.genealogy.$id("CAL-000001").renderedPosition();
                   const box = document.getElementById("graph").getBoundingClientRect();
                   return {x: box.left + p.x, y: box.top + p.y}; }"""
    )
    page.mouse.click(position["x"], position["y"])
    expect(page).to_have_url(re.compile(r"/items/CAL-000001/$"))

    # Hundreds of items: everything made from the cathode slurry, drawn and laid out.
    page.goto(base + "/items/SLR-000001/genealogy/?direction=downstream")
    page.wait_for_function("window.genealogy && window.genealogy.nodes().length > 300")
    box = page.evaluate("window.genealogy.elements().boundingBox()")
    assert box["w"] > 0 and box["h"] > 0
    shoot(page, "track")

    # The coated roll's mass-loading profile, with the stretch that went into each daughter.
    page.goto(base + "/items/CR-000001/")
    page.wait_for_function("document.querySelector('.plot') && document.querySelector('.plot').data")
    points = page.evaluate("document.querySelector('.plot').data[0].x.length")
    bands = page.evaluate("document.querySelector('.plot').layout.shapes.filter(s => s.type === 'rect').length")
    assert points > 100 and bands >= 1
    page.locator(".plot").first.scroll_into_view_if_needed()
    shoot(page, "roll-profile")

    # A recall: the cathode slurry and everything made from it.
    page.goto(base + "/holds/?item=SLR-000001")
    shoot(page, "holds")
    page.fill("#id_reason", "NMC811 lot out of specification")
    expect(page.locator("#id_downstream")).to_be_checked()
    page.get_by_role("button", name="Place the hold").click()
    expect(page.locator(".message.success")).to_contain_text("items on hold")
    hold = Hold.objects.get(reason="NMC811 lot out of specification")
    cells = Item.objects.filter(kind="cell", hold_items__hold=hold)
    assert cells.count() >= 20 and not cells.exclude(status=ItemStatus.ON_HOLD).exclude(status=ItemStatus.SCRAPPED)
    expect(page.locator("#caught")).to_contain_text(str(hold.hold_items.count()))
    shoot(page, "hold")

    # An export of every cell, with a progress bar, then the file itself.
    page.goto(base + "/datasets/")
    page.select_option("#id_format", "csv")
    shoot(page, "datasets")
    page.get_by_role("button", name="Start the export").click()
    expect(page.locator("#export-progress .status")).to_have_text("done")
    shoot(page, "export")
    with page.expect_download() as download:
        page.locator("#download").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))  # noqa: SIM115
    assert len(rows) == Item.objects.filter(kind="cell").count()
    assert "cathode.coating.mass_loading.mean" in rows[0]

    # The catalog, as the paper's tables.
    page.goto(base + "/catalog/?step=coating")
    expect(page.locator("table.catalog")).to_contain_text("mass_loading")
    shoot(page, "catalog")
