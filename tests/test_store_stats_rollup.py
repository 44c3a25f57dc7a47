"""The dashboard's daily roll-up answers exactly what the live query answers, on SQLite and PostgreSQL,
and recounts only the days a write changed (late events, erasure, purge, audiences, session links)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from content_catalog.schema import Event, EventType, User
from content_catalog.store import Store
from content_catalog.store.models import StatsItemsDailyRow, StatsReachDailyRow
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    make_event,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_url_fixture,
)

DAY = timedelta(days=1)
START = T0.replace(hour=0)  # midnight UTC of day 0
AUDIENCE_SETS = [["farmers"], ["seniors", "public"], ["youth"], [], ["public", "seniors"], ["workers"]]
CHANNELS = ["web", "wechat", "kiosk", None]
KINDS = [EventType.IMPRESSION, EventType.IMPRESSION, EventType.IMPRESSION, EventType.CLICK, EventType.VIEW]


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock(START + 10 * DAY + timedelta(hours=15))  # day 10, mid-afternoon: days 0-9 are closed


@pytest.fixture(name="store")
def store_fixture(store_url: str, clock: Clock) -> Iterator[Store]:
    opened = Store(store_url, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


def random_events(rng: random.Random, prefix: str, n: int, days: tuple[int, int]) -> list[Event]:
    """Deterministic mixed traffic: users with and without profiles, linked and anonymous sessions."""
    events = []
    for i in range(n):
        who = rng.randrange(12)
        user = f"u{who}" if who < 9 else None  # u8 never gets a profile: counts as anonymous
        session = f"s{rng.randrange(6)}" if user is None or rng.random() < 0.3 else None
        minutes = rng.randrange(days[0] * 1440, days[1] * 1440)
        events.append(
            make_event(
                f"{prefix}{i}",
                item_id=f"it{rng.randrange(7)}",
                user_id=user,
                session_id=session,
                type=rng.choice(KINDS),
                channel=rng.choice(CHANNELS),
                timestamp=START + timedelta(minutes=minutes, seconds=rng.randrange(60)),
            )
        )
    return events


def fill(store: Store, rng: random.Random) -> None:
    store.upsert_items([make_item(f"it{i}", title=f"条目 {i}") for i in range(7)], actor="test")
    for u in range(8):
        store.upsert_user(User(id=f"u{u}", audiences=AUDIENCE_SETS[u % len(AUDIENCE_SETS)]))
    store.link_session("s1", "u1")
    store.link_session("s2", "u4")
    store.add_events(random_events(rng, "e", 600, (0, 11)))


WINDOWS = [
    (START, START + 11 * DAY),  # whole days, through today
    (START + DAY + timedelta(hours=5), START + 10 * DAY + timedelta(hours=2)),  # partial first and last day
    (START + 2 * DAY, START + 6 * DAY),  # closed days only
    (START + 3 * DAY + timedelta(hours=1), START + 3 * DAY + timedelta(hours=20)),  # inside one day
]


def assert_same_as_live(store: Store) -> None:
    for since, until in WINDOWS:
        assert store.reach_by_day(since, until) == store.reach_by_day_live(since, until), (since, until)
        assert store.top_items_by_audience(since, until, k=4) == store.top_items_by_audience_live(since, until, k=4), (
            since,
            until,
        )


def rolled_rows(store: Store) -> int:
    with store.engine.connect() as connection:
        reach = connection.scalar(select(func.count()).select_from(StatsReachDailyRow))
        items = connection.scalar(select(func.count()).select_from(StatsItemsDailyRow))
    return int(reach or 0) + int(items or 0)


def day(n: int) -> str:
    return (START + n * DAY).date().isoformat()


def test_rollup_equals_live_query_and_recounts_only_changed_days(store: Store, clock: Clock) -> None:
    rng = random.Random(11)
    fill(store, rng)
    window = (START, START + 11 * DAY)
    assert store.refresh_stats_rollup(*window) == [day(n) for n in range(10)]  # first read builds days 0-9
    assert rolled_rows(store) > 50
    assert store.refresh_stats_rollup(*window) == []  # nothing changed: nothing recounted
    assert store.reach_by_day(*window) and store.top_items_by_audience(*window)
    assert_same_as_live(store)

    # Late events for two closed days (and one for today, which is live anyway).
    late = [make_event("late1", "it3", user_id="u0", type=EventType.CLICK, channel="web", timestamp=START + 2 * DAY)]
    late.append(make_event("late2", "it5", user_id=None, session_id="s4", type=EventType.IMPRESSION, minutes=0))
    late[-1] = late[-1].model_copy(update={"timestamp": START + 7 * DAY + timedelta(hours=23, minutes=59)})
    late.append(make_event("late3", "it1", user_id="u2", type=EventType.CLICK, timestamp=START + 10 * DAY))
    store.add_events(late)
    store.add_events(late)  # replayed duplicates change nothing
    assert store.refresh_stats_rollup(*window) == [day(2), day(7)]
    assert_same_as_live(store)

    # Erasure deletes a user's events (theirs and their linked session's) on many days.
    store.erase_user("u1", actor="test")
    assert len(store.refresh_stats_rollup(*window)) > 3
    assert_same_as_live(store)

    # A user's new audiences and a newly linked session re-attribute past events.
    store.upsert_user(User(id="u0", audiences=["officials"]))
    store.link_session("s5", "u3")
    store.upsert_user(User(id="u8", audiences=["farmers"]))  # events sent before the profile existed
    assert store.refresh_stats_rollup(*window)
    assert_same_as_live(store)
    store.upsert_user(User(id="u0", audiences=["officials"]))  # same audiences: nothing to recount
    assert store.refresh_stats_rollup(*window) == []

    # The next day: yesterday closes and is rolled up; a retention purge empties the oldest days.
    clock.now += DAY
    store.add_events(random_events(rng, "n", 60, (10, 12)))
    assert store.refresh_stats_rollup(START, START + 12 * DAY) == [day(10)]
    store.purge_before(START + 3 * DAY + timedelta(hours=12))
    assert store.refresh_stats_rollup(*window) == [day(0), day(1), day(2), day(3)]
    assert store.reach_by_day(START, START + 3 * DAY) == []
    assert_same_as_live(store)
    assert store.reach_by_day(START, START + 12 * DAY) == store.reach_by_day_live(START, START + 12 * DAY)
