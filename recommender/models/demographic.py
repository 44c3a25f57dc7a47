"""Ridge regression from user features (age band, gender, occupation, audience …) to items: cold users.

W = (DᵀD + λI)⁻¹ DᵀX predicts a user's interaction row from their features; with one-hot features this
is an additive, mutually-smoothed version of per-segment popularity, so rare combinations still get
sensible lists.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender, as_interactions


class DemographicRidgeModel(Recommender):
    """Parameters: `regularization` λ; `fit_intercept` adds a constant feature (global popularity)."""

    def __init__(self, regularization: float = 10.0, fit_intercept: bool = True) -> None:
        self.regularization = regularization
        self.fit_intercept = fit_intercept

    def _design(self, user_features: sp.spmatrix | np.ndarray) -> np.ndarray:
        design = user_features.toarray() if sp.issparse(user_features) else np.asarray(user_features, dtype=float)
        if self.fit_intercept:
            design = np.hstack([design, np.ones((design.shape[0], 1))])
        return design.astype(np.float64)

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | np.ndarray | None = None,
        item_features: sp.spmatrix | None = None,
    ) -> Self:
        """user_features: (n_users, f) features of the training users — required."""
        if user_features is None:
            raise ValueError("DemographicRidgeModel needs user_features (n_users, f)")
        if self.regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {self.regularization}")
        x = as_interactions(interactions)
        design = self._design(user_features)
        if design.shape[0] != x.shape[0]:
            raise ValueError(f"user_features has {design.shape[0]} rows but interactions have {x.shape[0]} users")
        gram = design.T @ design + self.regularization * np.eye(design.shape[1])
        self.weights_ = np.linalg.solve(gram, np.asarray((x.T @ design).T))
        self.user_design_ = design
        self.n_users_, self.n_items_ = x.shape
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return (self.user_design_[rows] @ self.weights_).astype(np.float32)

    def score_new_users(self, user_features: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores (n_new, n_items) from features alone."""
        self._check_fitted()
        design = self._design(user_features)
        if design.shape[1] != self.weights_.shape[0]:
            raise ValueError(f"user_features have {design.shape[1]} columns, expected {self.weights_.shape[0]}")
        return (design @ self.weights_).astype(np.float32)
