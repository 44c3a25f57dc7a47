"""LightFM hybrid matrix factorisation, scored with precomputed numpy representations.

LightFM represents a user (item) as the sum of the embeddings of its features. With identity columns a
known user/item also gets its own embedding; without them every representation comes from features only,
which is what cold start needs. Scoring is `U @ V.T + b_u + b_i` on arrays from
`get_user_representations` / `get_item_representations` — never `LightFM.predict` per request.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM

from recommender.models.base import Recommender, as_interactions


def _with_identity(features: sp.spmatrix | None, n_rows: int, identity: bool, normalize: bool) -> sp.csr_matrix | None:
    """[identity | features], row-normalised like `lightfm.data.Dataset` if asked; None = LightFM default."""
    blocks: list[sp.spmatrix] = []
    if identity:
        blocks.append(sp.identity(n_rows, dtype=np.float32, format="csr"))
    if features is not None:
        if features.shape[0] != n_rows:
            raise ValueError(f"feature matrix has {features.shape[0]} rows, expected {n_rows}")
        blocks.append(sp.csr_matrix(features, dtype=np.float32))
    if not blocks:
        return None
    matrix = sp.hstack(blocks, format="csr", dtype=np.float32)
    if normalize:
        sums = np.asarray(np.abs(matrix).sum(axis=1)).ravel()
        matrix = sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix
    return sp.csr_matrix(matrix, dtype=np.float32)


class LightFMModel(Recommender):
    """Wrapper around `lightfm.LightFM` (WARP by default).

    `user_identity` / `item_identity`: prepend an identity block to the given feature matrix (ignored when
    no features are given: LightFM then uses identity alone). Set `item_identity=False` to train
    item representations from content only, so unseen items can be scored from their features.
    """

    def __init__(
        self,
        no_components: int = 64,
        loss: str = "warp",
        learning_rate: float = 0.05,
        item_alpha: float = 0.0,
        user_alpha: float = 0.0,
        max_sampled: int = 10,
        epochs: int = 30,
        num_threads: int = 1,
        random_state: int | None = 0,
        user_identity: bool = True,
        item_identity: bool = True,
        normalize_features: bool = True,
    ) -> None:
        self.no_components = no_components
        self.loss = loss
        self.learning_rate = learning_rate
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.max_sampled = max_sampled
        self.epochs = epochs
        self.num_threads = num_threads
        self.random_state = random_state
        self.user_identity = user_identity
        self.item_identity = item_identity
        self.normalize_features = normalize_features

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
    ) -> Self:
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        x = as_interactions(interactions)
        n_users, n_items = x.shape
        self.user_features_ = _with_identity(user_features, n_users, self.user_identity, self.normalize_features)
        self.item_features_ = _with_identity(item_features, n_items, self.item_identity, self.normalize_features)
        self.model_ = LightFM(
            no_components=self.no_components,
            loss=self.loss,
            learning_rate=self.learning_rate,
            item_alpha=self.item_alpha,
            user_alpha=self.user_alpha,
            max_sampled=self.max_sampled,
            random_state=self.random_state,
        )
        self.model_.fit(
            x.tocoo(),
            user_features=self.user_features_,
            item_features=self.item_features_,
            epochs=self.epochs,
            num_threads=self.num_threads,
        )
        self.n_users_, self.n_items_ = n_users, n_items
        self.user_biases_, self.user_vectors_ = self.user_embeddings()
        self.item_biases_, self.item_vectors_ = self.item_embeddings()
        return self

    def user_embeddings(self, user_features: sp.spmatrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(biases (n,), vectors (n, d)) for rows of a full user feature matrix (the fit one when None)."""
        self._check_model()
        features = self.user_features_ if user_features is None else sp.csr_matrix(user_features, dtype=np.float32)
        biases, vectors = self.model_.get_user_representations(features)
        return biases.astype(np.float32), vectors.astype(np.float32)

    def item_embeddings(self, item_features: sp.spmatrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(biases (n,), vectors (n, d)) for rows of a full item feature matrix (the fit one when None)."""
        self._check_model()
        features = self.item_features_ if item_features is None else sp.csr_matrix(item_features, dtype=np.float32)
        biases, vectors = self.model_.get_item_representations(features)
        return biases.astype(np.float32), vectors.astype(np.float32)

    def user_representations_from_features(self, feature_rows: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
        """Representations of unseen users from their features only (same columns as the fit features)."""
        return self.user_embeddings(self._new_rows(feature_rows, self.user_identity, self.n_users_, "user"))

    def item_representations_from_features(self, feature_rows: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
        """Representations of unseen items from their features only (same columns as the fit features)."""
        return self.item_embeddings(self._new_rows(feature_rows, self.item_identity, self.n_items_, "item"))

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = self._check_users(user_rows)
        return self._dot(self.user_biases_[rows], self.user_vectors_[rows], self.item_biases_, self.item_vectors_)

    def score_new_users(self, user_feature_rows: sp.spmatrix) -> np.ndarray:
        """Scores (n_new, n_items) for users known only by their features (cold start)."""
        biases, vectors = self.user_representations_from_features(user_feature_rows)
        return self._dot(biases, vectors, self.item_biases_, self.item_vectors_)

    def score_new_items(self, user_rows: np.ndarray, item_feature_rows: sp.spmatrix) -> np.ndarray:
        """Scores (len(user_rows), n_new) of items known only by their features (cold start)."""
        rows = self._check_users(user_rows)
        biases, vectors = self.item_representations_from_features(item_feature_rows)
        return self._dot(self.user_biases_[rows], self.user_vectors_[rows], biases, vectors)

    @staticmethod
    def _dot(user_b: np.ndarray, user_v: np.ndarray, item_b: np.ndarray, item_v: np.ndarray) -> np.ndarray:
        return (user_v @ item_v.T + user_b[:, None] + item_b[None, :]).astype(np.float32)

    def _check_model(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("LightFMModel is not fitted: call fit() first")

    def _new_rows(self, feature_rows: sp.spmatrix, identity: bool, n_known: int, side: str) -> sp.csr_matrix:
        self._check_model()
        fitted = self.user_features_ if side == "user" else self.item_features_
        n_feature_cols = (fitted.shape[1] if fitted is not None else n_known) - (n_known if identity else 0)
        rows = sp.csr_matrix(feature_rows, dtype=np.float32)
        if fitted is None or rows.shape[1] != n_feature_cols:
            raise ValueError(
                f"{side} feature rows have {rows.shape[1]} columns; the model was fit with {n_feature_cols} "
                f"{side} feature columns (besides identity)"
            )
        blocks = [sp.csr_matrix((rows.shape[0], n_known), dtype=np.float32)] if identity else []
        matrix = sp.hstack([*blocks, rows], format="csr", dtype=np.float32)
        if self.normalize_features:
            sums = np.asarray(np.abs(matrix).sum(axis=1)).ravel()
            matrix = sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix
        return sp.csr_matrix(matrix, dtype=np.float32)
