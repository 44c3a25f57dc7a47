"""The text the audience tagger reads for an item: its words plus the catalog fields that hint at audience.

`Item.text` holds title, summary and body; the topics, format and publishing organisation are strong
audience cues too ("农业农村局", "安全生产", "课程"), so they are appended as Chinese labels.
"""

from __future__ import annotations

from content_catalog.schema import Item
from content_catalog.taxonomy import FORMATS, TOPICS


def tagging_text(item: Item) -> str:
    """Title, summary, body start, then topic/format/source labels, one per line."""
    parts = [item.text]
    if item.topics:
        parts.append("主题：" + "、".join(TOPICS[t] for t in item.topics))
    parts.append("形式：" + FORMATS[item.format])
    if item.source_org:
        parts.append("来源：" + item.source_org)
    return "\n".join(parts)
