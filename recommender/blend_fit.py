"""Fit the online blend on validation: per history band, the source weights whose *served* order (blend
→ freshness, as `RecommendationService` computes it) gives the best NDCG@k on that band's users.

Coordinate ascent from the fallback weights over a small multiplicative grid: each source's weight is
tried at every grid value in turn, keeping the best, for `PASSES` passes. The signals of every validation
request are computed once (`RecommendationService.source_scores`), so a try costs one small matrix
product per user. Bands with fewer than `MIN_BAND_USERS` users share the weights fitted on all users. Then the MMR
trade-off λ is fitted on the served order with the overall weights (see `MMR_TOLERANCE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recommender.online_blend import HISTORY_BANDS, OnlineBlend
from recommender.rerank import BlendWeights, minmax, mmr
from recommender.service import SourceScores

SOURCES: tuple[str, ...] = ("model", "content", "audience", "trending", "tag", "local")
GRID: tuple[float, ...] = (0.0, 0.05, 0.15, 0.4, 1.0)
"""Candidate weights per source (relative: only ratios matter for the order)."""
PASSES = 2
MIN_BAND_USERS = 30
MMR_GRID: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MMR_TOLERANCE = 0.01
"""The most diverse λ whose validation NDCG is within 1 % of the best λ's is kept: topic diversity is
worth a little accuracy, not an unbounded amount."""


@dataclass(frozen=True)
class BlendSample:
    """One validation request: its normalised sources over the allowed rows and its relevant rows."""

    sources: np.ndarray  # (n_sources, n_allowed) minmax-scaled over the allowed rows, SOURCES order
    boost: np.ndarray  # (n_allowed,) freshness multiplier
    relevant: np.ndarray  # bool (n_allowed,)
    n_history: int
    n_relevant: int
    topics: np.ndarray  # (n_allowed, n_topics) L2-normalised topic rows, for MMR


def make_sample(scores: SourceScores, relevant_ids: set[str], half_life_days: float, weight: float) -> BlendSample:
    """Precompute what every weight try needs from one request's `SourceScores`."""
    allowed = np.flatnonzero(scores.allowed)
    sources = np.zeros((len(SOURCES), len(allowed)), dtype=np.float32)
    for s, name in enumerate(SOURCES):
        if name in scores.signals:
            sources[s] = minmax(scores.signals[name], scores.allowed)[allowed]
    age_days = np.clip((scores.now_ts - scores.view.published[allowed]) / 86_400.0, 0.0, None)
    boost = (1.0 + weight * np.power(0.5, age_days / half_life_days)).astype(np.float32) if weight > 0 else None
    relevant = np.array([scores.view.items[r].id in relevant_ids for r in allowed], dtype=bool)
    return BlendSample(
        sources,
        boost if boost is not None else np.ones(len(allowed), np.float32),
        relevant,
        scores.n_history,
        len(relevant_ids),
        scores.view.topics[allowed],
    )


def ndcg_at_k(
    samples: Sequence[BlendSample], weights: np.ndarray, k: int, mmr_lambda: float = 1.0, pool: int = 200
) -> float:
    """Mean NDCG@k of the blended-and-boosted order over the samples (binary gains); with
    `mmr_lambda` < 1 the top `pool` are re-ordered by MMR over topics first, as the service does."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for sample in samples:
        scores = (weights @ sample.sources) * sample.boost
        n = min(k, len(scores))
        if n == 0:
            continue
        if mmr_lambda < 1.0:
            m = min(pool, len(scores))
            head = np.argpartition(-scores, m - 1)[:m]
            head = head[np.argsort(-scores[head], kind="stable")]
            top = mmr(head, scores[head], sample.topics[head], n, mmr_lambda)
        else:
            top = np.argpartition(-scores, n - 1)[:n]
            top = top[np.argsort(-scores[top], kind="stable")]
        dcg = float(discounts[:n][sample.relevant[top]].sum())
        total += dcg / float(discounts[: min(sample.n_relevant, k)].sum())
    return total / max(1, len(samples))


def _ascend(samples: Sequence[BlendSample], start: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    best, best_score = start.copy(), ndcg_at_k(samples, start, k)
    for _ in range(PASSES):
        for s in range(len(SOURCES)):
            for value in GRID:
                trial = best.copy()
                trial[s] = value
                if not trial.any():
                    continue
                score = ndcg_at_k(samples, trial, k)
                if score > best_score + 1e-9:
                    best, best_score = trial, score
    return best, best_score


def _as_weights(vector: np.ndarray) -> BlendWeights:
    total = float(vector.sum()) or 1.0
    return BlendWeights(**{name: float(v) / total for name, v in zip(SOURCES, vector, strict=True)})


def _vector(weights: BlendWeights) -> np.ndarray:
    return np.array([weights.as_dict()[name] for name in SOURCES], dtype=np.float32)


def fit_online_blend(samples: Sequence[BlendSample], k: int = 10, cold: Sequence[BlendSample] = ()) -> OnlineBlend:
    """Per-band weights (see module docstring); `figures` records users and NDCG@k fitted vs fallback.
    `cold`: simulated profile-only requests (`model_selection`), fitted with the no-history band only
    (the overall weights and MMR λ stay those of the real validation requests)."""
    fallback = BlendWeights.for_history(20, 5, has_model_user=True)
    overall, _ = _ascend(samples, _vector(fallback), k)
    edges = (*HISTORY_BANDS[1:], np.inf)
    weights, figures = [], {}
    for low, high in zip(HISTORY_BANDS, edges, strict=True):
        band = [s for s in samples if low <= s.n_history < high] + (list(cold) if low == 0 else [])
        start = _vector(BlendWeights.for_history(low, min(low, 5), has_model_user=low > 0))
        label = f"{low}+" if high == np.inf else f"{low}-{int(high) - 1}"
        if len(band) >= MIN_BAND_USERS:
            fitted, score = _ascend(band, overall, k)
            figures[label] = {
                "users": len(band),
                **({"simulated_cold": len(cold)} if low == 0 and cold else {}),
                "ndcg_fitted": round(score, 5),
                "ndcg_fallback": round(ndcg_at_k(band, start, k), 5),
            }
        else:
            fitted = overall
            figures[label] = {"users": len(band), "shared": True}
        weights.append(_as_weights(fitted))
    by_lambda = {lam: ndcg_at_k(samples, overall, k, lam) for lam in MMR_GRID}
    best = max(by_lambda.values())
    chosen = min(lam for lam, score in by_lambda.items() if score >= best * (1.0 - MMR_TOLERANCE))
    figures["mmr_ndcg_by_lambda"] = {str(lam): round(v, 5) for lam, v in by_lambda.items()}
    return OnlineBlend(HISTORY_BANDS, tuple(weights), figures, chosen)
