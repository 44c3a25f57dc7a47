"""Interaction matrix: event weights, dwell saturation, time decay, negatives, id maps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from features.idmap import IdMap
from features.interactions import (
    EVENT_WEIGHTS,
    InteractionMatrixBuilder,
    dwell_weight,
    events_to_frame,
    user_key,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (user_id, session_id, item_id, type, days_ago, dwell_seconds)."""
    return pd.DataFrame(
        [
            {
                "event_id": f"e{i}",
                "user_id": u,
                "session_id": s,
                "item_id": it,
                "type": t,
                "timestamp": NOW - timedelta(days=d),
                "dwell_seconds": dw,
            }
            for i, (u, s, it, t, d, dw) in enumerate(rows)
        ]
    )


def test_idmap_round_trip_and_errors() -> None:
    ids = IdMap.from_values(["b", "a", "b", "c"])
    assert ids.to_list() == ["b", "a", "c"]
    assert ids.convert_to_internal(["c", "b"]).tolist() == [2, 0]
    assert ids.convert_to_external([1]) == ["a"]
    assert ids.convert_to_internal(["zz"], strict=False).tolist() == [-1]
    with pytest.raises(KeyError, match="zz"):
        ids.convert_to_internal(["zz"])
    with pytest.raises(ValueError, match="appears twice"):
        IdMap(["x", "x"])
    assert ids.add_ids(["a", "d"]).to_list() == ["b", "a", "c", "d"]


def test_weights_sum_per_pair_without_decay() -> None:
    events = frame(
        [
            ("u1", None, "i1", "view", 0, None),
            ("u1", None, "i1", "like", 0, None),
            ("u1", None, "i2", "share", 0, None),
            ("u2", None, "i2", "impression", 0, None),
        ]
    )
    inter = InteractionMatrixBuilder(half_life_days=None).fit_transform(events)
    m = inter.matrix.toarray()
    u1, i1, i2 = inter.user_map.get("u1"), inter.item_map.get("i1"), inter.item_map.get("i2")
    assert m[u1, i1] == pytest.approx(EVENT_WEIGHTS["view"] + EVENT_WEIGHTS["like"])
    assert m[u1, i2] == pytest.approx(EVENT_WEIGHTS["share"])
    assert m[inter.user_map.get("u2")].sum() == 0  # impressions carry no preference


def test_time_decay_halves_at_half_life() -> None:
    events = frame([("u1", None, "old", "view", 10, None), ("u1", None, "new", "view", 0, None)])
    inter = InteractionMatrixBuilder(half_life_days=10, now=NOW).fit_transform(events)
    m = inter.matrix.toarray()[0]
    assert m[inter.item_map.get("old")] == pytest.approx(0.5, rel=1e-4)
    assert m[inter.item_map.get("new")] == pytest.approx(1.0, rel=1e-4)


def test_dwell_saturates() -> None:
    w = dwell_weight(np.array([0.0, 60.0, 3600.0]))
    assert w[0] == 0.0
    assert 0.5 * EVENT_WEIGHTS["dwell"] < w[1] < EVENT_WEIGHTS["dwell"]
    assert w[2] == pytest.approx(EVENT_WEIGHTS["dwell"], rel=1e-6)


def test_negative_events_remove_the_pair_and_are_kept_apart() -> None:
    events = frame(
        [
            ("u1", None, "i1", "like", 1, None),
            ("u1", None, "i1", "hide", 0, None),
            ("u1", None, "i2", "view", 0, None),
        ]
    )
    inter = InteractionMatrixBuilder().fit_transform(events)
    i1 = inter.item_map.get("i1")
    assert inter.matrix[0, i1] == 0
    assert inter.negatives[0, i1]
    assert inter.matrix[0, inter.item_map.get("i2")] > 0


def test_sessions_are_rows_and_catalog_items_get_columns() -> None:
    events = frame([(None, "s9", "i1", "click", 0, None)])
    inter = InteractionMatrixBuilder().fit_transform(events, item_ids=["i0", "i1", "i2"])
    assert inter.user_map.to_list() == [user_key(None, "s9")]
    assert inter.matrix.shape == (1, 3)
    assert inter.item_map.get("i0") == 0


def test_unknown_users_dropped_on_transform_and_counted() -> None:
    builder = InteractionMatrixBuilder().fit(frame([("u1", None, "i1", "view", 0, None)]))
    inter = builder.transform(frame([("u1", None, "i1", "view", 0, None), ("u2", None, "i1", "view", 0, None)]))
    assert inter.n_events_used == 1 and inter.n_events_dropped == 1


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        InteractionMatrixBuilder().fit(frame([("u1", None, "i1", "teleport", 0, None)]))
    with pytest.raises(ValueError, match="row 0: neither user_id nor session_id"):
        InteractionMatrixBuilder().fit(frame([(None, None, "i1", "view", 0, None)]))
    with pytest.raises(ValueError, match="missing column"):
        InteractionMatrixBuilder().fit(pd.DataFrame({"item_id": ["i1"]}))
    with pytest.raises(ValueError, match="weights: unknown event type"):
        InteractionMatrixBuilder(weights={"poke": 1.0}).fit(frame([("u1", None, "i1", "view", 0, None)]))
    with pytest.raises(RuntimeError, match="not fitted"):
        InteractionMatrixBuilder().transform(frame([("u1", None, "i1", "view", 0, None)]))


def test_events_to_frame_from_models() -> None:
    from content_catalog.schema import Event

    df = events_to_frame(
        [Event(event_id="x", user_id="u", item_id="i", type="dwell", dwell_seconds=30.0, timestamp=NOW)]
    )
    assert df.loc[0, "type"] == "dwell" and df.loc[0, "dwell_seconds"] == 30.0
