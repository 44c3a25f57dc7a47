"""Bilinear ridge from a user's content profile to item content: a closed-form cold-item model.

Each user is summarised by the content features of the items they consumed, p_u = [x_u F, 1]; an item by
its content features f_i (with a constant column). We fit W in x_ui ≈ p_u W f_iᵀ over *all* (user, item)
cells of the training matrix — zeros included, which teaches both what a user's history implies about
new content and which content is popular in general — with an L2 penalty λ‖W‖². The exact solution
uses the eigen-decompositions of PᵀP and FᵀF (sizes = number of features), so it is fast and has no
sampling noise. New items are scored from their features alone.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender, as_interactions


def _with_bias(matrix: np.ndarray) -> np.ndarray:
    return np.hstack([matrix, np.ones((matrix.shape[0], 1), dtype=matrix.dtype)])


class ContentBilinearModel(Recommender):
    """Parameters: `regularization` λ; `normalize_history`: profiles are means (True) or sums of features."""

    def __init__(self, regularization: float = 10.0, normalize_history: bool = True) -> None:
        self.regularization = regularization
        self.normalize_history = normalize_history

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | np.ndarray | None = None,
    ) -> Self:
        """item_features: (n_items, f) content features of the training items — required."""
        if item_features is None:
            raise ValueError("ContentBilinearModel needs item_features (n_items, f)")
        if self.regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {self.regularization}")
        x = as_interactions(interactions)
        features = item_features.toarray() if sp.issparse(item_features) else np.asarray(item_features)
        if features.shape[0] != x.shape[1]:
            raise ValueError(f"item_features has {features.shape[0]} rows but interactions have {x.shape[1]} items")
        self.interactions_ = x
        self.n_users_, self.n_items_ = x.shape
        f_items = _with_bias(features.astype(np.float64))
        p_users = self._profiles(x, features.astype(np.float64))
        eig_p, vec_p = np.linalg.eigh(p_users.T @ p_users)
        eig_f, vec_f = np.linalg.eigh(f_items.T @ f_items)
        target = np.asarray((x.T @ p_users).T)  # Pᵀ X, shape (f_u, n_items)
        rotated = vec_p.T @ (target @ f_items) @ vec_f
        rotated /= np.outer(np.maximum(eig_p, 0), np.maximum(eig_f, 0)) + self.regularization
        self.weights_ = vec_p @ rotated @ vec_f.T
        self.item_features_ = features.astype(np.float64)
        return self

    def _profiles(self, history: sp.csr_matrix, features: np.ndarray) -> np.ndarray:
        profile = np.asarray(history @ features)
        if self.normalize_history:
            totals = np.asarray(history.sum(axis=1)).ravel()[:, None]
            profile = np.divide(profile, totals, out=np.zeros_like(profile), where=totals > 0)
        return _with_bias(profile)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return self._score(rows, self.item_features_)

    def score_new_items(self, user_rows: np.ndarray, item_features: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores (len(user_rows), n_new) of items given only their content features."""
        rows = self._check_users(user_rows)
        features = item_features.toarray() if sp.issparse(item_features) else np.asarray(item_features)
        if features.shape[1] != self.item_features_.shape[1]:
            raise ValueError(f"item_features have {features.shape[1]} columns, expected {self.item_features_.shape[1]}")
        return self._score(rows, features.astype(np.float64))

    def _score(self, rows: np.ndarray, features: np.ndarray) -> np.ndarray:
        profiles = self._profiles(self.interactions_[rows], self.item_features_)
        return (profiles @ self.weights_ @ _with_bias(features).T).astype(np.float32)
