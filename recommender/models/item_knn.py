"""Item-item k-nearest-neighbours with shrunk cosine similarity: simple and explainable ("因为你看过…")."""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender, as_interactions


class ItemKNNModel(Recommender):
    """sim(i, j) = x_i·x_j / (‖x_i‖‖x_j‖ + shrinkage), keeping each item's `n_neighbors` most similar items.

    Scores are X_u S: the sum of similarities between a candidate and the user's history items.
    """

    def __init__(self, n_neighbors: int = 100, shrinkage: float = 10.0) -> None:
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
    ) -> Self:
        if self.n_neighbors <= 0:
            raise ValueError(f"n_neighbors must be > 0, got {self.n_neighbors}")
        if self.shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {self.shrinkage}")
        x = as_interactions(interactions)
        n_items = x.shape[1]
        dot = (x.T @ x).toarray().astype(np.float64)
        norms = np.sqrt(np.diag(dot))
        sim = dot / (np.outer(norms, norms) + self.shrinkage + 1e-12)
        np.fill_diagonal(sim, 0.0)
        keep = min(self.n_neighbors, n_items - 1)
        if keep < n_items - 1:
            # for every target item (column) keep only its `keep` most similar source items
            cutoff = np.partition(sim, n_items - keep, axis=0)[n_items - keep]
            sim = np.where(sim >= cutoff[None, :], sim, 0.0)
        self.similarity_ = sp.csr_matrix(sim.astype(np.float32))
        self.interactions_ = x
        self.n_users_, self.n_items_ = x.shape
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return np.asarray((self.interactions_[rows] @ self.similarity_).toarray(), dtype=np.float32)
