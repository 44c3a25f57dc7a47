"""Cold-start companions of the served ranker: whatever model `--model` picked, profile-only requesters
are scored by the cold-user ranker and items added after training by the content-bilinear ranker.

The bundle serves them in the same single product by widening the vectors:

    item rows (trained)   [ main item row | cold-user item row | 0                      ]
    item rows (new)       [ main cold row | cold-user cold row | [features, 1]          ]
    known user            [ main vector   | 0                  | s · bilinear vector + δ ]
    profile-only user     [ 0             | cold-user vector   | 0                      ]

so a known user's scores of trained items are exactly the main ranker's, and a new item's score is the
bilinear one mapped onto the main ranker's scale: `s` (ratio of per-user score spreads) and `δ` (mean
offset) are measured on training users. A companion is left out when the main ranker is that model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.rankers.base import Ranker, RankerError, TrainingData, make_ranker, ranker_from_state

SCALE_USERS = 200
"""Training users (seeded sample) whose score spreads set `s` and `δ`."""
PROFILE_RANKER = "cold-user"
ITEM_RANKER = "content-bilinear"


@dataclass
class ColdStart:
    """`profiles`: ranker for profile-only requesters; `items`: ranker for items added after training;
    `scale`, `offset`: the map of `items`' scores onto the main ranker's."""

    profiles: Ranker | None
    items: Ranker | None
    scale: float = 1.0
    offset: float = 0.0

    def _dims(self) -> tuple[int, int]:
        """Widths of the profile and item blocks (computed once: item_matrix() may build an array)."""
        if getattr(self, "_widths", None) is None:
            p = self.profiles.item_matrix().shape[1] if self.profiles is not None else 0
            i = self.items.item_matrix().shape[1] if self.items is not None else 0
            self._widths = (int(p), int(i))
        return self._widths

    def width(self) -> int:
        """Columns the companions add to the main ranker's item rows and user vectors."""
        return sum(self._dims())

    def item_matrix(self, main: np.ndarray) -> np.ndarray:
        _, i = self._dims()
        parts = [np.asarray(main, np.float32)]
        if self.profiles is not None:
            parts.append(np.asarray(self.profiles.item_matrix(), np.float32))
        parts.append(np.zeros((main.shape[0], i), np.float32))
        return np.hstack(parts)

    def cold_item_matrix(self, main_rows: np.ndarray, item_features: sp.csr_matrix) -> np.ndarray:
        parts = [np.asarray(main_rows, np.float32)]
        if self.profiles is not None:
            parts.append(self.profiles.cold_item_matrix(item_features))
        if self.items is not None:
            parts.append(self.items.cold_item_matrix(item_features))
        return np.hstack(parts).astype(np.float32)

    def user_vector(self, main_vector: np.ndarray, user_row: int, history: np.ndarray) -> np.ndarray:
        p, i = self._dims()
        tail = np.zeros(i, np.float32)
        if self.items is not None:
            bilinear = self.items.user_vector(user_row, history)
            if bilinear is not None:
                tail = self.scale * bilinear
                tail[-1] += self.offset  # the bilinear item rows end with a constant 1
        return np.concatenate([main_vector, np.zeros(p, np.float32), tail]).astype(np.float32)

    def profile_vector(self, main_dim: int, user_features: sp.csr_matrix) -> np.ndarray | None:
        if self.profiles is None:
            return None
        vector = self.profiles.profile_vector(user_features)
        if vector is None:
            return None
        _, i = self._dims()
        return np.concatenate([np.zeros(main_dim, np.float32), vector, np.zeros(i, np.float32)]).astype(np.float32)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays: dict[str, np.ndarray] = {}
        params: dict[str, Any] = {"scale": self.scale, "offset": self.offset}
        for role, ranker in (("profiles", self.profiles), ("items", self.items)):
            if ranker is not None:
                part, part_params = ranker.state()
                arrays.update({f"{role}.{k}": v for k, v in part.items()})
                params[role] = {"name": ranker.name, "params": part_params, "arrays": sorted(part)}
        return arrays, params

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> ColdStart:
        restored: dict[str, Ranker | None] = {}
        for role in ("profiles", "items"):
            spec = params.get(role)
            restored[role] = (
                None
                if spec is None
                else ranker_from_state(spec["name"], {k: arrays[f"{role}.{k}"] for k in spec["arrays"]}, spec["params"])
            )
        return cls(restored["profiles"], restored["items"], float(params["scale"]), float(params["offset"]))


def fit_cold_start(
    main: Ranker, data: TrainingData, seed: int = 0, fit: Callable[[str], Ranker] | None = None
) -> ColdStart | None:
    """Fit the companions the main ranker lacks; None when it is both (or neither can be fitted).
    `fit(name)`: how to get a companion fitted on `data` (default: a fresh fit; the trainer's cache)."""
    fit = fit or (lambda name: make_ranker(name, seed=seed).fit(data))
    profiles = items = None
    if main.name != PROFILE_RANKER and data.user_features.shape[1] > 0:
        try:
            profiles = fit(PROFILE_RANKER)
        except RankerError:
            profiles = None
    if main.name != ITEM_RANKER and data.item_features.shape[1] > 0:
        items = fit(ITEM_RANKER)
    if profiles is None and items is None:
        return None
    cold = ColdStart(profiles, items)
    if items is not None:
        cold.scale, cold.offset = _score_map(main, items, data, seed)
    return cold


def _score_map(main: Ranker, items: Ranker, data: TrainingData, seed: int) -> tuple[float, float]:
    """(s, δ) with s·bilinear + δ matching the main ranker's per-user spread and mean on training users."""
    rng = np.random.default_rng(seed)
    users = np.flatnonzero(np.diff(data.interactions.indptr) > 0)
    users = rng.choice(users, size=min(SCALE_USERS, len(users)), replace=False) if len(users) else users
    main_items, item_rows = main.item_matrix(), items.item_matrix()
    spreads, means = [], []
    for row in users:
        history = data.interactions[row].toarray().ravel()
        a, b = main.user_vector(int(row), history), items.user_vector(int(row), history)
        if a is None or b is None:
            continue
        sa, sb = main_items @ a, item_rows @ b
        if np.std(sb) > 0:
            spreads.append(float(np.std(sa) / np.std(sb)))
            means.append((float(np.mean(sa)), float(np.mean(sb))))
    if not spreads:
        return 1.0, 0.0
    scale = float(np.mean(spreads))
    offset = float(np.mean([ma - scale * mb for ma, mb in means]))
    return scale, offset
