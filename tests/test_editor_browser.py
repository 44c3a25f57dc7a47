"""The editor page and the museum widget in real headless Chromium against a real uvicorn server.

Checks: the page loads and renders a preview; an audience override and a pin change what the
preview shows; a title containing `<script>` is shown as text and never runs; the widget renders a
strip and posts impression events. Screenshots of the key views go to $KEPU_SCREENSHOTS_DIR (default: the test
run's pytest temp folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser_support import launch_chromium, require_chromium, screenshots_folder
from tests.test_api_support import EDITOR, INGEST, uvicorn_server

XSS_TITLE = '<script>window.__kepu_pwned = 1</script><img src=x onerror="window.__kepu_pwned = 2">防骗指南'

pytestmark = pytest.mark.browser
require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with uvicorn_server(tmp_path_factory.mktemp("browser")) as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = launch_chromium(pw, tmp_path_factory.mktemp("chromium-home"))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, server: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_editor(page: object, server: str, audience: str = "seniors", channel: str = "web") -> None:
    page.goto(f"{server}/editor/?audience={audience}&channel={channel}")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#api-key", EDITOR["X-API-Key"])
    page.click("#key-form button")


def preview_ids(page: object, list_id: str = "preview-list") -> list[str]:
    return page.eval_on_selector_all(f"#{list_id} li.card", "cards => cards.map(c => c.dataset.itemId)")


def wait_for_first(page: object, item_id: str) -> None:
    page.wait_for_function(
        "id => { const c = document.querySelector('#preview-list li.card'); return c && c.dataset.itemId === id; }",
        arg=item_id,
    )


def test_preview_override_and_pin_change_the_preview(page: object, server: str, screenshots: Path) -> None:
    open_editor(page, server, "seniors")
    page.wait_for_selector("#preview-list li.card")
    before = preview_ids(page)
    assert before and "carbon-1" not in before
    assert page.text_content("#preview-list li.card .reason").startswith("推荐理由：")
    page.screenshot(path=str(screenshots / "editor-preview.png"), full_page=True)

    # override: open an officials item by id and add the seniors audience
    page.evaluate("openItem('carbon-1')")
    page.wait_for_selector("#item-panel:not([hidden])")
    assert page.text_content("#item-title") == "双碳目标与城市治理"
    page.check("#override-boxes input[value=seniors]")
    page.fill("#override-note", "适合老年朋友了解")
    page.click("#override-form button")
    page.wait_for_selector(".message.ok")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#preview-list li.card')].some(c => c.dataset.itemId === 'carbon-1')"
    )
    assert "carbon-1" in preview_ids(page)
    page.wait_for_selector("#item-history li:not(.muted)")
    page.screenshot(path=str(screenshots / "editor-item-override.png"), full_page=True)

    # pin: put the item first for seniors through the rules form
    page.select_option("#rule-kind", "pin")
    page.fill("#rule-item", "carbon-1")
    page.fill("#rule-position", "1")
    page.select_option("#rule-audience", "seniors")
    page.click("#rule-form button")
    wait_for_first(page, "carbon-1")
    assert page.text_content("#preview-list li.card .reason") == "推荐理由：编辑推荐"
    page.wait_for_selector("#rules-body tr[data-rule-id]")
    page.screenshot(path=str(screenshots / "editor-rules.png"), full_page=True)

    # expire the pin: the item leaves the first slot again
    page.click("#rules-body tr[data-rule-id] button.danger")
    page.wait_for_function(
        "() => document.querySelector('#preview-list li.card .reason').textContent !== '推荐理由：编辑推荐'"
    )


def test_compare_two_audiences(page: object, server: str, screenshots: Path) -> None:
    open_editor(page, server, "farmers")
    page.check("#compare-toggle")
    page.select_option("#audience-b", "youth")
    page.click("#preview-form button")
    # Both columns render asynchronously; each list names the audience it shows once rendered.
    page.wait_for_selector("#preview-list[data-audience=farmers] li.card")
    page.wait_for_selector("#preview-list-b[data-audience=youth] li.card")
    assert page.is_visible("#column-b")
    left, right = preview_ids(page), preview_ids(page, "preview-list-b")
    assert left and right and left != right
    assert page.text_content("#column-b-title").startswith("青少年")
    page.screenshot(path=str(screenshots / "editor-compare.png"), full_page=True)


def test_script_in_a_title_is_shown_as_text(page: object, server: str, screenshots: Path) -> None:
    item = {
        "title": XSS_TITLE,
        "summary": "<b>不应加粗</b>",
        "topics": ["anti_fraud_rumor"],
        "audiences": ["officials"],
    }
    assert httpx.put(f"{server}/v1/items/xss-1", json=item, headers=INGEST).status_code == 201
    httpx.post(
        f"{server}/v1/rules",
        json={"kind": "pin", "item_id": "xss-1", "position": 0, "audience": "officials"},
        headers=EDITOR,
    )
    open_editor(page, server, "officials")
    wait_for_first(page, "xss-1")
    assert page.text_content("#preview-list li.card .title") == XSS_TITLE
    assert page.text_content("#preview-list li.card .summary") == "<b>不应加粗</b>"
    assert page.query_selector("#preview-list script, #preview-list img, #preview-list b") is None
    page.evaluate("openItem('xss-1')")
    page.wait_for_selector("#item-panel:not([hidden])")
    assert page.text_content("#item-title") == XSS_TITLE
    assert page.evaluate("window.__kepu_pwned") is None
    page.screenshot(path=str(screenshots / "editor-escaped-title.png"), full_page=True)


def test_museum_widget_renders_and_logs_impressions(page: object, server: str, screenshots: Path) -> None:
    posted: list[dict] = []
    page.on("request", lambda r: posted.append(r.post_data_json) if r.url.endswith("/v1/events") else None)
    page.goto(f"{server}/examples/museum.html")
    page.wait_for_selector("#kepu-strip[data-kepu-ready=true] .kepu-card")
    shown = len(page.query_selector_all(".kepu-card"))
    assert 1 <= shown <= 6  # data-k="6"; the tiny test catalog has fewer youth items
    session = page.evaluate("localStorage.getItem('kepu.sessionId')")
    assert session and session.startswith("s-")
    page.wait_for_function("() => true")
    page.screenshot(path=str(screenshots / "museum-widget.png"), full_page=True)
    first = page.get_attribute(".kepu-card", "data-item-id")
    with page.expect_request(lambda r: r.url.endswith("/v1/events") and '"click"' in (r.post_data or "")):
        page.click(".kepu-card a")
    events = [e for batch in posted for e in batch["events"]]
    impressions = [e for e in events if e["type"] == "impression"]
    assert len(impressions) == shown and {e["session_id"] for e in impressions} == {session}
    assert all(e["channel"] == "web" for e in impressions)
    clicks = [e for e in events if e["type"] == "click"]
    assert [c["item_id"] for c in clicks] == [first] and clicks[0]["position"] == 0


def test_editor_page_shows_nothing_personal_to_an_editor(page: object, server: str) -> None:
    """A resident with a profile and reading history exists; everything the editor page fetches and
    shows with an editor key is catalog data, audience previews and staff labels — never the resident."""
    resident = {"audiences": ["seniors"], "age_band": "60_plus", "town": "沙溪镇", "sessions": ["resident-tab-42"]}
    assert httpx.put(f"{server}/v1/users/resident-wx-42", json=resident, headers=INGEST).status_code == 201
    read = {"event_id": "resident-read-1", "user_id": "resident-wx-42", "item_id": "health-1", "type": "view"}
    assert httpx.post(f"{server}/v1/events", json={"events": [read]}, headers=INGEST).json()["accepted"] == 1
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    open_editor(page, server, "seniors")
    page.wait_for_selector("#preview-list li.card")
    page.evaluate("openItem('health-1')")
    page.wait_for_selector("#item-panel:not([hidden])")
    page.wait_for_selector("#item-history li")
    api_paths = {url.split(server, 1)[-1].split("?", 1)[0] for url in requested if "/v1/" in url}
    assert api_paths and not [p for p in api_paths if p.startswith(("/v1/users", "/v1/events"))], api_paths
    html = page.content()
    assert "resident-wx-42" not in html and "resident-tab-42" not in html and "沙溪镇" not in html
    # The editor key itself cannot read residents either.
    assert httpx.get(f"{server}/v1/users/resident-wx-42", headers=EDITOR).status_code == 403
