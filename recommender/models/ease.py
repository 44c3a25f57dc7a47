"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): closed-form item-item linear model.

B = I − P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and a zero diagonal; scores are X_u B. One dense
n_items × n_items inverse, so it suits catalogues up to ~20k items — Kepu's and MovieLens' size.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender, as_interactions


class EASEModel(Recommender):
    """Parameters: `regularization` λ (L2 on B; larger for denser data, ~100–1000 on MovieLens)."""

    def __init__(self, regularization: float = 500.0) -> None:
        self.regularization = regularization

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
    ) -> Self:
        if self.regularization <= 0:
            raise ValueError(f"regularization must be > 0, got {self.regularization}")
        x = as_interactions(interactions)
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.regularization
        precision = np.linalg.inv(gram)
        weights = -precision / np.diag(precision)[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.item_weights_ = weights.astype(np.float32)
        self.interactions_ = x
        self.n_users_, self.n_items_ = x.shape
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return np.asarray(self.interactions_[rows] @ self.item_weights_, dtype=np.float32)
