"""The cold-user ranker (`recommender.models.cold_user_ranker`) in servable form: users known only by a
profile (audience, age band, town, interests, channel — the user-feature columns).

For a (user, item) pair the features are the item's log global popularity, for every profile column the
user has, the item's popularity lift among training users with that column (shrunk towards global), and
the lift a demographic ridge over all columns predicts. A logistic regression weighs them; its training
pairs come from simulated cold start (K folds of training users, each featurised from the other folds
only). Every feature is linear in the profile columns, so the score is one product of the item matrix
`[log_global, lift per column, ridge weights per column / mean]` with a profile vector — the service's
single matrix-vector product. The offline model's arrival-time features are left out: a live request
always comes after training, where they equal the popularity this ranker already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from recommender.models.demographic import DemographicRidgeModel
from recommender.rankers.base import RankerError, TrainingData, register_ranker

FLOOR = 1e-6
MAX_USERS = 20_000
"""Training users (a seeded sample) the segment statistics and the regression use: the lifts are stable
long before, and the dense profile design stays small however many users the store has."""
NEGATIVES_PER_USER = 100
"""Non-interacted items sampled per simulated cold user (case-control: the weights stay consistent)."""


class _Reference:
    """Popularity, per-column lifts and the ridge of one set of reference users."""

    def __init__(self, matrix: sp.csr_matrix, active: np.ndarray, shrinkage: float, ridge_lambda: float) -> None:
        counts = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        share = counts / max(counts.sum(), FLOOR)
        self.log_global = np.log(share + FLOOR)
        column_counts = np.asarray((matrix.T @ sp.csr_matrix(active)).T.todense(), dtype=np.float64)
        totals = column_counts.sum(axis=1, keepdims=True)
        shrunk = (column_counts + shrinkage * share[None, :]) / (totals + shrinkage)
        self.lift = np.log(shrunk + FLOOR) - self.log_global[None, :]  # (n_columns, n_items)
        ridge = DemographicRidgeModel(ridge_lambda).fit(matrix, user_features=active)
        mean = np.clip(np.asarray(matrix.mean(axis=0), dtype=np.float64).ravel(), 1e-4, None)
        self.ridge = ridge.weights_ / mean[None, :]  # ((n_columns + 1), n_items): prediction / mean

    def features(self, active: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(len(items), 2 + n_columns) pair features of one user (active columns) against `items`."""
        lifts = active[:, None] * self.lift[:, items]
        ridge = np.append(active, 1.0) @ self.ridge[:, items]
        return np.column_stack([self.log_global[items], lifts.T, ridge]).astype(np.float32)


