"""Popularity: the fallback for anonymous and cold users, optionally time-decayed and per segment.

Per-segment popularity (e.g. by audience or age band) is shrunk towards global popularity so a
small segment does not recommend the quirks of its few members.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender, as_interactions


class PopularityModel(Recommender):
    """Score every item by its (decayed) number of interacting users.

    Parameters
    ----------
    binary: count each user once per item (True) or sum interaction weights (False).
    half_life_seconds: when set and `fit` gets `timestamps`, an interaction of age t counts
        0.5 ** (t / half_life); age is measured from `now` (default: newest timestamp).
    segment_shrinkage: pseudo-count pulling each segment's item shares towards the global shares.
    """

    def __init__(
        self,
        binary: bool = True,
        half_life_seconds: float | None = None,
        now: float | None = None,
        segment_shrinkage: float = 10.0,
    ) -> None:
        self.binary = binary
        self.half_life_seconds = half_life_seconds
        self.now = now
        self.segment_shrinkage = segment_shrinkage

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
        timestamps: sp.spmatrix | None = None,
    ) -> Self:
        """`timestamps`: optional CSR with the same sparsity as `interactions`, holding unix times."""
        weights = as_interactions(interactions).copy()
        if self.binary:
            weights.data[:] = 1.0
        if self.half_life_seconds is not None and timestamps is not None:
            if self.half_life_seconds <= 0:
                raise ValueError(f"half_life_seconds must be > 0, got {self.half_life_seconds}")
            times = sp.csr_matrix(timestamps, dtype=np.float64)
            times.sort_indices()
            if times.shape != weights.shape or not np.array_equal(times.indices, weights.indices):
                raise ValueError("timestamps must have the same shape and sparsity pattern as interactions")
            now = float(times.data.max()) if self.now is None else float(self.now)
            age = np.maximum(now - times.data, 0.0)
            weights.data = (weights.data * 0.5 ** (age / self.half_life_seconds)).astype(np.float32)
        self.interactions_ = weights
        self.n_users_, self.n_items_ = weights.shape
        self.item_scores_ = np.asarray(weights.sum(axis=0), dtype=np.float64).ravel()
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return np.broadcast_to(self.item_scores_.astype(np.float32), (len(rows), self.n_items_)).copy()

    def fit_segments(self, segment_of_user: np.ndarray) -> Self:
        """Popularity within each segment; `segment_of_user[u]` labels training user u (any hashable)."""
        self._check_fitted()
        segment_of_user = np.asarray(segment_of_user)
        if segment_of_user.shape != (self.n_users_,):
            raise ValueError(f"segment_of_user must have shape ({self.n_users_},), got {segment_of_user.shape}")
        labels, codes = np.unique(segment_of_user, return_inverse=True)
        membership = sp.csr_matrix(
            (np.ones(self.n_users_), (codes, np.arange(self.n_users_))), shape=(len(labels), self.n_users_)
        )
        counts = np.asarray((membership @ self.interactions_).todense(), dtype=np.float64)
        global_share = self.item_scores_ / max(self.item_scores_.sum(), 1e-12)
        totals = counts.sum(axis=1, keepdims=True)
        self.segment_labels_ = labels
        self.segment_scores_ = (counts + self.segment_shrinkage * global_share) / (totals + self.segment_shrinkage)
        return self

    def score_segments(self, segments: np.ndarray) -> np.ndarray:
        """Scores (len(segments), n_items) from segment popularity; unknown segments get global shares."""
        if not hasattr(self, "segment_scores_"):
            raise RuntimeError("call fit_segments() before score_segments()")
        segments = np.asarray(segments)
        global_share = self.item_scores_ / max(self.item_scores_.sum(), 1e-12)
        pos = np.searchsorted(self.segment_labels_, segments)
        pos = np.clip(pos, 0, len(self.segment_labels_) - 1)
        known = self.segment_labels_[pos] == segments
        out = np.where(known[:, None], self.segment_scores_[pos], global_share[None, :])
        return out.astype(np.float32)
