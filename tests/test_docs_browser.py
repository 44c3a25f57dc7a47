"""`/docs` (Swagger UI) and `/redoc` render the API's operations in real headless Chromium with the network
cut off: every request to a host other than the test server is aborted and recorded, so a page that still
needed a CDN would stay blank and the test would name the URL it tried. The pages' Content-Security-Policy
keeps ReDoc's decorative CDN logo from being requested at all."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.browser_support import launch_chromium, require_chromium
from tests.test_api_support import uvicorn_server

LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = pytest.mark.browser
require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with uvicorn_server(tmp_path_factory.mktemp("docs")) as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = launch_chromium(pw, tmp_path_factory.mktemp("chromium-home"))
        yield chromium
        chromium.close()


@pytest.fixture
def offline_page(browser: object) -> Iterator[tuple[object, list[str]]]:
    """A page that may only reach the local server; yields it with the list of blocked URLs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_local(route: object) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page, blocked
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_swagger_ui_renders_the_operations_offline(offline_page: tuple[object, list[str]], server: str) -> None:
    page, blocked = offline_page
    response = page.goto(f"{server}/docs")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path")
    paths = page.eval_on_selector_all(".opblock-summary-path", "nodes => nodes.map(n => n.dataset.path)")
    assert "/v1/recommendations" in paths and "/v1/events" in paths, paths
    assert page.text_content(".info .title").startswith("Kepu 科普推荐 API")
    # expand one operation: its parameters table renders from the live /openapi.json
    operation = page.locator(".opblock-get", has=page.locator(".opblock-summary-path[data-path='/v1/recommendations']"))
    operation.locator(".opblock-summary").first.click()
    operation.locator(".parameters").first.wait_for()
    assert "audience" in operation.locator(".parameters").first.text_content()
    assert not blocked, f"/docs tried to leave the server: {blocked}"


def test_redoc_renders_the_operations_offline(offline_page: tuple[object, list[str]], server: str) -> None:
    page, blocked = offline_page
    response = page.goto(f"{server}/redoc")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("[data-section-id^='operation/']")
    sections = page.eval_on_selector_all("[data-section-id^='operation/']", "nodes => nodes.length")
    assert sections >= 10, f"ReDoc rendered only {sections} operations"
    assert "/v1/recommendations" in page.inner_text("body")
    assert not blocked, f"/redoc tried to leave the server: {blocked}"
