"""Conversion between the `Item` schema and `items` rows (content fields vs. the audience-tag layers)."""

from __future__ import annotations

from typing import Any

from content_catalog.schema import Item
from content_catalog.store.audience_merge import tags_from_json
from content_catalog.store.models import ItemRow

CONTENT_FIELDS: tuple[str, ...] = (
    "title",
    "summary",
    "body",
    "topics",
    "format",
    "source_org",
    "town",
    "published_at",
    "expires_at",
    "verified",
    "reading_level",
    "duration_minutes",
    "url",
    "cover_url",
)
"""Item fields copied 1:1 into same-named columns (everything except id and audiences)."""


def topic_keys(topics: list[str]) -> str:
    """ ",a,b," — topics in a form a portable `LIKE '%,a,%'` filter can match."""
    return "," + "".join(f"{t}," for t in topics)


def content_values(item: Item) -> dict[str, Any]:
    """Column values for an item's content fields (no audience layers)."""
    values = {name: getattr(item, name) for name in CONTENT_FIELDS}
    values["topics"] = list(item.topics)
    values["topic_keys"] = topic_keys(item.topics)
    return values


def row_content(row: ItemRow) -> dict[str, Any]:
    """The same view of a stored row, to tell whether an upsert changes anything."""
    values = {name: getattr(row, name) for name in CONTENT_FIELDS}
    values["topics"] = list(row.topics or [])
    values["topic_keys"] = row.topic_keys
    return values


def item_from_row(row: ItemRow) -> Item:
    """The Item readers see: content fields plus the effective audience tags."""
    data: dict[str, Any] = {name: getattr(row, name) for name in CONTENT_FIELDS}
    data["id"] = row.id
    data["topics"] = list(row.topics or [])
    data["audiences"] = tags_from_json(row.audiences)
    # Re-validated on the way out too, so a row edited by hand in the database cannot leak a bad Item.
    return Item.model_validate(data)
