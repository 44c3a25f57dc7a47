"""Screenshots of the editor page, the dashboard and the museum widget on a running `kepu demo` (the real
demo catalog), plus the axe-core accessibility report of each page.

Uses Debian's Chromium through Playwright (never `playwright install`). The editor key is read from the
demo's `demo_api_keys.json`, typed into the page like an editor would, then:
seniors preview → demo-editor-seniors.png, farmers vs youth side by side → demo-editor-compare.png,
`/examples/museum.html` → demo-museum.png and, in the 适老化 mode, demo-museum-senior.png;
the dashboard at desktop and phone width → demo-dashboard.png, demo-dashboard-phone.png.
Finally it runs the vendored axe-core (tests/vendor/axe-core) over every page and prints a Markdown table
of the violations by impact (the one in docs/accessibility.md); it exits non-zero on serious or critical ones.

    .venv/bin/python bench/demo_screenshots.py --base-url http://127.0.0.1:8791 \
        --keys-file /tmp/kepu-demo-report/demo_api_keys.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.axe_support (the vendored axe-core runner)

from tests.axe_support import axe_violations, blocking  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def admin_key(keys_file: Path) -> str:
    """The admin key `kepu demo` stored (a {key: role} JSON object)."""
    keys = json.loads(keys_file.read_text(encoding="utf-8"))
    key = next((k for k, role in keys.items() if role == "admin"), None)
    if key is None:
        raise SystemExit(f"{keys_file}: no key with role 'admin'")
    return key


def card_count(page: Page, list_id: str) -> int:
    return page.eval_on_selector_all(f"#{list_id} li.card", "cards => cards.length")


def refresh_and_wait(page: Page, lists: tuple[str, ...]) -> None:
    """Submit the preview form and wait until every list has been re-rendered with cards."""
    with page.expect_response(lambda r: "/preview" in r.url and r.ok):
        page.click("#preview-form button[type=submit]")
    for list_id in lists:
        page.wait_for_selector(f"#{list_id} li.card")
    page.wait_for_load_state("networkidle")


def editor_seniors(page: Page, base_url: str, key: str, k: int, out: Path) -> int:
    page.goto(f"{base_url}/editor/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.wait_for_selector("#key-status:has-text('已保存')")
    page.select_option("#audience", "seniors")
    page.select_option("#channel", "web")
    page.fill("#k", str(k))
    refresh_and_wait(page, ("preview-list",))
    page.screenshot(path=str(out), full_page=True)
    return card_count(page, "preview-list")


def editor_compare(page: Page, k: int, out: Path) -> tuple[int, int]:
    page.select_option("#audience", "farmers")
    page.fill("#k", str(k))
    page.check("#compare-toggle")
    page.wait_for_selector("#column-b:not([hidden])")
    page.select_option("#audience-b", "youth")
    refresh_and_wait(page, ("preview-list", "preview-list-b"))
    page.screenshot(path=str(out), full_page=True)
    return card_count(page, "preview-list"), card_count(page, "preview-list-b")


def museum(page: Page, base_url: str, out: Path) -> int:
    page.goto(f"{base_url}/examples/museum.html")
    page.wait_for_selector("#kepu-strip li.kepu-card")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out), full_page=True)
    return page.eval_on_selector_all("#kepu-strip li.kepu-card", "cards => cards.length")


def museum_senior(page: Page, base_url: str, out: Path) -> int:
    """The museum page with the widget switched to the 适老化 mode by the embedding page's call."""
    page.goto(f"{base_url}/examples/museum.html")
    page.wait_for_selector("#kepu-strip li.kepu-card")
    page.evaluate("KepuWidget.setSeniorMode(true)")
    page.wait_for_selector(".kepu-strip.kepu-senior li.kepu-card")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out), full_page=True)
    cards = page.eval_on_selector_all(".kepu-strip.kepu-senior li.kepu-card", "cards => cards.length")
    page.evaluate("KepuWidget.setSeniorMode(false)")
    return cards


