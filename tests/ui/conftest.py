"""Browser-test fixtures: one real Weir server and one headless Chromium for the session, a
fresh browser context (cookies, storage) per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from gateway.client.api import AdminClient
from tests.functional.conftest import WeirServer, run_weir
from tests.ui.browser import ARGS, chromium_path

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeirServer]:
    root = tmp_path_factory.mktemp("weir-ui")
    with run_weir(root / "data", root / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def admin_client(ui_server: WeirServer) -> AdminClient:
    return AdminClient(ui_server.endpoint, ui_server.access_key, ui_server.secret_key)


# Package scope, not session: Playwright's sync API keeps an event loop running on this thread
# while it is started, which would break every asyncio test collected after this package.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=chromium_path(), args=ARGS)
    yield b
    b.close()


class PageErrors:
    """Script errors the page raised (a test fails on any)."""

    def __init__(self) -> None:
        self.errors: list[str] = []


@pytest.fixture
def context(browser: Browser, ui_server: WeirServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=ui_server.endpoint, viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    pg = context.new_page()
    errors = PageErrors()
    pg.on("pageerror", lambda exc: errors.errors.append(str(exc)))
    pg.on("dialog", lambda dialog: dialog.accept())
    yield pg
    assert errors.errors == [], f"script errors on the page: {errors.errors}"


def sign_in(page: Page, key: str, secret: str, start: str = "/") -> None:
    page.goto(start)
    page.get_by_label("Access key id").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def admin_page(page: Page, ui_server: WeirServer) -> Page:
    sign_in(page, ui_server.access_key, ui_server.secret_key)
    return page


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def ready(page: Page) -> Any:
    """The current view finished its first load."""
    return expect(page.locator("section.view[data-ready]")).to_have_count(1)
