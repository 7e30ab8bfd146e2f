"""Browser fixtures: headless Chromium (Debian's package) driven by Playwright, against the live
server on the test database, with the demo line loaded through the services."""

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.deployment import deployment  # noqa: F401  (the app under gunicorn, one per session)
from tests.support import seed_kinds_and_steps

CHROMIUM = Path(os.environ.get("CELLTRACE_CHROMIUM", "/usr/bin/chromium"))
# `make screenshots` sets this to docs/screenshots; otherwise they go to the test's tmp_path.
SCREENSHOTS = os.environ.get("CELLTRACE_SCREENSHOTS", "")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser per module. Playwright's sync API keeps an event loop running in this thread
    until it stops, and Django refuses ORM calls from a thread with a running loop unless told
    otherwise: allowed for the module, then the loop stops and the guard is back."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) with a tablet-sized window."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


@pytest.fixture
def shoot() -> Any:
    """Saves a screenshot under `make screenshots` (CELLTRACE_SCREENSHOTS); otherwise does nothing,
    as a screenshot asserts nothing and Chromium can refuse one on a loaded machine."""

    def screenshot(page: Any, name: str, full_page: bool = False) -> None:
        if not SCREENSHOTS:
            return
        directory = Path(SCREENSHOTS)
        directory.mkdir(parents=True, exist_ok=True)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)

    return screenshot


@pytest.fixture
def demo_line(transactional_db: None, settings: Any, tmp_path: Path) -> None:
    """The demo pilot line of `make run` (catalog, stations, 24 cells, a hold, a roll waiting at
    the slitter), in the test database that the live server reads."""
    settings.MEDIA_ROOT = tmp_path / "media"
    seed_kinds_and_steps()
    call_command("load_catalog", stdout=io.StringIO())
    call_command("load_demo", stdout=io.StringIO())


def user_with_role(name: str, role: str) -> None:
    call_command("create_api_user", name, role=role, password=PASSWORD, stdout=io.StringIO())


def sign_in(page: Any, base: str, name: str, next_path: str = "/") -> None:
    page.goto(base + next_path)
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
