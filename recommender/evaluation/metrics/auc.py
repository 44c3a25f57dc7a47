"""Per-user ROC AUC over full score rows, as LightFM's `auc_score` (train items excluded).

For each user: the probability that a random relevant item scores above a random non-relevant one,
counting only items that are neither excluded (e.g. train items) nor outside `candidates`
(e.g. the held-out items of the cold-item protocol). Ties count one half (mid-ranks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from recommender.evaluation.metrics._lists import mean_over_users


def _allowed_mask(n_users: int, n_items: int, exclude: sp.spmatrix | None, candidates: np.ndarray | None) -> np.ndarray:
    allowed = np.ones((n_users, n_items), dtype=bool)
    if candidates is not None:
        candidates = np.asarray(candidates)
        cand_mask = candidates if candidates.dtype == bool else np.isin(np.arange(n_items), candidates)
        if cand_mask.shape != (n_items,):
            raise ValueError(f"candidates mask must have shape ({n_items},), got {cand_mask.shape}")
        allowed &= cand_mask[None, :]
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape != (n_users, n_items):
            raise ValueError(f"exclude has shape {exclude.shape}, expected {(n_users, n_items)}")
        allowed &= ~(exclude.toarray() > 0)
    return allowed


@dataclass(frozen=True)
class AUC:
    """Per-user AUC; NaN for users with no relevant or no non-relevant allowed item."""

    def calc_per_user(
        self,
        scores: np.ndarray,
        truth: sp.spmatrix,
        exclude: sp.spmatrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> np.ndarray:
        """scores: (n_users, n_items); truth/exclude: CSR of the same shape; candidates: item ids or mask."""
        scores = np.asarray(scores, dtype=np.float64)
        truth = sp.csr_matrix(truth)
        if scores.shape != truth.shape:
            raise ValueError(f"scores shape {scores.shape} differs from truth shape {truth.shape}")
        allowed = _allowed_mask(*scores.shape, exclude, candidates)
        positive = (truth.toarray() > 0) & allowed
        n_pos = positive.sum(axis=1)
        n_neg = allowed.sum(axis=1) - n_pos
        # disallowed items get -inf: they take the lowest ranks, shifting allowed ranks by their count
        masked = np.where(allowed, scores, -np.inf)
        ranks = rankdata(masked, axis=1) - (~allowed).sum(axis=1, keepdims=True)
        pos_rank_sum = np.where(positive, ranks, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (pos_rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
        return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)

    def calc(
        self,
        scores: np.ndarray,
        truth: sp.spmatrix,
        exclude: sp.spmatrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> float:
        return mean_over_users(self.calc_per_user(scores, truth, exclude, candidates))
