"""Re-ranking pieces: min-max blending, blend weights by history, freshness, MMR over topics, pins."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.rerank import BlendWeights, apply_pins, blend, freshness_boost, minmax, mmr
from recommender.rules import EditorRule


def test_minmax_ignores_masked_and_nan() -> None:
    out = minmax(np.array([np.nan, 1.0, 3.0, 100.0], dtype=np.float32), np.array([True, True, True, False]))
    assert out.tolist() == [0.0, 0.0, 1.0, 0.0]


def test_blend_weights_move_from_audience_prior_to_model_with_history() -> None:
    new = BlendWeights.for_history(0, 0, has_model_user=False)
    heavy = BlendWeights.for_history(200, 5, has_model_user=True)
    assert new.audience > new.model and heavy.model > heavy.audience
    assert new.content == 0 and heavy.content > 0
    assert sum(new.as_dict().values()) == pytest.approx(1.0)


def test_blend_contributions_sum_to_score() -> None:
    mask = np.ones(3, dtype=bool)
    signals = {
        "model": np.array([0, 1, 2.0]),
        "audience": np.array([2, 1, 0.0]),
        "content": np.zeros(3),
        "trending": np.zeros(3),
    }
    scores, parts = blend(signals, BlendWeights(0.5, 0.0, 0.5, 0.0), mask)
    assert np.allclose(scores, sum(parts.values()))
    assert scores.tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_freshness_prefers_new_items() -> None:
    now = 100 * 86_400.0
    out = freshness_boost(np.ones(2, dtype=np.float32), np.array([now, now - 60 * 86_400]), now, 14, 0.3)
    assert out[0] == pytest.approx(1.3, rel=1e-5) and 1.0 < out[1] < 1.02


def test_mmr_diversifies_topics() -> None:
    topics = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    scores = np.array([1.0, 0.9, 0.5])
    assert mmr(np.array([10, 11, 12]), scores, topics, 3, lambda_=1.0).tolist() == [10, 11, 12]
    assert mmr(np.array([10, 11, 12]), scores, topics, 3, lambda_=0.5).tolist() == [10, 12, 11]
    with pytest.raises(ValueError, match="lambda"):
        mmr(np.array([1]), np.array([1.0]), topics[:1], 1, lambda_=2)


def test_pins_land_at_their_positions_only_when_allowed() -> None:
    pins = [
        EditorRule(item_id="p", action="pin", position=0),
        EditorRule(item_id="q", action="pin", position=2),
        EditorRule(item_id="gone", action="pin", position=1),
    ]
    ranked, pinned = apply_pins(["a", "q", "b", "c"], pins, allowed={"a", "b", "c", "p", "q"})
    assert ranked == ["p", "a", "q", "b", "c"]
    assert pinned == {"p", "q"}
