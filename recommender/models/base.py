"""Shared recommender base: sklearn-style params, `fit` on a CSR users × items matrix, `score`, `recommend`.

Models never see external ids: rows are internal user indices and columns internal item indices of the
interaction matrix passed to `fit` (an IdMap lives with the caller). Scores are dense float32 rows so
filtering and top-k are vectorised numpy (boolean masks + argpartition), never Python loops over items.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np
import scipy.sparse as sp


def as_interactions(interactions: Any, name: str = "interactions") -> sp.csr_matrix:
    """Validate and convert to float32 CSR with sorted indices; rejects negatives and non-finite values."""
    if not sp.issparse(interactions):
        raise TypeError(f"{name} must be a scipy.sparse matrix (users × items), got {type(interactions).__name__}")
    matrix = sp.csr_matrix(interactions, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {matrix.shape}")
    if matrix.nnz and (not np.all(np.isfinite(matrix.data)) or matrix.data.min() < 0):
        raise ValueError(f"{name} must hold finite non-negative weights")
    matrix.sort_indices()
    return matrix


def candidate_mask(candidates: np.ndarray | None, n_items: int) -> np.ndarray | None:
    """Boolean (n_items,) mask from item indices or a boolean mask; None means every item."""
    if candidates is None:
        return None
    candidates = np.asarray(candidates)
    if candidates.dtype == bool:
        if candidates.shape != (n_items,):
            raise ValueError(f"candidates mask must have shape ({n_items},), got {candidates.shape}")
        return candidates
    if candidates.size and (candidates.min() < 0 or candidates.max() >= n_items):
        raise ValueError(f"candidates hold item indices outside 0..{n_items - 1}")
    mask = np.zeros(n_items, dtype=bool)
    mask[candidates.astype(np.int64)] = True
    return mask


def top_k(
    scores: np.ndarray,
    k: int,
    *,
    exclude: sp.spmatrix | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item indices and scores per row of a dense score matrix, best first.

    exclude: CSR (n_rows, n_items) aligned with `scores` rows; its stored entries are removed
    (the `filter_viewed` semantics). candidates: item indices or boolean mask allowed for every row.
    Rows with fewer than k allowed items are padded with index -1 and score -inf.
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    scores = np.array(scores, dtype=np.float32, copy=True)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {scores.shape}")
    n_rows, n_items = scores.shape
    mask = candidate_mask(candidates, n_items)
    if mask is not None:
        scores[:, ~mask] = -np.inf
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape != scores.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, expected {scores.shape} (rows aligned with users)")
        rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))
        scores[rows, exclude.indices] = -np.inf
    k_eff = min(k, n_items)
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    item_scores = np.take_along_axis(part_scores, order, axis=1)
    items = np.where(np.isneginf(item_scores), -1, items)
    if k_eff < k:
        pad = k - k_eff
        items = np.pad(items, ((0, 0), (0, pad)), constant_values=-1)
        item_scores = np.pad(item_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return items, item_scores


class Recommender(ABC):
    """Base of every model: parameters in `__init__`, learned state in attributes ending with `_`."""

    n_users_: int
    n_items_: int

    @abstractmethod
    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
    ) -> Self:
        """Learn from a users × items matrix of non-negative weights (0 = no interaction)."""

    @abstractmethod
    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Dense float32 scores (len(user_rows), n_items); higher is better."""

    def score_user(self, user_row: int) -> np.ndarray:
        """Scores (n_items,) of one user."""
        return self.score(np.array([user_row]))[0]

    def recommend(
        self,
        user_rows: np.ndarray,
        k: int,
        *,
        exclude: sp.spmatrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (item indices (n, k), scores (n, k)); `exclude` rows are aligned with `user_rows`."""
        user_rows = self._check_users(user_rows)
        return top_k(self.score(user_rows), k, exclude=exclude, candidates=candidates)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (sklearn convention), for reports and cloning."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {name: getattr(self, name) for name in names}

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def _check_users(self, user_rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        rows = np.atleast_1d(np.asarray(user_rows, dtype=np.int64))
        if rows.ndim != 1:
            raise ValueError(f"user_rows must be 1-D, got shape {rows.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_users_):
            raise IndexError(f"user_rows must be within 0..{self.n_users_ - 1} (users seen in fit)")
        return rows
