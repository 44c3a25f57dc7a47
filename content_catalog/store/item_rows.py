"""Conversion between the `Item` schema and `items` rows (content fields vs. the audience-tag layers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Text, type_coerce

from content_catalog.schema import AudienceTag, Item, TagSource
from content_catalog.store.audience_merge import tags_from_json
from content_catalog.store.models import ItemRow
from content_catalog.store.types import as_utc

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


_TIMES = ("published_at", "expires_at")
_PLAIN = ("id", *(name for name in CONTENT_FIELDS if name not in ("topics", *_TIMES)))
ITEM_COLUMNS = (
    *(getattr(ItemRow, name) for name in _PLAIN),
    *(type_coerce(getattr(ItemRow, name), Text).label(name) for name in _TIMES),
    type_coerce(ItemRow.topics, Text).label("topics_json"),
    type_coerce(ItemRow.audiences, Text).label("audiences_json"),
)
"""The columns an `Item` is made of, for bulk reads: no tag layers, keys or bookkeeping; the two JSON
columns and the two timestamps as text (decoded by orjson and `datetime.fromisoformat` in `item_from_columns`,
a fraction of SQLAlchemy's per-value processors; a driver that decodes them itself, as psycopg does, hands
over lists and datetimes, which are taken as they are)."""

_ITEM_FIELDS = (*_PLAIN, *_TIMES, "topics", "audiences")
_ITEM_ORDER = tuple(Item.model_fields)
_TAG_FIELDS = ("audience", "score", "source", "reason")
_SOURCES = {source.value: source for source in TagSource}
_set = object.__setattr__
if set(_ITEM_FIELDS) != set(Item.model_fields) or set(_TAG_FIELDS) != set(AudienceTag.model_fields):
    raise ImportError("item_rows: Item/AudienceTag fields changed; update item_from_columns")  # pragma: no cover


def item_from_columns(values: Sequence[Any]) -> Item:
    """An `Item` from one row of `ITEM_COLUMNS`, WITHOUT re-validation: for bulk reads of the whole catalog.

    Every row was validated by `Item` when it was written (`upsert_items`), and the column types already
    give back what validation would (aware UTC datetimes, stripped text, known tags), so re-validating 100k
    rows at start-up (~40 % of reading them, with the ORM's row objects another ~30 %) buys nothing. The
    instance is assembled as `model_construct` does, minus its per-field default lookups (every field is
    given). `tests/test_store_items.py` checks the result equals `item_from_row`'s, field by field; reads
    of single items keep `item_from_row`'s re-validation."""
    data = dict(zip(_PLAIN, values, strict=False))
    data["published_at"] = _time(values[-4])
    data["expires_at"] = _time(values[-3])
    data["topics"] = list(_json(values[-2]) or [])
    data["audiences"] = [_tag(t) for t in _json(values[-1]) or []]
    if data["duration_minutes"] is not None:
        data["duration_minutes"] = float(data["duration_minutes"])
    return _built(Item, {name: data[name] for name in _ITEM_ORDER})  # validation's order: same dumps and repr


def _time(raw: Any) -> datetime | None:
    """A stored timestamp as the aware UTC datetime `UTCDateTime` reads (SQLite keeps naive UTC text)."""
    if raw is None:
        return None
    return as_utc(datetime.fromisoformat(raw) if isinstance(raw, str) else raw)


def _json(raw: Any) -> Any:
    return orjson.loads(raw) if isinstance(raw, str | bytes) else raw


def _tag(raw: Mapping[str, Any]) -> AudienceTag:
    """A stored tag dict (`tags_to_json`) as the `AudienceTag` validation would give."""
    data = {
        "audience": raw["audience"],
        "score": float(raw.get("score", 1.0)),
        "source": _SOURCES[raw.get("source", "editor")],
        "reason": raw.get("reason"),
    }
    return _built(AudienceTag, data)


def _built(cls: type[Any], data: dict[str, Any]) -> Any:
    """`cls.model_construct(**data)` for a `data` that names every field (what `model_construct` sets)."""
    instance = cls.__new__(cls)
    _set(instance, "__dict__", data)
    _set(instance, "__pydantic_fields_set__", set(data))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
