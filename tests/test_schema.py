"""The item/event/user schemas reject bad values with the field named and normalise what they accept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from content_catalog.schema import Event, Item, TagSource, User


def _fields(err: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in err.errors()}


def test_item_accepts_shorthand_audiences_and_topic_string() -> None:
    item = Item(id="a-1", title="水稻稻飞虱防治", topics="agri_tech; ecology", audiences=["farmers"])
    assert item.topics == ["agri_tech", "ecology"]
    assert item.audiences[0].audience == "farmers"
    assert item.audiences[0].source == TagSource.EDITOR
    assert item.editor_audiences == ["farmers"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"topics": ["astrology"]}, "topics"),
        ({"format": "podcast"}, "format"),
        ({"audiences": ["aliens"]}, "audiences.0.audience"),
        ({"colour": "red"}, "colour"),
        ({"url": "ftp://x"}, "url"),
        ({"id": "bad id with spaces"}, "id"),
        ({"title": ""}, "title"),
    ],
)
def test_item_rejects_bad_values_naming_the_field(payload: dict, field: str) -> None:
    base = {"id": "a-1", "title": "标题"}
    with pytest.raises(ValidationError) as info:
        Item.model_validate(base | payload)
    assert field in _fields(info.value)


def test_item_expiry_must_follow_publication_and_activity_window() -> None:
    with pytest.raises(ValidationError):
        Item(id="x", title="t", published_at="2026-05-01T00:00:00", expires_at="2026-04-01T00:00:00")
    item = Item(id="x", title="t", published_at="2026-05-01T00:00:00+08:00", expires_at="2026-06-01T00:00:00")
    assert item.published_at.tzinfo is not None
    assert item.is_active(datetime(2026, 5, 15, tzinfo=UTC))
    assert not item.is_active(datetime(2026, 6, 2, tzinfo=UTC))
    assert not item.is_active(datetime(2026, 4, 30, tzinfo=UTC))


def test_event_needs_an_actor_and_dwell_seconds() -> None:
    with pytest.raises(ValidationError):
        Event(event_id="e1", item_id="a", type="view")
    with pytest.raises(ValidationError):
        Event(event_id="e1", user_id="u", item_id="a", type="dwell")
    event = Event(event_id="e1", session_id="s-1", item_id="a", type="dwell", dwell_seconds=30)
    assert event.timestamp.tzinfo is not None


def test_user_rejects_unknown_audience_and_topic() -> None:
    with pytest.raises(ValidationError) as info:
        User(id="u1", audiences=["seniors", "martians"], interests=["health"])
    assert "audiences" in _fields(info.value)
    with pytest.raises(ValidationError) as info:
        User(id="u1", interests=["cooking"])
    assert "interests" in _fields(info.value)
