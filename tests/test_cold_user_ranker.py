"""ColdUserRankerModel: segment signal is learned, time features never look past the request time."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.models.cold_user_ranker import ColdUserRankerModel, _past_counts

N_ITEMS = 12
DAY = 86_400.0


def _toy(n_users: int = 60, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix, dict[str, np.ndarray]]:
    """Group 'a' likes items 0-3, group 'b' items 4-7; everyone sometimes takes items 8-11."""
    rng = np.random.default_rng(seed)
    group = np.array(["a", "b"] * (n_users // 2))
    rows, cols, times = [], [], []
    for u, g in enumerate(group):
        liked = np.arange(4) if g == "a" else np.arange(4, 8)
        chosen = np.concatenate([rng.choice(liked, 3, replace=False), rng.choice(np.arange(8, 12), 1)])
        rows += [u] * len(chosen)
        cols += list(chosen)
        times += list(1_000_000.0 + u * DAY + np.arange(len(chosen)))
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, N_ITEMS))
    stamps = sp.csr_matrix((np.array(times), (rows, cols)), shape=(n_users, N_ITEMS))
    return x, stamps, {"group": group}


def test_segment_lists_follow_the_segment() -> None:
    x, stamps, segments = _toy()
    model = ColdUserRankerModel(n_folds=3, windows_days=(7.0,)).fit(x, segments=segments, timestamps=stamps)
    scores = model.score_new_users({"group": np.array(["a", "b"])}, np.array([2e6, 2e6]))
    assert scores.shape == (2, N_ITEMS)
    assert set(np.argsort(-scores[0])[:4]) == {0, 1, 2, 3}
    assert set(np.argsort(-scores[1])[:4]) == {4, 5, 6, 7}
    assert len(model.coef_) == len(model.feature_names())
    # training users are scored like cold users of their own segment
    assert set(np.argsort(-model.score(np.array([1]))[0])[:4]) == {4, 5, 6, 7}


def test_past_counts_only_see_earlier_events() -> None:
    items = np.array([0, 1, 1, 2])
    times = np.array([10.0, 20.0, 30.0, 40.0])
    counts = _past_counts(items, times, np.array([30.0, 5.0, 100.0]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 0, 0], [1, 2, 1]])


def test_future_events_do_not_change_time_features() -> None:
    x, stamps, segments = _toy()
    model = ColdUserRankerModel(n_folds=3).fit(x, segments=segments, timestamps=stamps)
    request = {"group": np.array(["a"])}
    t = np.array([1_000_000.0 + 10.5 * DAY])
    before = model._features(model.reference_, request, t)
    # move every event after the request time to item 11: features computed before t must not move
    late = model.reference_.event_times >= t[0]
    model.reference_.event_items = np.where(late, 11, model.reference_.event_items)
    after = model._features(model.reference_, request, t)
    time_cols = [i for i, n in enumerate(model.feature_names()) if "past" in n or "unseen" in n]
    np.testing.assert_allclose(before[..., time_cols], after[..., time_cols])


def test_bad_inputs_are_named() -> None:
    x, stamps, segments = _toy()
    with pytest.raises(ValueError, match="segments"):
        ColdUserRankerModel().fit(x, timestamps=stamps)
    with pytest.raises(ValueError, match="timestamps"):
        ColdUserRankerModel().fit(x, segments=segments)
    with pytest.raises(ValueError, match=r"segments\['group'\]"):
        ColdUserRankerModel().fit(x, segments={"group": segments["group"][:5]}, timestamps=stamps)
    model = ColdUserRankerModel(use_time=False, n_folds=2).fit(x, segments=segments)
    assert model.score_new_users({"group": np.array(["b"])}).shape == (1, N_ITEMS)
    timed = ColdUserRankerModel(n_folds=2).fit(x, segments=segments, timestamps=stamps)
    with pytest.raises(ValueError, match="request_times"):
        timed.score_new_users({"group": np.array(["b"])})
    with pytest.raises(ValueError, match="lack kinds"):
        timed.score_new_users({"other": np.array(["b"])}, np.array([0.0]))