class ColdUserRanker:
    """`segment_shrinkage`: pseudo-events pulling a column's item shares to global; `ridge_regularization`:
    λ of the demographic ridge; `n_folds`: folds of the simulated cold start; `C`: inverse L2 of the
    logistic regression (defaults as `ColdUserRankerModel`, docs/evaluation.md §4)."""

    name = "cold-user"

    def __init__(
        self,
        seed: int = 0,
        segment_shrinkage: float = 500.0,
        ridge_regularization: float = 100.0,
        n_folds: int = 5,
        C: float = 1.0,
    ) -> None:
        self.seed = seed
        self.params = {
            "segment_shrinkage": float(segment_shrinkage),
            "ridge_regularization": float(ridge_regularization),
            "n_folds": int(n_folds),
            "C": float(C),
        }
        self.items_: np.ndarray | None = None  # (n_items, 2 + 2·n_columns + 1)
        self.coef_: np.ndarray | None = None  # (2 + n_columns,): log_global, per-column lift, ridge

    def _reference(self, matrix: sp.csr_matrix, active: np.ndarray) -> _Reference:
        return _Reference(matrix, active, self.params["segment_shrinkage"], self.params["ridge_regularization"])

    def fit(self, data: TrainingData) -> Self:
        x = sp.csr_matrix(data.interactions, dtype=np.float64)
        x.data[:] = 1.0
        active = (np.asarray(data.user_features.toarray()) > 0).astype(np.float64)
        rng = np.random.default_rng(self.seed)
        users = np.flatnonzero(np.diff(x.indptr) > 0)
        if len(users) > MAX_USERS:
            users = np.sort(rng.choice(users, MAX_USERS, replace=False))
        n_folds = self.params["n_folds"]
        if len(users) < n_folds:
            raise RankerError(f"model: cold-user needs at least {n_folds} users with events, got {len(users)}")
        x, active = x[users], active[users]
        n_items = x.shape[1]
        blocks, labels = [], []
        for fold in np.array_split(rng.permutation(len(users)), n_folds):
            rest = np.setdiff1d(np.arange(len(users)), fold)
            ref = self._reference(x[rest], active[rest])
            for u in fold:
                positives = x.indices[x.indptr[u] : x.indptr[u + 1]]
                negatives = rng.choice(n_items, size=min(NEGATIVES_PER_USER, n_items), replace=False)
                negatives = np.setdiff1d(negatives, positives)
                blocks.append(ref.features(active[u], np.concatenate([positives, negatives])))
                labels.append(np.r_[np.ones(len(positives)), np.zeros(len(negatives))])
        target = np.concatenate(labels)
        if target.min() == target.max():
            raise RankerError("model: cold-user needs both interacted and non-interacted items")
        design = np.concatenate(blocks)
        # standardised columns converge in a few L-BFGS steps; the shift is one constant per user (it
        # moves every item's score alike), so coef / std ranks exactly as the fitted model does
        probe = design[rng.choice(len(design), size=min(len(design), 20_000), replace=False)]
        center, spread = probe.mean(axis=0), probe.std(axis=0)
        spread[spread == 0] = 1.0
        design -= center
        design /= spread
        regression = LogisticRegression(C=self.params["C"], max_iter=300).fit(design, target)
        self.coef_ = (regression.coef_[0] / spread).astype(np.float32)
        ref = self._reference(x, active)
        self.items_ = np.column_stack([ref.log_global, ref.lift.T, ref.ridge.T]).astype(np.float32)
        return self

    def _checked(self) -> tuple[np.ndarray, np.ndarray]:
        if self.items_ is None or self.coef_ is None:
            raise RuntimeError("cold-user ranker is not fitted")
        return self.items_, self.coef_

    def item_matrix(self) -> np.ndarray:
        return self._checked()[0]

    def cold_item_matrix(self, item_features: sp.csr_matrix) -> np.ndarray:
        """Items without events: no popularity (log floor), no lift, no ridge mass."""
        items, _ = self._checked()
        rows = np.zeros((item_features.shape[0], items.shape[1]), dtype=np.float32)
        rows[:, 0] = np.log(FLOOR)
        return rows

    def user_vector(self, user_row: int, history: np.ndarray) -> np.ndarray | None:
        return None  # known users are scored from their profile (the service falls back to profile_vector)

    def profile_vector(self, user_features: sp.csr_matrix) -> np.ndarray | None:
        _, coef = self._checked()
        active = (np.asarray(sp.csr_matrix(user_features).toarray()).ravel() > 0).astype(np.float32)
        if len(active) != len(coef) - 2:
            raise ValueError(f"profile has {len(active)} columns, the model {len(coef) - 2}")
        return np.concatenate([coef[:1], coef[1:-1] * active, coef[-1] * np.append(active, 1.0)]).astype(np.float32)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        items, coef = self._checked()
        return {"items": items, "coef": coef}, {"seed": self.seed, **self.params}

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> Self:
        params = dict(params)
        ranker = cls(seed=int(params.pop("seed", 0)), **params)
        ranker.items_ = np.asarray(arrays["items"])
        ranker.coef_ = np.asarray(arrays["coef"])
        return ranker


register_ranker("cold-user", ColdUserRanker, ColdUserRanker.from_state)
