"""LightFM hybrid (WARP) as a servable ranker: identity + feature embeddings, so known users and items use
their own rows while profiles and items added after training are composed from feature embeddings, the
way LightFM builds every representation (row-normalised features · embeddings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.models.lightfm_model import LightFMModel
from recommender.rankers.base import TrainingData, register_ranker

ARRAYS = (
    "item_embeddings",
    "item_biases",
    "user_embeddings",
    "user_biases",
    "user_feature_embeddings",
    "user_feature_biases",
    "item_feature_embeddings",
    "item_feature_biases",
)
DEFAULTS: dict[str, Any] = {
    "no_components": 64,
    "epochs": 30,
    "learning_rate": 0.03,
    "item_alpha": 1e-5,
    "user_alpha": 1e-5,
}
"""The setting measured in docs/evaluation.md (chosen on the RecBole protocol's validation part)."""


def compose(rows: sp.spmatrix, emb: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, biases) of feature-only rows: L1-normalised rows · feature embeddings, as LightFM does."""
    matrix = sp.csr_matrix(rows, dtype=np.float32)
    if matrix.shape[1] != emb.shape[0]:
        raise ValueError(f"feature rows have {matrix.shape[1]} columns, the model has {emb.shape[0]}")
    sums = np.asarray(np.abs(matrix).sum(axis=1)).ravel()
    matrix = sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix
    vectors = np.asarray(matrix @ np.asarray(emb, dtype=np.float32), dtype=np.float32)
    biases = np.asarray(matrix @ np.asarray(bias, dtype=np.float32), dtype=np.float32).ravel()
    return vectors, biases


class LightFMRanker:
    """Item rows `[embedding, 1, bias]`, user vectors `[embedding, bias, 1]`: their product is LightFM's score."""

    name = "lightfm"

    def __init__(self, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.params = {**DEFAULTS, **params}
        self.arrays: dict[str, np.ndarray] = {}

    def fit(self, data: TrainingData) -> Self:
        model = LightFMModel(loss="warp", num_threads=1, random_state=self.seed, **self.params)
        model.fit(data.interactions, user_features=data.user_features, item_features=data.item_features)
        lfm = model.model_
        n_users, n_items = data.interactions.shape
        self.arrays = {
            "item_embeddings": model.item_vectors_,
            "item_biases": model.item_biases_,
            "user_embeddings": model.user_vectors_,
            "user_biases": model.user_biases_,
            "user_feature_embeddings": lfm.user_embeddings[n_users:].astype(np.float32),
            "user_feature_biases": lfm.user_biases[n_users:].astype(np.float32),
            "item_feature_embeddings": lfm.item_embeddings[n_items:].astype(np.float32),
            "item_feature_biases": lfm.item_biases[n_items:].astype(np.float32),
        }
        return self

    def item_matrix(self) -> np.ndarray:
        emb = np.asarray(self.arrays["item_embeddings"], dtype=np.float32)
        bias = np.asarray(self.arrays["item_biases"], dtype=np.float32)[:, None]
        return np.hstack([emb, np.ones_like(bias), bias])

    def cold_item_matrix(self, item_features: sp.csr_matrix) -> np.ndarray:
        vectors, biases = compose(
            item_features, self.arrays["item_feature_embeddings"], self.arrays["item_feature_biases"]
        )
        return np.hstack([vectors, np.ones((len(biases), 1), np.float32), biases[:, None]])

    def user_vector(self, user_row: int, history: np.ndarray) -> np.ndarray | None:
        if user_row < 0:
            return None
        emb = np.asarray(self.arrays["user_embeddings"][user_row], dtype=np.float32)
        return np.concatenate([emb, [float(self.arrays["user_biases"][user_row]), 1.0]]).astype(np.float32)

    def profile_vector(self, user_features: sp.csr_matrix) -> np.ndarray | None:
        vectors, biases = compose(
            user_features, self.arrays["user_feature_embeddings"], self.arrays["user_feature_biases"]
        )
        return np.concatenate([vectors[0], [biases[0], 1.0]]).astype(np.float32)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return dict(self.arrays), {"seed": self.seed, **self.params}

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Self:
        params = dict(params)
        ranker = cls(seed=int(params.pop("seed", 0)), **params)
        ranker.arrays = {name: arrays[name] for name in ARRAYS}
        return ranker


register_ranker("lightfm", LightFMRanker, LightFMRanker.from_state)
