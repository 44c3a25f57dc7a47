"""Dashboard aggregates on SQLite and PostgreSQL: coverage, review lists, reach per day, top items, experiments."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import create_engine, text

from content_catalog.schema import EventType, User
from content_catalog.store import Store
from content_catalog.store.stats import ANONYMOUS, ItemBrief, ReachRow, VariantCounts
from tests.store_fixtures import (  # noqa: F401
    T0,
    auto_tag,
    backend_fixture,
    make_event,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

DAY = timedelta(days=1)


def catalog(store: Store) -> None:
    store.upsert_items(
        [
            make_item("rice", title="稻麦两熟", topics=["agri_tech", "meteorology"], audiences=["farmers"]),
            make_item("garlic", title="太仓白蒜", topics=["agri_tech"], audiences=["farmers", "public"]),
            make_item("fall", title="防跌倒", topics=["health"], audiences=[auto_tag("seniors", 0.31)]),
            make_item("fraud", title="防骗", topics=["anti_fraud_rumor"], audiences=[auto_tag("seniors", 0.9)]),
            make_item("bare", title="未标注", topics=["ai"]),
            make_item("fair", title="科技节", topics=["ai"], audiences=["youth"], expires_at=T0 + 10 * DAY),
            make_item(
                "gone",
                title="已过期",
                topics=["ai"],
                audiences=["youth"],
                published_at=T0 - 9 * DAY,
                expires_at=T0 - DAY,
            ),
        ],
        actor="test",
    )


def test_catalog_coverage_counts_live_items_and_lists_what_to_review(store: Store) -> None:
    catalog(store)
    store.delete_item("garlic", actor="test")
    coverage = store.catalog_coverage(at=T0, expiring_within=timedelta(days=30), low_confidence_below=0.5)
    assert coverage.items == 5  # garlic deleted, gone expired
    assert coverage.cells == {
        ("farmers", "agri_tech"): 1,
        ("farmers", "meteorology"): 1,
        ("seniors", "health"): 1,
        ("seniors", "anti_fraud_rumor"): 1,
        ("youth", "ai"): 1,
    }
    assert (coverage.untagged_count, coverage.untagged) == (1, [ItemBrief("bare", "未标注")])
    assert coverage.expiring_count == 1 and coverage.expiring[0].id == "fair"
    assert coverage.expiring[0].value == (T0 + 10 * DAY).isoformat()
    # Only the auto-tagged item whose best score is under the threshold; editor-tagged items never.
    assert (coverage.low_confidence_count, coverage.low_confidence) == (1, [ItemBrief("fall", "防跌倒", 0.31)])
    # An editor confirming the tag takes it off the review list.
    store.set_audiences("fall", ["seniors"], actor="ed", source="editor")
    assert store.catalog_coverage(at=T0).low_confidence_count == 0
    # A later clock: the fair has expired and leaves both the heatmap and the expiring list.
    later = store.catalog_coverage(at=T0 + 11 * DAY)
    assert ("youth", "ai") not in later.cells and later.expiring_count == 0


def traffic(store: Store) -> None:
    store.upsert_user(User(id="f1", audiences=["farmers"]))
    store.upsert_user(User(id="s1", audiences=["seniors", "public"], sessions=["sess-linked"]))
    events = []
    for n, (user, session, item, kind, channel, day) in enumerate(
        [
            ("f1", None, "rice", EventType.IMPRESSION, "wechat", 0),
            ("f1", None, "rice", EventType.CLICK, "wechat", 0),
            ("f1", None, "garlic", EventType.IMPRESSION, "wechat", 0),
            ("f1", None, "garlic", EventType.IMPRESSION, "wechat", 1),
            ("f1", None, "rice", EventType.VIEW, "wechat", 1),  # not reach: ignored
            (None, "sess-linked", "fraud", EventType.IMPRESSION, "web", 1),
            (None, "sess-linked", "fraud", EventType.CLICK, "web", 1),
            (None, "sess-anon", "fall", EventType.IMPRESSION, "kiosk", 1),
            ("f1", None, "rice", EventType.CLICK, "wechat", 9),  # outside the window
        ]
    ):
        events.append(
            make_event(
                f"e{n}", item_id=item, user_id=user, session_id=session, type=kind, channel=channel, minutes=day * 1440
            )
        )
    store.add_events(events)


def test_reach_by_day_groups_by_audience_channel_and_resolves_sessions(store: Store) -> None:
    catalog(store)
    traffic(store)
    day0, day1 = T0.date().isoformat(), (T0 + DAY).date().isoformat()
    assert store.reach_by_day(T0, T0 + 2 * DAY) == [
        ReachRow(day0, "farmers", "wechat", 2, 1),
        ReachRow(day1, ANONYMOUS, "kiosk", 1, 0),
        ReachRow(day1, "farmers", "wechat", 1, 0),
        ReachRow(day1, "public", "web", 1, 1),  # the linked session counts as s1, in both audiences
        ReachRow(day1, "seniors", "web", 1, 1),
    ]
    assert store.reach_by_day(T0 + 20 * DAY, T0 + 21 * DAY) == []


def test_top_items_by_audience_ranks_by_clicks_then_impressions(store: Store) -> None:
    catalog(store)
    traffic(store)
    top = store.top_items_by_audience(T0, T0 + 2 * DAY, k=5)
    assert [(t.id, t.title, t.impressions, t.clicks) for t in top["farmers"]] == [
        ("rice", "稻麦两熟", 1, 1),
        ("garlic", "太仓白蒜", 2, 0),
    ]
    assert [t.id for t in top["seniors"]] == ["fraud"] and [t.id for t in top[ANONYMOUS]] == ["fall"]
    assert [t.id for t in store.top_items_by_audience(T0, T0 + 2 * DAY, k=1)["farmers"]] == ["rice"]


def test_experiment_counts_per_variant_by_label(store: Store) -> None:
    labelled = [
        ("ab/control", EventType.IMPRESSION, 0),
        ("ab/control", EventType.IMPRESSION, 1),
        ("ab/control", EventType.CLICK, 2),
        ("ab/diverse", EventType.IMPRESSION, 3),
        ("ab/diverse", EventType.VIEW, 4),
        ("abc/control", EventType.IMPRESSION, 5),  # another experiment whose name shares a prefix
        ("ab/control", EventType.CLICK, -10),  # before `since`
    ]
    store.add_events(
        [make_event(f"x{n}", experiment=label, type=kind, minutes=m) for n, (label, kind, m) in enumerate(labelled)]
    )
    counts = store.experiment_counts("ab", ["control", "diverse", "empty"], since=T0)
    assert counts == {"control": VariantCounts(2, 1), "diverse": VariantCounts(1, 0), "empty": VariantCounts(0, 0)}
    assert store.experiment_counts("ab", ["control"])["control"] == VariantCounts(2, 2)


def test_event_aggregates_are_served_by_the_dashboard_indexes(store: Store, store_url: str, backend: str) -> None:
    """EXPLAIN shows the events read through an index, never a table scan. PostgreSQL's planner prefers a
    sequential scan on a tiny table, so there the plan is taken with sequential and bitmap scans disabled,
    on statistics gathered from this test's rows: the session's shared database is only truncated between
    tests, and column statistics left by earlier tests once made CI's planner pick a bitmap heap scan.
    `bench/stats_queries.py` shows the plans on a million events."""
    traffic(store)
    kwargs: dict[str, object] = {}
    if backend == "postgres":
        engine = create_engine(store_url)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE events, users, user_sessions"))
        engine.dispose()
        kwargs = {"connect_args": {"options": "-c enable_seqscan=off -c enable_bitmapscan=off"}}
    with Store(store_url, migrate=False, **kwargs) as planned:
        reach = "\n".join(planned.explain(planned.reach_query(T0, T0 + DAY)))
        top = "\n".join(planned.explain(planned.top_items_query(T0, T0 + DAY)))
        experiment = "\n".join(planned.explain(planned.experiment_query(["ab/control"], T0)))
    assert "ix_events_experiment_type" in experiment, experiment
    if backend == "sqlite":
        for plan in (reach, top):  # the events table itself is never read
            assert "SEARCH events USING COVERING INDEX ix_events_stats" in plan, plan
    else:
        for plan in (reach, top):
            assert "Seq Scan on events" not in plan and re.search(
                r"Index (Only )?Scan using ix_events_\w+ on events", plan
            )
