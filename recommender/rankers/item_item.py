"""Item-item rankers (EASE, item-kNN) served over the user's *live* history.

Their user vector is the user's current history row (events after training count at once, new users
with a few reads are scored too), their item matrix the transposed item-item weights, so a request is
still one matrix-vector product. Items added after training get zero rows: these models know nothing
about them, and the service's content source ranks them instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.models.ease import EASEModel
from recommender.models.item_knn import ItemKNNModel
from recommender.rankers.base import EASE_MAX_ITEMS, RankerError, TrainingData, register_ranker


class ItemItemRanker:
    """Base: `weights_` (n_items × n_items, row = source item, column = target) learned by `_weights`."""

    name = "item-item"

    def __init__(self, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.params = dict(params)
        self.weights_: np.ndarray | None = None

    def _weights(self, interactions: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def fit(self, data: TrainingData) -> Self:
        if data.n_items > EASE_MAX_ITEMS:
            raise RankerError(
                f"model: {self.name} is dense items×items; {data.n_items} items exceed the limit of "
                f"{EASE_MAX_ITEMS} (use --model lightfm)"
            )
        self.weights_ = np.ascontiguousarray(self._weights(data.interactions), dtype=np.float32)
        return self

    def _checked(self) -> np.ndarray:
        if self.weights_ is None:
            raise RuntimeError(f"{self.name} ranker is not fitted")
        return self.weights_

    def item_matrix(self) -> np.ndarray:
        return self._checked().T

    def cold_item_matrix(self, item_features: sp.csr_matrix) -> np.ndarray:
        return np.zeros((item_features.shape[0], self._checked().shape[0]), dtype=np.float32)

    def user_vector(self, user_row: int, history: np.ndarray) -> np.ndarray | None:
        history = np.asarray(history, dtype=np.float32)
        return history if history.any() else None

    def profile_vector(self, user_features: sp.csr_matrix) -> np.ndarray | None:
        return None

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"weights": self._checked()}, {"seed": self.seed, **self.params}

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Self:
        params = dict(params)
        ranker = cls(seed=int(params.pop("seed", 0)), **params)
        ranker.weights_ = np.asarray(arrays["weights"])
        return ranker


class EASERanker(ItemItemRanker):
    """EASE (Steck 2019); `regularization` λ as in docs/evaluation.md (400 won on every MovieLens seed)."""

    name = "ease"

    def __init__(self, seed: int = 0, regularization: float = 400.0) -> None:
        super().__init__(seed, regularization=regularization)

    def _weights(self, interactions: sp.csr_matrix) -> np.ndarray:
        return EASEModel(self.params["regularization"]).fit(interactions).item_weights_


class ItemKNNRanker(ItemItemRanker):
    """Cosine item-kNN with shrinkage (the evaluation's ItemKNN)."""

    name = "item-knn"

    def __init__(self, seed: int = 0, n_neighbors: int = 100, shrinkage: float = 10.0) -> None:
        super().__init__(seed, n_neighbors=n_neighbors, shrinkage=shrinkage)

    def _weights(self, interactions: sp.csr_matrix) -> np.ndarray:
        model = ItemKNNModel(self.params["n_neighbors"], self.params["shrinkage"]).fit(interactions)
        return model.similarity_.toarray()


register_ranker("ease", EASERanker, EASERanker.from_state)
register_ranker("item-knn", ItemKNNRanker, ItemKNNRanker.from_state)
