"""Content model: recommend items whose content vectors resemble what the user already consumed.

Works for items nobody has interacted with yet (cold items), since only their content vector is needed.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.models.base import Recommender, as_interactions


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _dense(features: sp.spmatrix | np.ndarray, name: str) -> np.ndarray:
    array = features.toarray() if sp.issparse(features) else np.asarray(features)
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite 2-D array (n_items, d), got shape {array.shape}")
    return array.astype(np.float32)


class ContentModel(Recommender):
    """User profile = interaction-weighted mean of the unit content vectors of the user's items;
    score = cosine(profile, item vector).

    `center`: subtract the catalogue mean vector first, so a profile says how the user *differs* from
    the average item (otherwise generic items score high for everyone).
    """

    def __init__(self, center: bool = True) -> None:
        self.center = center

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | np.ndarray | None = None,
    ) -> Self:
        """item_features: content vectors (n_items, d), dense or sparse — required."""
        if item_features is None:
            raise ValueError("ContentModel needs item_features: the item content vectors (n_items, d)")
        x = as_interactions(interactions)
        vectors = _dense(item_features, "item_features")
        if vectors.shape[0] != x.shape[1]:
            raise ValueError(f"item_features has {vectors.shape[0]} rows but interactions have {x.shape[1]} items")
        self.mean_vector_ = vectors.mean(axis=0) if self.center else np.zeros(vectors.shape[1], np.float32)
        self.item_vectors_ = _unit_rows(vectors - self.mean_vector_)
        self.interactions_ = x
        self.n_users_, self.n_items_ = x.shape
        return self

    def user_profiles(self, user_rows: np.ndarray) -> np.ndarray:
        """Unit profile vectors (n, d); users without history get a zero profile."""
        rows = self._check_users(user_rows)
        history = self.interactions_[rows]
        totals = np.asarray(history.sum(axis=1)).ravel()
        weighted = np.asarray(history @ self.item_vectors_)
        profiles = np.divide(weighted, totals[:, None], out=np.zeros_like(weighted), where=totals[:, None] > 0)
        return _unit_rows(profiles)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return (self.user_profiles(user_rows) @ self.item_vectors_.T).astype(np.float32)

    def score_new_items(self, user_rows: np.ndarray, item_vectors: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores (len(user_rows), n_new) for items given only their content vectors."""
        self._check_fitted()
        vectors = _dense(item_vectors, "item_vectors")
        if vectors.shape[1] != self.item_vectors_.shape[1]:
            raise ValueError(f"item_vectors have {vectors.shape[1]} columns, expected {self.item_vectors_.shape[1]}")
        unit = _unit_rows(vectors - self.mean_vector_)
        return (self.user_profiles(user_rows) @ unit.T).astype(np.float32)
