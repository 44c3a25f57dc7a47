"""The online blend fit: simulated cold requests fit the no-history band only."""

from __future__ import annotations

import numpy as np

from recommender.blend_fit import SOURCES, BlendSample, fit_online_blend

N_ITEMS = 12


def _sample(best_source: str, n_history: int, seed: int) -> BlendSample:
    """One request whose relevant item is top of `best_source` and near the bottom of every other source."""
    rng = np.random.default_rng(seed)
    sources = rng.uniform(0.0, 0.5, size=(len(SOURCES), N_ITEMS)).astype(np.float32)
    relevant = np.zeros(N_ITEMS, dtype=bool)
    relevant[seed % N_ITEMS] = True
    sources[:, relevant] = 0.0
    sources[SOURCES.index(best_source), relevant] = 1.0
    topics = np.eye(N_ITEMS, 3, dtype=np.float32) + 0.1
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    return BlendSample(sources, np.ones(N_ITEMS, np.float32), relevant, n_history, 1, topics)


def test_cold_samples_fit_the_no_history_band_and_nothing_else() -> None:
    warm = [_sample("model", 60, s) for s in range(40)] + [_sample("model", 0, 100 + s) for s in range(5)]
    cold = [_sample("trending", 0, 200 + s) for s in range(40)]
    without, with_cold = fit_online_blend(warm), fit_online_blend(warm, cold=cold)
    assert without.figures["0-0"] == {"users": 5, "shared": True}
    assert with_cold.figures["0-0"]["users"] == 45 and with_cold.figures["0-0"]["simulated_cold"] == 40
    no_history = with_cold.weights_for(0)
    assert no_history.trending > no_history.model  # what the cold requests read
    assert without.weights_for(0).model > without.weights_for(0).trending
    assert with_cold.weights[1:] == without.weights[1:]  # every band with history: unchanged
    assert with_cold.mmr_lambda == without.mmr_lambda
