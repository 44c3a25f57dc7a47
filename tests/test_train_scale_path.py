"""The training path at scale gives what the DataFrame path gave: the streamed event columns, the int32
CSR built from them, the paged user reader, the time split and the vectorised validation truth are
compared with the old pandas/loop implementations on a small store (chunks of 3 rows, so chunk edges,
session links, anonymous sessions, dwell, dislikes and impressions are all crossed)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from content_catalog.schema import EventType, Item, User
from content_catalog.store import Store
from features.event_columns import EventColumns, columns_from_chunks
from features.interactions import POSITIVE_EVENTS, InteractionMatrixBuilder, interactions_from_columns, user_key
from features.user_features import UserFeatureBuilder
from features.user_profiles import UserProfiles
from recommender.model_selection import ValidationSet
from recommender.validation_store import HistoryBeforeCutoff, cutoff_time
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    make_event,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

KINDS = [EventType.VIEW, EventType.CLICK, EventType.LIKE, EventType.IMPRESSION, EventType.DWELL, EventType.DISLIKE]


def _fill(store: Store) -> list[str]:
    """40 events over 5 items (one outside the catalog), 4 users and 2 anonymous sessions (one linked)."""
    rng = np.random.default_rng(7)
    events = []
    for n in range(40):
        kind = KINDS[int(rng.integers(len(KINDS)))]
        anonymous = n % 5 == 0
        events.append(
            make_event(
                f"e{n:03d}",
                item_id=f"i{int(rng.integers(5))}",
                minutes=n * 37,
                type=kind,
                user_id=None if anonymous else f"u{int(rng.integers(4))}",
                session_id=f"s{n % 2}" if anonymous else None,
                dwell_seconds=float(rng.integers(5, 400)) if kind == EventType.DWELL else None,
            )
        )
    store.add_events(events)
    store.upsert_user(User(id="u1", audiences=["seniors"], age_band="60_plus", sessions=["s1"]))
    store.upsert_user(User(id="u2", audiences=["youth"], interests=["health"]))
    return ["i0", "i1", "i2", "i3"]  # the catalog; i4 has events but no item


def test_streamed_columns_give_the_dataframe_matrix(store: Store) -> None:
    catalog = _fill(store)
    columns = columns_from_chunks(store.iter_event_chunks(chunk_size=3))
    frame = store.events_frame()
    assert columns.n == len(frame) == 40
    assert columns.key.dtype == np.int32 and columns.item.dtype == np.int32
    now = T0 + timedelta(days=3)
    for half_life in (30.0, None):
        old = InteractionMatrixBuilder(half_life_days=half_life, now=now).fit_transform(frame, item_ids=catalog)
        new = interactions_from_columns(columns, catalog, InteractionMatrixBuilder(half_life_days=half_life, now=now))
        assert new.user_map == old.user_map and new.item_map == old.item_map
        assert new.matrix.indices.dtype == np.int32
        np.testing.assert_allclose(new.matrix.toarray(), old.matrix.toarray(), rtol=1e-6)
        assert (new.negatives.toarray() == old.negatives.toarray()).all()
        assert new.n_events_used == old.n_events_used
    # a frame converted to columns gives the same columns as the store's stream
    from_frame = EventColumns.from_frame(frame)
    assert from_frame.keys == columns.keys and from_frame.items == columns.items
    for name in ("key", "item", "type", "timestamp"):
        assert (getattr(from_frame, name) == getattr(columns, name)).all()
    np.testing.assert_array_equal(from_frame.dwell, columns.dwell)


def test_paged_users_match_get_user(store: Store) -> None:
    _fill(store)
    store.upsert_user(User(id="u0", sessions=["s0", "s9"]))
    paged = list(store.iter_users(chunk_size=2))
    assert [u.id for u in paged] == ["u0", "u1", "u2"]
    assert paged == [store.get_user(u.id) for u in paged]
    # training reads profiles only (no User per row): the same fields, and the same feature rows
    rows = list(store.iter_user_profiles())
    assert rows == [(u.id, tuple(u.audiences), u.age_band, u.town, tuple(u.interests)) for u in paged]
    profiles = UserProfiles.from_rows(rows)
    assert profiles["u2"] == paged[2].model_copy(update={"sessions": []}) and "s0" not in profiles
    builder = UserFeatureBuilder(identity=False, normalize=False).fit([])
    keys = ["u2", "session:s0", "u1", "u0", "u7"]
    expected = builder.transform([paged[2], User(id="anon"), paged[1], paged[0], User(id="u7")])
    np.testing.assert_array_equal(profiles.features(keys, builder).toarray(), expected.toarray())


def test_split_validation_truth_and_histories_match_the_loops(store: Store) -> None:
    _fill(store)
    frame = store.events_frame()
    columns = columns_from_chunks(store.iter_event_chunks(chunk_size=3))
    cutoff = columns.cutoff(0.4)
    assert cutoff == cutoff_time(frame, 0.4)
    before, after = columns.before(cutoff), columns.since(cutoff)
    assert before.n == int((frame["timestamp"] < cutoff).sum()) and before.n + after.n == 40

    def key(uid: object, sid: object) -> str:
        return user_key(uid if isinstance(uid, str) else None, sid if isinstance(sid, str) else None)

    # the DataFrame loops validation used before
    old_before, old_after = frame[frame["timestamp"] < cutoff], frame[frame["timestamp"] >= cutoff]
    seen: dict[str, set[str]] = {}
    for uid, sid, item in old_before[["user_id", "session_id", "item_id"]].itertuples(index=False):
        seen.setdefault(key(uid, sid), set()).add(item)
    truth: dict[str, set[str]] = {}
    positive = old_after[old_after["type"].isin(POSITIVE_EVENTS)]
    for uid, sid, item in positive[["user_id", "session_id", "item_id"]].itertuples(index=False):
        if item not in seen.get(key(uid, sid), set()):
            truth.setdefault(key(uid, sid), set()).add(item)
    assert truth, "the split must leave something to validate"

    items = [Item(id=f"i{n}", title=f"条目{n}", topics=["health"], audiences=["public"]) for n in range(5)]
    vectors = np.eye(5, 8, dtype=np.float32)
    for max_users in (100, 1):
        validation = ValidationSet.build(items, [], before, after, cutoff, None, vectors, max_users, seed=3)
        if max_users == 100:
            assert validation.truth == truth
        else:
            (only,) = validation.truth
            assert validation.truth[only] == truth[only]
    # the histories of the served users are those the DataFrame view held
    reference = HistoryBeforeCutoff(validation.view._store, old_before)
    for user in truth:
        uid, sid = (None, user.split(":", 1)[1]) if user.startswith("session:") else (user, None)
        served = HistoryBeforeCutoff.from_columns(validation.view._store, before)
        assert served.user_history(uid, sid, 50) == reference.user_history(uid, sid, 50)


def test_frame_with_separate_validation_events_is_recoded() -> None:
    stamps = pd.to_datetime(["2025-03-01T08:00:00Z", "2025-03-01T09:00:00Z"], utc=True)
    train = EventColumns.from_frame(
        pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "type": ["view", "like"], "timestamp": stamps})
    )
    valid = EventColumns.from_frame(
        pd.DataFrame({"user_id": ["b", "c"], "item_id": ["z", "x"], "type": ["like", "view"], "timestamp": stamps})
    )
    recoded = valid.recoded_like(train)
    assert recoded.keys == ["a", "b", "c"] and recoded.items == ["x", "y", "z"]
    assert [recoded.keys[k] for k in recoded.key] == ["b", "c"]
    assert [recoded.items[i] for i in recoded.item] == ["z", "x"]


def test_cold_validation_requests_are_profile_only_copies_asked_at_arrival(store: Store) -> None:
    """Every validation user with a profile and events before the cutoff is also asked for as a
    profile-only copy at their first event, judged on all their positive items (model_selection)."""
    catalog = _fill(store)
    frame = store.events_frame()
    frame["key"] = [
        user_key(u if isinstance(u, str) else None, s if isinstance(s, str) else None)
        for u, s in frame[["user_id", "session_id"]].itertuples(index=False)
    ]
    columns = columns_from_chunks(store.iter_event_chunks(chunk_size=3))
    cutoff = columns.cutoff(0.4)
    users = list(store.iter_users())
    items = [Item(id=i, title=f"条目{i}", topics=["health"], audiences=["public"]) for i in catalog]
    before, after = columns.before(cutoff), columns.since(cutoff)
    validation = ValidationSet.build(items, users, before, after, cutoff, None, np.eye(4, 8), 100, seed=3)
    earlier = set(frame.loc[frame["timestamp"] < cutoff, "key"])
    expected = {f"cold.{u.id}" for u in users if u.id in validation.truth and u.id in earlier}
    assert expected and set(validation.cold) == expected
    positive = frame[frame["type"].isin(POSITIVE_EVENTS)]
    for key, (arrival, relevant) in validation.cold.items():
        uid = key.removeprefix("cold.")
        assert arrival == frame.loc[frame["key"] == uid, "timestamp"].min()
        assert relevant == set(positive.loc[positive["key"] == uid, "item_id"])
        request = validation.request(key, 5)
        assert request.user_id == key and request.now == arrival
        assert validation.view.user_history(key) == []
        copy, original = validation.view.get_user(key), store.get_user(uid)
        assert copy is not None and original is not None
        assert (copy.audiences, copy.age_band, copy.interests) == (
            original.audiences,
            original.age_band,
            original.interests,
        )
