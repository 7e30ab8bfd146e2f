"""Browser fixtures: headless Chromium (Debian's package) driven by Playwright, against the live
server on the test database, with the demo line loaded through the services."""

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

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
def demo_line(transactional_db: None, settings: Any, tmp_path: Path, tmp_path_factory: Any) -> None:
    """The demo pilot line of `make run` (catalog, stations, 24 cells, a hold, a roll waiting at
    the slitter), in the test database that the live server reads. load_demo runs for the first
    test of the session (~6 s); the next ones get the rows and files it left, copied back."""
    settings.MEDIA_ROOT = tmp_path / "media"
    if _DEMO and connection.vendor == "postgresql":
        _demo_restore(settings.MEDIA_ROOT)
        return
    seed_kinds_and_steps()
    call_command("load_catalog", stdout=io.StringIO())
    call_command("load_demo", stdout=io.StringIO())
    if connection.vendor == "postgresql":
        _demo_snapshot(settings.MEDIA_ROOT, tmp_path_factory.mktemp("demo-media"))


# The tables Django's flush empties after each transactional test -> (columns, COPY text of the
# rows load_demo left); "media" -> a copy of the files it saved.
_DEMO: dict[str, Any] = {}


def _tables() -> list[str]:
    return sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))


def _demo_snapshot(media: Path, kept: Path) -> None:
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
                [table],
            )
            columns = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
            with cursor.cursor.copy(
                f"COPY (SELECT {columns} FROM {connection.ops.quote_name(table)}) TO STDOUT"
            ) as copy:
                _DEMO[table] = (columns, b"".join(copy))
    if media.exists():
        shutil.copytree(media, kept, dirs_exist_ok=True)
    _DEMO["media"] = kept


def _demo_restore(media: Path) -> None:
    """Empty the tables as the flush does (record tables' triggers off, tests/postgresql_flush),
    then copy the rows back; sequences are left as they are, past every id copied back."""
    tables = _tables()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # no FK order, no triggers
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables))
        for table in tables:
            columns, rows = _DEMO[table]
            if rows:
                with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
                    copy.write(rows)
    shutil.copytree(_DEMO["media"], media, dirs_exist_ok=True)


def user_with_role(name: str, role: str) -> None:
    call_command("create_api_user", name, role=role, password=PASSWORD, stdout=io.StringIO())


def sign_in(page: Any, base: str, name: str, next_path: str = "/") -> None:
    page.goto(base + next_path)
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
