"""The shipped demo catalog: hand-written Chinese science items for a city science-popularization office.

The JSONL files under `content_catalog/demo/` are package data, so an installed Kepu can build its demo
store without any download.
"""

from __future__ import annotations

import json
from pathlib import Path

from content_catalog.schema import Item

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def demo_catalog_paths() -> list[Path]:
    """The demo catalog's JSONL files, in a stable order."""
    return sorted(DEMO_DIR.glob("items_*.jsonl"))


def load_demo_items() -> list[Item]:
    """Every demo item, validated (a broken shipped line is a bug, so it raises with file and line)."""
    items: list[Item] = []
    for path in demo_catalog_paths():
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    items.append(Item.model_validate(json.loads(line)))
                except ValueError as exc:
                    raise ValueError(f"{path}:{line_no}: {exc}") from exc
    return items
