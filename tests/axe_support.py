"""Run the vendored axe-core (tests/vendor/axe-core, from the npm registry) in a Playwright page.

Used by the browser tests (which fail on serious or critical violations) and by
`bench/demo_screenshots.py` (which prints the report in docs/accessibility.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async (context) => {
  const result = await axe.run(context || document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
    targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""


def axe_violations(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """Every axe violation on the page (or inside the CSS selector `context`), with its impact."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(_RUN, context)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serious and critical ones (what must be zero)."""
    return [v for v in violations if v["impact"] in BLOCKING]
