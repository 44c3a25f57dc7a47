"""The `Ranker` protocol, its training input, and the name → class registry `kepu train --model` uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
import scipy.sparse as sp

EASE_MAX_ITEMS = 8_000
"""Largest catalog the dense item×item rankers (EASE, item-kNN) train on: their n×n float64 Gram inverse
needs 8·n² bytes (0.5 GB at 8,000 items) and their served item matrix 4·n² bytes. Above it `--model auto`
skips them with a message and an explicit `--model ease` is refused."""


class RankerError(ValueError):
    """A ranker cannot be built, trained on this data, or restored from a bundle."""


@dataclass(frozen=True)
class TrainingData:
    """What every ranker is fitted on; rows and columns follow the bundle's user and item id maps.

    interactions: float32 CSR (n_users × n_items) of (decayed) positive weights.
    user_features: CSR (n_users × n_user_features), feature columns only (no identity).
    item_features: CSR (n_items × n_item_features), feature columns only (no identity).
    """

    interactions: sp.csr_matrix
    user_features: sp.csr_matrix
    item_features: sp.csr_matrix

    @property
    def n_items(self) -> int:
        return int(self.interactions.shape[1])


class Ranker(Protocol):
    """One servable model. `score(user, item) = item_matrix()[item] @ user vector`.

    - `user_vector(row, history)`: a user seen in training (`row` ≥ 0, else -1) with their current
      history (dense weights over the training items, events after training included); None when this
      ranker cannot score them (the service then leans on its other sources).
    - `profile_vector(features)`: a user known only by a profile (1 × n_user_features); None if unsupported.
    - `cold_item_matrix(features)`: rows for items added after training (m × n_item_features → m × d);
      zero rows when the ranker has nothing to say about unseen items.
    - `state()` / `from_state()`: arrays and JSON params for the bundle, restoring identical scores.
    """

    name: str

    def fit(self, data: TrainingData) -> Self: ...
    def item_matrix(self) -> np.ndarray: ...
    def cold_item_matrix(self, item_features: sp.csr_matrix) -> np.ndarray: ...
    def user_vector(self, user_row: int, history: np.ndarray) -> np.ndarray | None: ...
    def profile_vector(self, user_features: sp.csr_matrix) -> np.ndarray | None: ...
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Self: ...


_REGISTRY: dict[str, Callable[..., Ranker]] = {}
_RESTORERS: dict[str, Callable[[Mapping[str, np.ndarray], Mapping[str, Any]], Ranker]] = {}


def register_ranker(name: str, factory: Callable[..., Ranker], restore: Callable[..., Ranker]) -> None:
    """Make `name` trainable (`factory(seed=…, **params)`) and restorable from a bundle."""
    _REGISTRY[name] = factory
    _RESTORERS[name] = restore


def ranker_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def make_ranker(name: str, seed: int = 0, **params: Any) -> Ranker:
    """A fresh, unfitted ranker by name (see `ranker_names()`)."""
    _load_builtin()
    if name not in _REGISTRY:
        raise RankerError(f"model: unknown ranker {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](seed=seed, **params)


def ranker_from_state(name: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Ranker:
    """Restore a ranker saved in a bundle."""
    _load_builtin()
    if name not in _RESTORERS:
        raise RankerError(f"bundle holds ranker {name!r}, which this Kepu cannot serve ({sorted(_RESTORERS)})")
    return _RESTORERS[name](arrays, params)


def score_users(ranker: Ranker, user_rows: np.ndarray, histories: sp.csr_matrix) -> np.ndarray:
    """Scores (len(user_rows), n_items) of known users, exactly as the service computes them."""
    items = ranker.item_matrix()
    hist = sp.csr_matrix(histories)
    out = np.full((len(user_rows), items.shape[0]), np.nan, dtype=np.float32)
    for i, row in enumerate(np.asarray(user_rows, dtype=np.int64)):
        vector = ranker.user_vector(int(row), hist[i].toarray().ravel())
        if vector is not None:
            out[i] = items @ vector
    return out


def _load_builtin() -> None:
    """Import the built-in rankers (they register themselves; repeated imports are no-ops)."""
    import recommender.rankers.als
    import recommender.rankers.blend
    import recommender.rankers.cold_user
    import recommender.rankers.content_bilinear
    import recommender.rankers.item_item
    import recommender.rankers.lightfm_ranker  # noqa: F401
