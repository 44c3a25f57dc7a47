"""The dashboard, the widget's 适老化 mode and axe-core checks in real headless Chromium (real uvicorn server).

Traffic is logged through the public API (users, impressions, clicks, an A/B experiment with labelled
events), so every chart is drawn from the store's own SQL aggregates. Screenshots go to
$KEPU_SCREENSHOTS_DIR (default: a temp folder), never into the repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.axe_support import axe_violations, blocking
from tests.browser_support import launch_chromium, require_chromium, screenshots_folder
from tests.test_api_support import ADMIN, EDITOR, INGEST, uvicorn_server

pytestmark = pytest.mark.browser
require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")
AUDIENCE_ITEMS = {"farmers": ["seed-1", "seed-2", "seed-3"], "seniors": ["health-1", "health-2", "fraud-1"]}


def log_traffic(base: str) -> None:
    """Two users over the last week on two channels, and an experiment whose variants differ in CTR."""
    now = datetime.now(UTC)
    for audience in AUDIENCE_ITEMS:
        user = {"audiences": [audience]}
        assert httpx.put(f"{base}/v1/users/dash-{audience}", json=user, headers=INGEST).status_code in (200, 201)
    events = []
    for audience, items in AUDIENCE_ITEMS.items():
        channel = "wechat" if audience == "seniors" else "web"
        for day in range(7):
            for n, item in enumerate(items):
                at = (now - timedelta(days=day, minutes=n + 1)).isoformat()
                base_event = {"user_id": f"dash-{audience}", "item_id": item, "channel": channel, "timestamp": at}
                events.append({**base_event, "event_id": f"d-{audience}-{day}-{n}-i", "type": "impression"})
                if (day + n) % 2 == 0:
                    events.append({**base_event, "event_id": f"d-{audience}-{day}-{n}-c", "type": "click"})
    experiment = {"name": "diversity", "variants": [{"name": "control"}, {"name": "diverse"}]}
    assert httpx.post(f"{base}/v1/experiments", json=experiment, headers=ADMIN).status_code == 201
    at = datetime.now(UTC).isoformat()
    for variant, clicks in (("control", 6), ("diverse", 18)):
        for n in range(60):
            labelled = {"session_id": "ab", "item_id": "ai-1", "timestamp": at, "experiment": f"diversity/{variant}"}
            events.append({**labelled, "event_id": f"ab-{variant}-{n}-i", "type": "impression"})
            if n < clicks:
                events.append({**labelled, "event_id": f"ab-{variant}-{n}-c", "type": "click"})
    response = httpx.post(f"{base}/v1/events", json={"events": events}, headers=INGEST)
    assert response.status_code in (200, 202), response.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with uvicorn_server(tmp_path_factory.mktemp("dashboard")) as base:
        log_traffic(base)
        yield base


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = launch_chromium(pw, tmp_path_factory.mktemp("chromium-home"))
        yield chromium
        chromium.close()


def new_page(browser: object, width: int = 1360, height: int = 900) -> tuple[object, object, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(f"{msg.text} {msg.location.get('url', '')}") if console_error(msg) else None,
    )
    return context, page, errors


def console_error(message: object) -> bool:
    """An error the page caused (the browser's own automatic /favicon.ico request does not count)."""
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


def open_dashboard(page: object, server: str) -> None:
    """Through the editor page, as an editor would: save the key there, follow the 数据看板 link."""
    page.goto(f"{server}/editor/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#api-key", EDITOR["X-API-Key"])
    page.click("#key-form button")
    page.click("a.nav-link")
    page.wait_for_selector("body[data-loaded=true]")


def chart_rows(page: object, chart_id: str) -> int:
    return int(page.get_attribute(f"#{chart_id}", "data-rows") or 0)


def test_dashboard_charts_render_with_data_and_offer_csv(browser: object, server: str, screenshots: Path) -> None:
    context, page, errors = new_page(browser)
    open_dashboard(page, server)
    for chart_id in ("coverage-chart", "reach-chart", "experiments-chart", "models-chart"):
        assert page.get_attribute(f"#{chart_id}", "data-rendered") == "true", chart_id
        assert chart_rows(page, chart_id) > 0, chart_id
    for chart_id in ("coverage-chart", "reach-chart", "experiments-chart"):  # the tiny test models have no figures
        assert page.eval_on_selector(f"#{chart_id}", "n => n.querySelectorAll('svg path').length") > 3, chart_id
    assert chart_rows(page, "experiments-chart") == 2 and chart_rows(page, "models-chart") == 2
    assert page.text_content("#coverage-meta") == "在架内容 12 条"
    reach_lines = page.evaluate("echarts.getInstanceByDom(document.getElementById('reach-chart')).getOption().series")
    assert {s["name"] for s in reach_lines} == {"农民", "老年人", "匿名访客"}  # the A/B traffic is anonymous
    assert sum(v for s in reach_lines for v in s["data"]) == 42 + 120  # 2 audiences × 7 days × 3 items + A/B
    top = page.eval_on_selector_all("#top-table tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
    assert set(top) >= {"农民", "老年人"}
    verdicts = page.eval_on_selector_all("#experiments-table tbody tr", "rows => rows.map(r => r.cells[7].textContent)")
    assert verdicts == ["–", "显著"]  # 10 % vs 30 % CTR on 60 impressions each
    serving = page.eval_on_selector_all("#models-table tr.serving", "rows => rows.map(r => r.cells[0].textContent)")
    assert serving == ["v1"]
    page.select_option("#reach-metric", "ctr")
    assert chart_rows(page, "reach-chart") > 0
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#reach-panel button.csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "day,audience,channel,impressions,clicks,ctr" and len(text.splitlines()) > 7
    context.close()
    assert not errors, f"console errors: {errors}"


def test_dashboard_works_at_phone_width(browser: object, server: str, screenshots: Path) -> None:
    context, page, errors = new_page(browser, 390, 844)
    open_dashboard(page, server)
    assert chart_rows(page, "reach-chart") > 0
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "() => [...document.querySelectorAll('body *')].filter(n => n.getBoundingClientRect().right > 391)"
        ".filter(n => !n.closest('.table-wrap, .chart')).map(n => n.tagName + '#' + n.id + '.' + n.className)"
    )
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px): {wide[:5]}"
    chart_width = page.eval_on_selector("#coverage-chart", "n => n.getBoundingClientRect().width")
    assert 300 <= chart_width <= 390
    page.screenshot(path=str(screenshots / "dashboard-phone.png"), full_page=True)
    context.close()
    assert not errors, f"console errors: {errors}"


