"""Learned ranker for brand-new users known only by segments (age band, gender, occupation …) and arrival time.

Each (new user, item) pair gets a few item-side features: log global popularity, the item's popularity
lift inside each of the user's segments (shrunk towards global), the lift predicted by a demographic ridge,
and — when `use_time` — the item's share among events strictly BEFORE the user's arrival (all past, and
the last few days), so no future interaction is ever used. A logistic regression weighs them. Its training
pairs come from simulating cold start on the training users: in K folds, each fold's users are hidden and
featurised from the other folds only, and the weights learn to predict the hidden users' items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from recommender.models.base import Recommender, as_interactions
from recommender.models.demographic import DemographicRidgeModel

DAY_SECONDS = 86_400.0
_FLOOR = 1e-6


def _one_hot(segments: Mapping[str, np.ndarray], vocab: Mapping[str, np.ndarray]) -> np.ndarray:
    """One-hot design of segment labels over a fixed vocabulary (unknown labels → all zeros)."""
    blocks = []
    for kind, labels in vocab.items():
        values = np.asarray(segments[kind])
        blocks.append((values[:, None] == labels[None, :]).astype(np.float64))
    return np.hstack(blocks)


def _past_counts(items: np.ndarray, times: np.ndarray, query_times: np.ndarray, n_items: int) -> np.ndarray:
    """(len(query_times), n_items) counts of the events with time < each query time (one sweep over time)."""
    order = np.argsort(times, kind="stable")
    items, times = items[order], times[order]
    out = np.zeros((len(query_times), n_items), dtype=np.float64)
    running = np.zeros(n_items, dtype=np.float64)
    done = 0
    for q in np.argsort(query_times, kind="stable"):
        end = int(np.searchsorted(times, query_times[q], side="left"))
        if end > done:
            running += np.bincount(items[done:end], minlength=n_items)
            done = end
        out[q] = running
    return out


class _Reference:
    """The interactions new users are featurised against: events, segment labels and a ridge model."""

    def __init__(
        self,
        matrix: sp.csr_matrix,
        times: sp.csr_matrix | None,
        segments: Mapping[str, np.ndarray],
        vocab: Mapping[str, np.ndarray],
        ridge_regularization: float,
    ) -> None:
        self.matrix = matrix
        coo = matrix.tocoo()
        self.event_users, self.event_items = coo.row, coo.col
        self.event_times = None if times is None else sp.csr_matrix(times).tocoo().data.astype(np.float64)
        self.segments = segments
        counts = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        self.global_share = counts / max(counts.sum(), _FLOOR)
        self.ridge = DemographicRidgeModel(ridge_regularization).fit(matrix, user_features=_one_hot(segments, vocab))
        self.vocab = vocab


class ColdUserRankerModel(Recommender):
    """Parameters
    ----------
    segment_shrinkage: pseudo-count of events pulling a segment's item shares towards global shares.
    ridge_regularization: λ of the inner `DemographicRidgeModel` (one-hot of every segment kind).
    windows_days: lengths of the "recent past" windows (days before arrival) used when `use_time`.
    use_time: add strictly-before-arrival popularity features; then `fit` needs `timestamps` and
        `score_new_users` needs `request_times`.
    n_folds: folds of the simulated cold start on training users.
    C: inverse L2 strength of the logistic regression.
    random_state: seed of the fold assignment.
    """

    def __init__(
        self,
        segment_shrinkage: float = 500.0,
        ridge_regularization: float = 100.0,
        windows_days: Sequence[float] = (1.0, 7.0, 30.0),
        use_time: bool = True,
        n_folds: int = 5,
        C: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.segment_shrinkage = segment_shrinkage
        self.ridge_regularization = ridge_regularization
        self.windows_days = windows_days
        self.use_time = use_time
        self.n_folds = n_folds
        self.C = C
        self.random_state = random_state

    # ------------------------------------------------------------------ features

    def feature_names(self) -> list[str]:
        """Names of the per-(user, item) features, in column order of `coef_`."""
        names = ["log_global", "ridge_lift", *(f"segment_lift:{kind}" for kind in self.segment_kinds_)]
        if self.use_time:
            names += ["log_past_all", *(f"log_past_{w:g}d" for w in self.windows_days), "unseen_before_arrival"]
        return names

    def _features(
        self, ref: _Reference, segments: Mapping[str, np.ndarray], request_times: np.ndarray | None
    ) -> np.ndarray:
        """(n_query, n_items, n_features) float32 features of query users against the reference users."""
        n_query = len(next(iter(segments.values())))
        n_items = ref.matrix.shape[1]
        log_global = np.log(ref.global_share + _FLOOR)
        columns = [np.broadcast_to(log_global, (n_query, n_items))]
        ridge = ref.ridge.score_new_users(_one_hot(segments, ref.vocab)).astype(np.float64)
        mean_row = np.asarray(ref.matrix.mean(axis=0), dtype=np.float64).ravel()
        columns.append(np.log(np.clip(ridge, 1e-4, None)) - np.log(np.clip(mean_row, 1e-4, None)))
        for kind in self.segment_kinds_:
            ref_labels = np.asarray(ref.segments[kind])[ref.event_users]
            query_labels = np.asarray(segments[kind])
            lift = np.zeros((n_query, n_items))
            for label in np.unique(query_labels):
                counts = np.bincount(ref.event_items[ref_labels == label], minlength=n_items).astype(np.float64)
                share = (counts + self.segment_shrinkage * ref.global_share) / (counts.sum() + self.segment_shrinkage)
                lift[query_labels == label] = np.log(share + _FLOOR) - log_global
            columns.append(lift)
        if self.use_time:
            if request_times is None or ref.event_times is None:
                raise ValueError("use_time=True needs timestamps in fit and request_times when scoring")
            times = np.asarray(request_times, dtype=np.float64)
            past = _past_counts(ref.event_items, ref.event_times, times, n_items)
            columns.append(np.log1p(past) - np.log1p(past.sum(axis=1, keepdims=True)))
            for days in self.windows_days:
                recent = past - _past_counts(ref.event_items, ref.event_times, times - days * DAY_SECONDS, n_items)
                columns.append(np.log1p(recent) - np.log1p(recent.sum(axis=1, keepdims=True)))
            columns.append((past == 0).astype(np.float64))
        return np.stack(columns, axis=-1).astype(np.float32)

    # ------------------------------------------------------------------ fit / score

    def _check_segments(self, segments: Mapping[str, np.ndarray], n: int, where: str) -> dict[str, np.ndarray]:
        checked = {}
        for kind, labels in segments.items():
            labels = np.asarray(labels)
            if labels.shape != (n,):
                raise ValueError(f"{where}: segments[{kind!r}] must have shape ({n},), got {labels.shape}")
            checked[kind] = labels
        return checked

    def _reference(self, matrix: sp.csr_matrix, times: sp.csr_matrix | None, segments: dict) -> _Reference:
        return _Reference(matrix, times, segments, self.vocab_, self.ridge_regularization)

    def fit(
        self,
        interactions: sp.spmatrix,
        user_features: sp.spmatrix | None = None,
        item_features: sp.spmatrix | None = None,
        *,
        segments: Mapping[str, np.ndarray] | None = None,
        timestamps: sp.spmatrix | None = None,
    ) -> Self:
        """segments: kind → label per training user (e.g. {'age_band': …, 'gender': …}); timestamps: CSR with
        the same sparsity as `interactions` holding unix times (needed when `use_time`)."""
        if not segments:
            raise ValueError("ColdUserRankerModel needs segments={kind: labels per training user}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")
        x = as_interactions(interactions).copy()
        x.data[:] = 1.0
        n_users = x.shape[0]
        segs = self._check_segments(segments, n_users, "fit")
        times = None
        if self.use_time:
            if timestamps is None:
                raise ValueError("use_time=True needs timestamps (CSR shaped like interactions)")
            times = sp.csr_matrix(timestamps, dtype=np.float64)
            times.sort_indices()
            if times.shape != x.shape or not np.array_equal(times.indices, x.indices):
                raise ValueError("timestamps must have the same shape and sparsity pattern as interactions")
        if n_users < self.n_folds:
            raise ValueError(f"need at least n_folds={self.n_folds} training users, got {n_users}")
        self.segment_kinds_ = list(segs)
        self.vocab_ = {kind: np.unique(labels) for kind, labels in segs.items()}
        arrival = self._arrival_times(times, n_users)

        rng = np.random.default_rng(self.random_state)
        blocks, labels = [], []
        for fold in np.array_split(rng.permutation(n_users), self.n_folds):
            fold = np.sort(fold)
            rest = np.setdiff1d(np.arange(n_users), fold)
            ref = self._reference(
                x[rest], None if times is None else times[rest], {k: v[rest] for k, v in segs.items()}
            )
            feats = self._features(
                ref, {k: v[fold] for k, v in segs.items()}, None if arrival is None else arrival[fold]
            )
            blocks.append(feats.reshape(-1, feats.shape[-1]))
            labels.append(x[fold].toarray().ravel() > 0)
        design, target = np.concatenate(blocks), np.concatenate(labels)
        regression = LogisticRegression(C=self.C, max_iter=1000).fit(design, target)
        self.coef_ = regression.coef_[0].astype(np.float32)
        self.reference_ = self._reference(x, times, segs)
        self.train_segments_ = segs
        self.train_arrival_ = arrival
        self.n_users_, self.n_items_ = x.shape
        return self

    @staticmethod
    def _arrival_times(times: sp.csr_matrix | None, n_users: int) -> np.ndarray | None:
        """Each training user's first event time (their 'request time' in the simulated cold start)."""
        if times is None:
            return None
        first = np.full(n_users, np.inf)
        rows = np.repeat(np.arange(n_users), np.diff(times.indptr))
        np.minimum.at(first, rows, times.data)
        return first

    def score_new_users(
        self, segments: Mapping[str, np.ndarray], request_times: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores (n_new, n_items) for users known by segments and (when `use_time`) their arrival time;
        only reference events strictly before each request time feed the time features."""
        self._check_fitted()
        missing = set(self.segment_kinds_) - set(segments)
        if missing:
            raise ValueError(f"segments lack kinds {sorted(missing)} seen in fit")
        n = len(np.asarray(segments[self.segment_kinds_[0]]))
        segs = self._check_segments({k: segments[k] for k in self.segment_kinds_}, n, "score_new_users")
        if self.use_time and (request_times is None or np.shape(request_times) != (n,)):
            raise ValueError(f"request_times must have shape ({n},) when use_time=True")
        return self._features(self.reference_, segs, request_times) @ self.coef_

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Training users scored from their segments and arrival time (in-sample: their own events are part of
        the popularity features, so use `score_new_users` for honest cold-start numbers)."""
        rows = self._check_users(user_rows)
        times = None if self.train_arrival_ is None else self.train_arrival_[rows]
        return self.score_new_users({k: v[rows] for k, v in self.train_segments_.items()}, times)
