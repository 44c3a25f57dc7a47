"""Items in the store on SQLite and PostgreSQL: upsert, audience-tag merging and history, atomicity,
filters, soft delete, stats, catalog version and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from content_catalog.schema import AudienceTag, TagSource
from content_catalog.store import ConflictError, NotFoundError, Store, UpsertResult
from tests.store_fixtures import (  # noqa: F401
    T0,
    auto_tag,
    backend_fixture,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)


def _audiences(store: Store, item_id: str) -> list[tuple[str, str]]:
    item = store.get_item(item_id)
    assert item is not None
    return [(t.audience, t.source.value) for t in item.audiences]


def test_upsert_creates_then_updates_and_skips_identical(store: Store) -> None:
    first = store.upsert_items([make_item("a"), make_item("b")])
    assert first == UpsertResult(created=2, updated=0, unchanged=0)
    version = store.catalog_version()

    second = store.upsert_items([make_item("a", title="新标题"), make_item("b")])
    assert second == UpsertResult(created=0, updated=1, unchanged=1)
    got = store.get_item("a")
    assert got is not None and got.title == "新标题"
    assert store.count_items() == 2
    assert store.catalog_version() != version

    version = store.catalog_version()
    assert store.upsert_items([make_item("a", title="新标题"), make_item("b")]).unchanged == 2
    assert store.catalog_version() == version, "identical re-ingest must not invalidate indexes"


def test_item_round_trip_keeps_every_field(store: Store) -> None:
    item = make_item(
        "full-1",
        body="正文" * 50,
        topics=["agri_tech", "smart_agriculture"],
        format="video",
        audiences=[AudienceTag(audience="farmers", score=0.9, reason="编辑指定")],
        source_org="市农业农村局",
        town="沙溪镇",
        expires_at=T0 + timedelta(days=30),
        verified=False,
        reading_level="easy",
        duration_minutes=12.5,
        url="https://example.org/v/1",
        cover_url="/static/c.jpg",
    )
    store.upsert_items([item, make_item("bare-1", duration_minutes=3)])
    assert store.get_item("full-1") == item
    assert store.get_items(["missing", "full-1"]) == [item]
    bulk = list(store.iter_items())  # the bulk read builds Items without re-validating: same fields, same types
    assert bulk == [store.get_item("bare-1"), item]
    assert [repr(it) for it in bulk] == [repr(store.get_item(it.id)) for it in bulk]
    for read in bulk:
        validated = store.get_item(read.id)
        assert validated is not None and read.model_dump() == validated.model_dump()
        assert {name: type(value) for name, value in read} == {name: type(value) for name, value in validated}
        assert read.published_at.tzinfo is not None and read.model_fields_set == validated.model_fields_set


def test_batch_failing_in_the_database_writes_nothing(store: Store) -> None:
    store.upsert_items([make_item("keep", title="原标题", audiences=["seniors"])])
    version = store.catalog_version()
    # model_copy skips validation, so the NOT NULL title reaches the database and fails there, after
    # the new row and the update earlier in the same batch were already sent.
    broken = make_item("broken").model_copy(update={"title": None})
    with pytest.raises(IntegrityError):
        store.upsert_items([make_item("new-1", audiences=["youth"]), make_item("keep", title="改了"), broken])
    assert store.get_item("new-1") is None
    assert store.get_item("broken") is None
    kept = store.get_item("keep")
    assert kept is not None and kept.title == "原标题"
    assert store.catalog_version() == version
    assert store.audience_history("new-1") == []
    assert [e.action for e in store.audit_log()] == ["items.upsert"]


def test_duplicate_ids_in_one_batch_are_rejected(store: Store) -> None:
    with pytest.raises(ConflictError, match="new-2"):
        store.upsert_items([make_item("new-1"), make_item("new-2"), make_item("new-2")])
    assert store.count_items() == 0


def test_reingest_records_audience_changes_in_history(store: Store) -> None:
    store.upsert_items([make_item("a", audiences=["farmers"])], actor="feed-1")
    store.upsert_items([make_item("a", audiences=["farmers", "seniors"])], actor="feed-2")
    store.upsert_items([make_item("a", audiences=["farmers", "seniors"])], actor="feed-3")  # no change
    history = store.audience_history("a")
    assert [(h.actor, [t.audience for t in h.old], [t.audience for t in h.new]) for h in history] == [
        ("feed-1", [], ["farmers"]),
        ("feed-2", ["farmers"], ["farmers", "seniors"]),
    ]
    assert all(h.source == "editor" and h.at.tzinfo is not None for h in history)


def test_editor_override_survives_ingests_and_auto_tags(store: Store) -> None:
    store.upsert_items([make_item("a", audiences=[auto_tag("farmers")])])
    assert _audiences(store, "a") == [("farmers", "auto")]

    store.set_audiences("a", ["seniors"], actor="editor-li", source="editor")
    assert _audiences(store, "a") == [("seniors", "editor")]

    # An ingest with no editor tags, one with different editor tags, and a tagger run: override stays.
    store.upsert_items([make_item("a", title="改版", audiences=[auto_tag("youth")])])
    store.upsert_items([make_item("a", audiences=["workers"])])
    store.set_audiences("a", [auto_tag("officials")], actor="tagger", source="auto")
    assert _audiences(store, "a") == [("seniors", "editor")]

    # Only an editor changes it: clearing the override falls back to the feed's editor tags.
    store.set_audiences("a", [], actor="editor-li", source="editor")
    assert _audiences(store, "a") == [("workers", "editor")]
    sources = [h.source for h in store.audience_history("a")]
    assert sources == ["auto", "editor", "editor"]
    assert store.audit_log(target="item:a")[0].actor == "editor-li"


def test_ingest_without_editor_tags_keeps_earlier_editor_tags(store: Store) -> None:
    store.upsert_items([make_item("a", audiences=["farmers"])])
    store.upsert_items([make_item("a", title="新版", audiences=[])])
    assert _audiences(store, "a") == [("farmers", "editor")]
    store.set_audiences("a", [AudienceTag(audience="youth", score=0.8)], actor="tagger", source="auto")
    assert _audiences(store, "a") == [("farmers", "editor")], "auto tags never replace editor tags"


def test_auto_tags_show_when_no_editor_tags_exist(store: Store) -> None:
    store.upsert_items([make_item("a")])
    tags = store.set_audiences("a", [auto_tag("seniors", 0.8), auto_tag("public", 0.4)], "tagger", "auto")
    assert [(t.audience, t.source.value, t.score) for t in tags] == [
        ("public", "auto", 0.4),
        ("seniors", "auto", 0.8),
    ]
    assert next(store.iter_items()).audiences == tags == store.get_item("a").audiences  # type: ignore[union-attr]
    assert all(type(t.source) is TagSource for t in next(store.iter_items()).audiences)
    assert [i.id for i in store.list_items(audience="seniors")] == ["a"]


def test_set_audiences_rejects_unknown_items_and_repeated_audiences(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.set_audiences("nope", ["seniors"], actor="e")
    store.upsert_items([make_item("a")])
    with pytest.raises(ValueError, match="twice"):
        store.set_audiences("a", ["seniors", "seniors"], actor="e")


def test_list_items_filters(store: Store) -> None:
    now = T0 + timedelta(days=10)
    store.upsert_items(
        [
            make_item("old", published_at=T0, expires_at=T0 + timedelta(days=1), audiences=["farmers"]),
            make_item("live", published_at=T0 + timedelta(days=2), topics=["ai", "health"], format="video"),
            make_item("future", published_at=T0 + timedelta(days=20), audiences=["farmers", "youth"]),
            make_item("unverified", published_at=T0 + timedelta(days=3), verified=False, audiences=["youth"]),
        ]
    )
    assert [i.id for i in store.list_items()] == ["future", "unverified", "live", "old"]
    assert [i.id for i in store.list_items(audience="farmers")] == ["future", "old"]
    assert [i.id for i in store.list_items(topic="ai")] == ["live"]
    assert [i.id for i in store.list_items(format="video")] == ["live"]
    assert [i.id for i in store.list_items(active_at=now)] == ["unverified", "live"]
    assert [i.id for i in store.list_items(active_at=now, include_unverified=False)] == ["live"]
    assert [i.id for i in store.list_items(limit=2, offset=1)] == ["unverified", "live"]
    with pytest.raises(ValueError, match="audience"):
        store.list_items(audience="aliens")


def test_soft_delete_hides_item_and_reingest_revives_it(store: Store) -> None:
    store.upsert_items([make_item("a"), make_item("b")])
    version = store.catalog_version()
    assert store.delete_item("a", actor="editor-wang") is True
    assert store.delete_item("a", actor="editor-wang") is False
    assert store.delete_item("never", actor="editor-wang") is False
    assert store.get_item("a") is None
    assert [i.id for i in store.iter_items()] == ["b"]
    assert store.count_items() == 1 and store.count_items(include_deleted=True) == 2
    assert store.catalog_version() != version
    assert store.upsert_items([make_item("a")]).created == 1
    assert store.get_item("a") is not None


def test_iter_items_pages_through_everything(store: Store) -> None:
    store.upsert_items([make_item(f"i{n:03d}") for n in range(25)])
    assert [i.id for i in store.iter_items(batch_size=7)] == [f"i{n:03d}" for n in range(25)]


def test_catalog_stats_counts(store: Store) -> None:
    store.upsert_items(
        [
            make_item("a", audiences=["farmers", "seniors"], topics=["agri_tech"]),
            make_item("b", audiences=[auto_tag("youth")], format="video"),
            make_item("c", expires_at=T0 + timedelta(hours=1), verified=False),
            make_item("d", published_at=datetime(2999, 1, 1, tzinfo=UTC)),
        ]
    )
    stats = store.catalog_stats(at=T0 + timedelta(days=1))
    assert stats["items"] == 4
    assert stats["by_audience"]["farmers"] == 1 and stats["by_audience"]["youth"] == 1
    assert stats["by_topic"]["agri_tech"] == 1 and stats["by_topic"]["health"] == 3
    assert stats["by_format"] == {
        "article": 3,
        "video": 1,
        "course": 0,
        "activity": 0,
        "exhibit": 0,
        "live": 0,
    }
    assert (stats["untagged"], stats["editor_tagged"], stats["auto_tagged"]) == (2, 1, 1)
    assert (stats["active"], stats["expired"], stats["scheduled"], stats["unverified"]) == (2, 1, 1, 1)


def test_datetimes_round_trip_as_aware_utc(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    published = datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=shanghai)
    store.upsert_items([make_item("tz", published_at=published, expires_at=published + timedelta(days=1))])
    got = store.get_item("tz")
    assert got is not None
    assert got.published_at == published
    assert got.published_at.utcoffset() == timedelta(0)
    assert got.published_at.hour == 1 and got.published_at.microsecond == 123456
    # Filtering compares instants, not wall-clock text: 01:30 UTC is 09:30 in Shanghai.
    just_after = datetime(2025, 6, 1, 1, 31, tzinfo=UTC)
    assert [i.id for i in store.list_items(active_at=just_after)] == ["tz"]
    assert store.list_items(active_at=datetime(2025, 6, 1, 9, 29, tzinfo=shanghai)) == []
    if store.dialect == "postgresql":
        # A connection whose session time zone is not UTC still reads aware UTC values.
        with Store(store.url, connect_args={"options": "-c timezone=Asia/Shanghai"}) as other:
            seen = other.get_item("tz")
            assert seen is not None and seen.published_at == published
            assert seen.published_at.utcoffset() == timedelta(0)
