"""Users, session links and events on SQLite and PostgreSQL: idempotent batches, session merge,
history order and the events DataFrame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from content_catalog.schema import EventType, User
from content_catalog.store import EVENT_COLUMNS, AddEventsResult, Store
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    make_event,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)


def test_events_are_idempotent_on_event_id(store: Store) -> None:
    batch = [make_event("e1", minutes=1), make_event("e2", minutes=2), make_event("e1", minutes=1)]
    assert store.add_events(batch) == AddEventsResult(accepted=2, duplicates=1)
    # A client retrying the same batch (plus one new event) gets duplicates, not errors.
    retry = [*batch, make_event("e3", minutes=3)]
    assert store.add_events(retry) == AddEventsResult(accepted=1, duplicates=3)
    assert store.count_events() == 3
    assert store.add_events([]) == AddEventsResult(accepted=0, duplicates=0)


def test_large_batch_spans_insert_chunks(store: Store) -> None:
    events = [make_event(f"e{n}", item_id=f"i{n % 7}", minutes=n) for n in range(1234)]
    assert store.add_events(events).accepted == 1234
    assert store.add_events(events[600:700]).duplicates == 100
    assert store.count_events() == 1234


def test_session_events_merge_into_user_history(store: Store) -> None:
    store.add_events(
        [
            make_event("s1", item_id="anon-read", minutes=1, user_id=None, session_id="sess-1"),
            make_event("s2", item_id="other-anon", minutes=2, user_id=None, session_id="sess-2"),
            make_event("u1", item_id="user-read", minutes=3, user_id="u-7"),
        ]
    )
    assert [h.item_id for h in store.user_history(user_id="u-7")] == ["user-read"]
    assert [h.item_id for h in store.user_history(session_id="sess-1")] == ["anon-read"]

    store.upsert_user(User(id="u-7", audiences=["seniors"], age_band="60_plus", sessions=["sess-1"]))
    assert store.user_for_session("sess-1") == "u-7"
    assert store.user_for_session("sess-2") is None
    merged = store.user_history(user_id="u-7")
    assert [h.item_id for h in merged] == ["user-read", "anon-read"], "most recent first, session merged"
    assert store.user_history(session_id="sess-1") == merged
    assert merged[0].type == "view" and merged[0].timestamp == T0 + timedelta(minutes=3)
    assert [h.item_id for h in store.user_history(user_id="u-7", limit=1)] == ["user-read"]
    # the online read (driver rows, no ORM) returns exactly this history, as aware UTC times
    for online in (store.requester("u-7", None, 500), store.requester(None, "sess-1", 500)):
        assert online.history == merged and {h.timestamp.tzinfo for h in online.history} == {UTC}

    frame = store.events_frame()
    assert list(frame.columns) == list(EVENT_COLUMNS)
    resolved = {e: (None if pd.isna(u) else u) for e, u in zip(frame["event_id"], frame["user_id"], strict=True)}
    assert resolved == {"s1": "u-7", "s2": None, "u1": "u-7"}
    assert list(store.events_frame(user_ids=["u-7"])["event_id"]) == ["s1", "u1"]


def test_upsert_user_round_trip_and_session_relink(store: Store) -> None:
    store.upsert_user(User(id="a", audiences=["farmers"], town="沙溪镇", interests=["agri_tech"], sessions=["s"]))
    store.upsert_user(User(id="a", audiences=["farmers", "seniors"], sessions=["t"]))
    user = store.get_user("a")
    assert user is not None
    assert user.audiences == ["farmers", "seniors"] and user.town is None and user.sessions == ["s", "t"]
    store.upsert_user(User(id="b", sessions=["s"]))  # the shared device logs into another account
    assert store.user_for_session("s") == "b"
    assert store.get_user("missing") is None


def test_events_frame_window_and_types(store: Store) -> None:
    store.add_events(
        [
            make_event("a", minutes=0, type=EventType.CLICK, channel="wechat", position=3, experiment="exp-1"),
            make_event("b", minutes=10, type=EventType.DWELL, dwell_seconds=42.5),
            make_event("c", minutes=20),
        ]
    )
    frame = store.events_frame(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=20))
    assert list(frame["event_id"]) == ["b"]
    assert frame["dwell_seconds"].iloc[0] == 42.5
    full = store.events_frame()
    assert str(full["timestamp"].dt.tz) == "UTC"
    assert full["timestamp"].iloc[0] == pd.Timestamp(T0)
    assert full["position"].dtype == "Int64" and full["position"].iloc[0] == 3 and pd.isna(full["position"].iloc[1])
    assert (full["channel"].iloc[0], full["experiment"].iloc[0], full["type"].iloc[0]) == (
        "wechat",
        "exp-1",
        "click",
    )
    empty = store.events_frame(since=datetime(2999, 1, 1, tzinfo=UTC))
    assert empty.empty and list(empty.columns) == list(EVENT_COLUMNS)