def dashboard(page: Page, base_url: str, key: str, out: Path) -> dict[str, int]:
    """The dashboard with every chart drawn; returns the number of data rows behind each chart."""
    page.goto(f"{base_url}/editor/dashboard.html")
    page.wait_for_selector("body[data-ready=true]")
    if page.input_value("#api-key") != key:
        page.fill("#api-key", key)
        page.click("#key-form button")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out), full_page=True)
    charts = ("coverage-chart", "reach-chart", "experiments-chart", "models-chart")
    return {c: int(page.get_attribute(f"#{c}", "data-rows") or 0) for c in charts}


def dashboard_phone(browser: Browser, base_url: str, key: str, out: Path, errors: list[str]) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/editor/")
    page.evaluate(f"localStorage.setItem('kepu.editor.apiKey', {json.dumps(key)})")
    dashboard(page, base_url, key, out)
    context.close()


def accessibility(page: Page, base_url: str) -> dict[str, list[dict]]:
    """axe-core violations (every impact) of the editor page, the dashboard and the widget in both modes."""
    found: dict[str, list[dict]] = {}
    page.goto(f"{base_url}/editor/?audience=seniors&channel=web")
    page.wait_for_selector("#preview-list li.card")
    found["编辑工作台 /editor/"] = axe_violations(page)
    page.goto(f"{base_url}/editor/dashboard.html")
    page.wait_for_selector("body[data-loaded=true]")
    found["数据看板 /editor/dashboard.html"] = axe_violations(page)
    for mode, name in (("0", "标准模式"), ("1", "适老化模式")):
        page.goto(f"{base_url}/examples/museum.html")
        page.evaluate(f"localStorage.setItem('kepu.seniorMode', '{mode}')")
        page.reload()
        page.wait_for_selector("#kepu-strip li.kepu-card")
        found[f"推荐栏 widget（{name}）"] = axe_violations(page, "#kepu-strip")
    page.evaluate("localStorage.removeItem('kepu.seniorMode')")
    return found


def print_accessibility(found: dict[str, list[dict]]) -> None:
    print("\n| page | critical | serious | moderate | minor | rules |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for page_name, violations in found.items():
        impacts = Counter(v["impact"] for v in violations)
        rules = ", ".join(f"{v['id']} ({v['impact']}, {v['nodes']} nodes)" for v in violations) or "–"
        counts = " | ".join(str(impacts.get(i, 0)) for i in ("critical", "serious", "moderate", "minor"))
        print(f"| {page_name} | {counts} | {rules} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8791")
    parser.add_argument("--keys-file", type=Path, default=Path("/tmp/kepu-demo-report/demo_api_keys.json"))
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--k", type=int, default=8, help="cards per preview column")
    args = parser.parse_args(argv)

    key = admin_key(args.keys_file)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        seniors = editor_seniors(page, args.base_url, key, args.k, args.out_dir / "demo-editor-seniors.png")
        farmers, youth = editor_compare(page, args.k, args.out_dir / "demo-editor-compare.png")
        strip = museum(page, args.base_url, args.out_dir / "demo-museum.png")
        senior = museum_senior(page, args.base_url, args.out_dir / "demo-museum-senior.png")
        rows = dashboard(page, args.base_url, key, args.out_dir / "demo-dashboard.png")
        dashboard_phone(browser, args.base_url, key, args.out_dir / "demo-dashboard-phone.png", errors)
        found = accessibility(page, args.base_url)
        browser.close()
    print(f"seniors cards {seniors}; compare farmers {farmers} / youth {youth}; museum strip {strip}")
    print(f"museum strip in the seniors' mode {senior}; dashboard rows per chart {rows}")
    print_accessibility(found)
    if errors:
        raise SystemExit(f"JavaScript errors on the pages: {errors}")
    serious = {name: blocking(v) for name, v in found.items() if blocking(v)}
    if serious:
        raise SystemExit(f"serious or critical accessibility violations: {serious}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
