"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008; implicit's conjugate-gradient solver) as a servable
ranker: the model `--model auto` affords at millions of events, where LightFM's WARP epochs cost 2.4–6.1×
an ALS pass on the same matrix (bench/README.md, "Training at scale").

Known users get their trained factor row; a user unseen in training but with a live history is folded
in (one f×f solve against the fixed item factors, the ALS user step); profile-only visitors and items
added after training get nothing here — the cold-start companions (`recommender.rankers.cold_start`)
answer them, as they do for EASE. Fitting needs `implicit` (imported on fit only: serving a saved bundle
is plain numpy). One thread and a seeded start make the factors reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.rankers.base import TrainingData, register_ranker

DEFAULTS: dict[str, Any] = {"factors": 64, "regularization": 0.05, "alpha": 10.0, "iterations": 15}
"""`alpha` scales the decayed event weights into confidences (c = 1 + alpha·w)."""


class ALSRanker:
    """Item rows are the item factors, a known user's vector their user factors: score = x_u · y_i."""

    name = "als"

    def __init__(self, seed: int = 0, **params: Any) -> None:
        self.seed = seed
        self.params = {**DEFAULTS, **params}
        self.user_factors_: np.ndarray | None = None
        self.item_factors_: np.ndarray | None = None
        self._gram: np.ndarray | None = None

    def fit(self, data: TrainingData, start: tuple[np.ndarray, np.ndarray] | None = None) -> Self:
        """Fit on the interaction CSR. `start` = (user_factors, item_factors) warm-starts the solver (e.g.
        from the validation fit, rows mapped onto these users and items) so fewer iterations are needed."""
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits  # implicit's own dependency

        params = self.params
        with threadpool_limits(1, "blas"):  # implicit warns that a BLAS thread pool slows its solver
            model = AlternatingLeastSquares(
                factors=int(params["factors"]),
                regularization=float(params["regularization"]),
                alpha=float(params["alpha"]),
                iterations=int(params["iterations"]),
                num_threads=1,
                random_state=self.seed,
            )
            if start is not None:
                model.user_factors = np.ascontiguousarray(start[0], dtype=np.float32)
                model.item_factors = np.ascontiguousarray(start[1], dtype=np.float32)
            model.fit(sp.csr_matrix(data.interactions, dtype=np.float32), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self._gram = None
        return self

    def _checked(self) -> tuple[np.ndarray, np.ndarray]:
        if self.user_factors_ is None or self.item_factors_ is None:
            raise RuntimeError("als ranker is not fitted")
        return self.user_factors_, self.item_factors_

    def item_matrix(self) -> np.ndarray:
        return self._checked()[1]

    def cold_item_matrix(self, item_features: sp.csr_matrix) -> np.ndarray:
        return np.zeros((item_features.shape[0], self._checked()[1].shape[1]), dtype=np.float32)

    def user_vector(self, user_row: int, history: np.ndarray) -> np.ndarray | None:
        users, _ = self._checked()
        if user_row >= 0:
            return np.asarray(users[user_row], dtype=np.float32)
        return self.fold_in(np.asarray(history, dtype=np.float32))

    def fold_in(self, history: np.ndarray) -> np.ndarray | None:
        """The ALS user step for one history (weights over the trained items): solve
        (YᵀY + Yᵀ(C−I)Y + λI) x = Yᵀ C p; None for an empty history."""
        _, items = self._checked()
        read = np.flatnonzero(history > 0)
        if not len(read):
            return None
        if self._gram is None:
            self._gram = (items.T.astype(np.float64) @ items.astype(np.float64)).astype(np.float64)
        y = items[read].astype(np.float64)
        confidence = 1.0 + float(self.params["alpha"]) * history[read].astype(np.float64)
        lhs = self._gram + (y.T * (confidence - 1.0)) @ y + float(self.params["regularization"]) * np.eye(y.shape[1])
        return np.linalg.solve(lhs, y.T @ confidence).astype(np.float32)

    def profile_vector(self, user_features: sp.csr_matrix) -> np.ndarray | None:
        return None

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        users, items = self._checked()
        return {"user_factors": users, "item_factors": items}, {"seed": self.seed, **self.params}

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Self:
        params = dict(params)
        ranker = cls(seed=int(params.pop("seed", 0)), **params)
        ranker.user_factors_ = np.asarray(arrays["user_factors"])
        ranker.item_factors_ = np.asarray(arrays["item_factors"])
        return ranker


def warm_start(
    previous: ALSRanker, previous_users: list[str], users: list[str], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Starting factors for a fit on `users` (same items) from a fit on `previous_users`: known users keep
    their rows, users new since then start small and random as implicit starts everyone."""
    old_users, items = previous._checked()
    rng = np.random.default_rng(seed)
    start = (rng.random((len(users), old_users.shape[1]), dtype=np.float32) * 0.01).astype(np.float32)
    position = {key: row for row, key in enumerate(previous_users)}
    rows = np.array([position.get(key, -1) for key in users], dtype=np.int64)
    known = rows >= 0
    start[known] = old_users[rows[known]]
    return start, items.copy()


register_ranker("als", ALSRanker, ALSRanker.from_state)
