"""A blend of rankers served as one: item rows and user vectors are the parts' concatenated side by side,
each part scaled by `weight / scale`, so one product gives `Σ weight · score_part / scale_part`.

`scale` is the part's mean per-user score standard deviation on training users: it puts EASE's and
LightFM's very different score ranges on one footing (the offline rank blend's role, but servable as a
single dot product). A part that cannot score a user (EASE for a profile-only visitor) contributes zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.rankers.base import Ranker, TrainingData, make_ranker, ranker_from_state, register_ranker

DEFAULT_WEIGHTS: tuple[float, ...] = (0.7, 0.3)
"""EASE 0.7, LightFM 0.3: the offline rank blend's validation-picked LightFM share (0.2–0.35) rounded."""
SCALE_USERS = 200
"""Training users whose score spread sets each part's scale (seeded sample; enough for a stable mean)."""


class BlendRanker:
    """`parts`: ranker names; `weights`: one non-negative weight per part."""

    name = "ease+lightfm"

    def __init__(
        self, seed: int = 0, parts: tuple[str, ...] = ("ease", "lightfm"), weights: tuple[float, ...] = DEFAULT_WEIGHTS
    ) -> None:
        if len(parts) != len(weights) or not parts or min(weights) < 0:
            raise ValueError("blend: one non-negative weight per part")
        self.seed = seed
        self.parts = tuple(parts)
        self.weights = tuple(float(w) for w in weights)
        self.rankers: list[Ranker] = []
        self.scales: list[float] = []
        self._dims: list[int] = []

    @classmethod
    def from_parts(
        cls, rankers: list[Ranker], data: TrainingData, seed: int = 0, weights: tuple[float, ...] | None = None
    ) -> BlendRanker:
        """A blend of rankers already fitted on `data` (only the scales are computed)."""
        blend = cls(seed, tuple(r.name for r in rankers), weights or DEFAULT_WEIGHTS[: len(rankers)])
        blend.rankers = list(rankers)
        blend._fit_scales(data)
        return blend

    def fit(self, data: TrainingData) -> Self:
        self.rankers = [make_ranker(name, seed=self.seed).fit(data) for name in self.parts]
        self._fit_scales(data)
        return self

    def _fit_scales(self, data: TrainingData) -> None:
        rng = np.random.default_rng(self.seed)
        users = np.flatnonzero(np.diff(data.interactions.indptr) > 0)
        users = rng.choice(users, size=min(SCALE_USERS, len(users)), replace=False) if len(users) else users
        self.scales = []
        for ranker in self.rankers:
            items, spreads = ranker.item_matrix(), []
            for row in users:
                vector = ranker.user_vector(int(row), data.interactions[row].toarray().ravel())
                if vector is not None:
                    spreads.append(float(np.std(items @ vector)))
            self.scales.append(float(np.mean(spreads)) if spreads and np.mean(spreads) > 0 else 1.0)

    def _factors(self) -> list[float]:
        return [w / s for w, s in zip(self.weights, self.scales, strict=True)]

    def item_matrix(self) -> np.ndarray:
        return np.hstack([r.item_matrix() * f for r, f in zip(self.rankers, self._factors(), strict=True)])

    def cold_item_matrix(self, item_features: sp.csr_matrix) -> np.ndarray:
        parts = [r.cold_item_matrix(item_features) * f for r, f in zip(self.rankers, self._factors(), strict=True)]
        return np.hstack(parts).astype(np.float32)

    def _concat(self, vectors: list[np.ndarray | None]) -> np.ndarray | None:
        if all(v is None for v in vectors):
            return None
        dims = [r.item_matrix().shape[1] for r in self.rankers] if not self._dims else self._dims
        self._dims = dims
        return np.concatenate(
            [np.zeros(d, np.float32) if v is None else v for v, d in zip(vectors, dims, strict=True)]
        ).astype(np.float32)

    def user_vector(self, user_row: int, history: np.ndarray) -> np.ndarray | None:
        return self._concat([r.user_vector(user_row, history) for r in self.rankers])

    def profile_vector(self, user_features: sp.csr_matrix) -> np.ndarray | None:
        return self._concat([r.profile_vector(user_features) for r in self.rankers])

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays: dict[str, np.ndarray] = {}
        sub_params = []
        for i, ranker in enumerate(self.rankers):
            part_arrays, params = ranker.state()
            arrays.update({f"part{i}.{name}": value for name, value in part_arrays.items()})
            sub_params.append(params)
        params = {"seed": self.seed, "parts": list(self.parts), "weights": list(self.weights)}
        return arrays, {**params, "scales": self.scales, "part_params": sub_params}

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Self:
        blend = cls(seed=int(params["seed"]), parts=tuple(params["parts"]), weights=tuple(params["weights"]))
        blend.scales = [float(s) for s in params["scales"]]
        for i, (name, sub) in enumerate(zip(blend.parts, params["part_params"], strict=True)):
            prefix = f"part{i}."
            sub_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            blend.rankers.append(ranker_from_state(name, sub_arrays, sub))
        return blend


register_ranker("ease+lightfm", BlendRanker, BlendRanker.from_state)
