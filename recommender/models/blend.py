"""Rank blending: combine models whose score scales differ (e.g. EASE + LightFM) by per-user rank percentiles.

Only worth its extra fit time where a protocol shows it helps; see docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from recommender.models.base import Recommender


def rank_blend(score_matrices: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of per-row rank percentiles (ties share the mean rank); all matrices share one shape."""
    if not score_matrices:
        raise ValueError("rank_blend needs at least one score matrix")
    shape = np.shape(score_matrices[0])
    if any(np.shape(s) != shape for s in score_matrices):
        raise ValueError(f"score matrices differ in shape: {[np.shape(s) for s in score_matrices]}")
    w = np.ones(len(score_matrices)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(score_matrices) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(score_matrices)} non-negative numbers with a positive sum")
    blended = sum(wi * rankdata(s, axis=1) / shape[1] for wi, s in zip(w, score_matrices, strict=True))
    return (blended / w.sum()).astype(np.float32)


class RankBlendModel(Recommender):
    """Blend of sub-models by rank percentiles. `prefitted=True` reuses already-fitted sub-models."""

    def __init__(
        self, models: Sequence[Recommender], weights: Sequence[float] | None = None, prefitted: bool = False
    ) -> None:
        self.models = models
        self.weights = weights
        self.prefitted = prefitted

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
    ) -> Self:
        if not self.models:
            raise ValueError("RankBlendModel needs at least one model")
        if not self.prefitted:
            for model in self.models:
                model.fit(interactions, user_features=user_features, item_features=item_features)
        shapes = {(m.n_users_, m.n_items_) for m in self.models}
        if len(shapes) != 1:
            raise ValueError(f"sub-models were fit on different shapes: {shapes}")
        self.n_users_, self.n_items_ = shapes.pop()
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return rank_blend([m.score(rows) for m in self.models], self.weights)

    def get_params(self) -> dict[str, object]:
        return {"models": [type(m).__name__ for m in self.models], "weights": self.weights}