def test_widget_senior_mode_switches_and_is_remembered(browser: object, server: str, screenshots: Path) -> None:
    context, page, errors = new_page(browser)
    page.goto(f"{server}/examples/museum.html")
    page.wait_for_selector("#kepu-strip[data-kepu-ready=true] .kepu-card")
    assert page.query_selector(".kepu-strip.kepu-senior") is None
    assert page.query_selector(".kepu-card-reason") is not None
    normal_size = page.eval_on_selector(".kepu-card-title", "n => parseFloat(getComputedStyle(n).fontSize)")

    page.evaluate("KepuWidget.setSeniorMode(true)")  # the embedding page switches it
    page.wait_for_selector(".kepu-strip.kepu-senior")
    assert page.query_selector(".kepu-card-reason") is None  # fewer words: title only
    senior_size = page.eval_on_selector(".kepu-card-title", "n => parseFloat(getComputedStyle(n).fontSize)")
    assert senior_size >= 22 and senior_size > normal_size
    heights = page.eval_on_selector_all(
        ".kepu-card a, .kepu-strip button", "ns => ns.map(n => n.getBoundingClientRect().height)"
    )
    assert min(heights) >= 44  # tap targets
    assert page.get_attribute(".kepu-senior-toggle", "aria-pressed") == "true"
    assert page.evaluate("localStorage.getItem('kepu.seniorMode')") == "1"
    page.screenshot(path=str(screenshots / "museum-widget-senior.png"), full_page=True)

    page.reload()  # remembered on the next visit
    page.wait_for_selector(".kepu-strip.kepu-senior .kepu-card")
    page.click(".kepu-senior-toggle")  # the visitor switches back
    page.wait_for_selector(".kepu-strip:not(.kepu-senior) .kepu-card-reason")
    assert page.evaluate("localStorage.getItem('kepu.seniorMode')") == "0"
    context.close()
    assert not errors, f"console errors: {errors}"


def test_no_serious_or_critical_accessibility_violations(browser: object, server: str) -> None:
    context, page, _ = new_page(browser)
    open_dashboard(page, server)
    found = {"dashboard": blocking(axe_violations(page))}
    page.goto(f"{server}/editor/?audience=seniors&channel=web")
    page.wait_for_selector("#preview-list li.card")
    found["editor"] = blocking(axe_violations(page))
    for mode in ("0", "1"):
        page.goto(f"{server}/examples/museum.html")
        page.evaluate(f"localStorage.setItem('kepu.seniorMode', '{mode}')")
        page.reload()
        page.wait_for_selector("#kepu-strip[data-kepu-ready=true] .kepu-card")
        found[f"widget-senior={mode}"] = blocking(axe_violations(page, "#kepu-strip"))
    context.close()
    assert not any(found.values()), "\n".join(f"{page}: {v}" for page, vs in found.items() for v in vs)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kepu demo`'s store (shipped catalog, tagger, simulated traffic, trained model) behind uvicorn."""
    from api.demo import build_demo
    from content_catalog.settings import Settings
    from content_catalog.store import Store

    folder = tmp_path_factory.mktemp("demo")
    settings = Settings(var_dir=folder / "var")
    settings.var_dir.mkdir()
    with Store(settings.resolved_store_url) as store:
        build_demo(store, settings)
    env = {"KEPU_STORE_URL": settings.resolved_store_url, "KEPU_VAR_DIR": str(settings.var_dir)}
    with uvicorn_server(folder, **env) as base:
        yield base


@pytest.mark.slow
def test_dashboard_on_the_demo_store(browser: object, demo_server: str, screenshots: Path) -> None:
    """The real demo: every chart has data from the simulated traffic, no console errors, no serious
    or critical axe violations (long review lists there need keyboard scrolling, unlike the test catalog)."""
    context, page, errors = new_page(browser)
    open_dashboard(page, demo_server)
    rows = {c: chart_rows(page, c) for c in ("coverage-chart", "reach-chart", "models-chart")}
    assert rows["coverage-chart"] > 50 and rows["reach-chart"] > 100 and rows["models-chart"] == 1, rows
    assert int(page.text_content("#low-count")) > 0 and int(page.text_content("#expiring-count")) >= 0
    model_series = page.evaluate("echarts.getInstanceByDom(document.getElementById('models-chart')).getOption().series")
    assert {s["name"] for s in model_series} >= {"served_ndcg@10", "bare_model_ndcg@10", "popularity_ndcg@10"}
    assert blocking(axe_violations(page)) == []
    page.screenshot(path=str(screenshots / "dashboard-demo.png"), full_page=True)
    context.close()
    assert not errors, f"console errors: {errors}"
