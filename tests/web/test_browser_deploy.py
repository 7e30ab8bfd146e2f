"""The deployed app (gunicorn, production settings, DEBUG off, collected static files; see
tests/deployment.py) in headless Chromium, cut off from every host but this one: the API docs
render from local files, the station page is styled, the genealogy graph is drawn."""

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.deployment import Deployment

pytestmark = [pytest.mark.browser, pytest.mark.postgresql_only]

# Pixels of a canvas that are drawn on (not transparent), over every canvas layer of the graph.
DRAWN_PIXELS = """() => [...document.querySelectorAll('#graph canvas')].reduce((sum, canvas) => {
    if (!canvas.width || !canvas.height) return sum;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
    return sum + drawn;
}, 0)"""


def offline(page: Any) -> list[str]:
    """Abort every request to a host other than this machine; returns the list of those tried."""
    tried: list[str] = []

    def route(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            tried.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return tried


def sign_in(page: Any, deployment: Deployment, name: str, next_path: str) -> None:
    password, _ = deployment.users[name]
    page.goto(f"{deployment.url}/accounts/login/?next={next_path}")
    page.fill("#id_username", name)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(deployment.url + next_path.split("?")[0])))


def test_the_api_docs_render_swagger_ui_without_the_internet(page: Any, deployment: Deployment) -> None:
    tried = offline(page)
    sign_in(page, deployment, "demo-operator", "/api/docs/")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() > 20  # every operation of the schema
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CellTrace API")
    assert tried == [], f"the docs page reached outside: {tried}"
    # The block holds: a script that asks another host gets nothing (and is seen asking).
    probe = "https://cdn.example.invalid/swagger-ui-bundle.js"
    assert page.evaluate(f"fetch('{probe}').then(() => 'loaded', () => 'blocked')") == "blocked"
    assert tried == [probe]


def test_an_engineer_on_the_deployed_app_sees_styled_pages_and_a_drawn_genealogy(
    page: Any, deployment: Deployment
) -> None:
    tried = offline(page)
    sign_in(page, deployment, "demo-engineer", "/station/")
    expect(page.get_by_role("heading", name="Which station are you at?")).to_be_visible()
    # celltrace.css (hashed, from WhiteNoise) applied: the dark top bar, the page's grey background.
    assert page.evaluate("getComputedStyle(document.querySelector('.bar')).backgroundColor") == "rgb(20, 32, 43)"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"

    page.goto(deployment.url + "/items/CAL-000001/genealogy/")
    page.wait_for_function("window.genealogy && window.genealogy.nodes().length > 0")
    nodes = page.evaluate("window.genealogy.nodes().map(n => n.id())")
    assert "CAL-000001" in nodes and len(nodes) > 3
    expect(page.locator("#graph canvas").first).to_be_visible()
    page.wait_for_function(f"({DRAWN_PIXELS})() > 500")  # the nodes and links are on the canvas
    assert tried == [], f"the pages reached outside: {tried}"
