"""Hit-count metrics: precision@k, recall@k and hit rate@k (RecBole / LightFM definitions).

Users with no relevant item get NaN per user and are left out of `calc`, as LightFM's
`precision_at_k` (which drops users without test interactions) and RecBole (which only evaluates
users present in the test set) do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.evaluation.metrics._lists import check_k, hit_matrix, mean_over_users, n_relevant


@dataclass(frozen=True)
class Precision:
    """hits in top k / k (k, not the list length: a short list is penalised, like RecBole and LightFM)."""

    k: int

    def calc_per_user(self, reco: np.ndarray, truth: sp.spmatrix) -> np.ndarray:
        k = check_k(self.k)
        hits = hit_matrix(reco, truth, k).sum(axis=1)
        return np.where(n_relevant(truth) > 0, hits / k, np.nan)

    def calc(self, reco: np.ndarray, truth: sp.spmatrix) -> float:
        return mean_over_users(self.calc_per_user(reco, truth))


@dataclass(frozen=True)
class Recall:
    """hits in top k / number of relevant items (RecBole's Recall@k; not capped at k)."""

    k: int

    def calc_per_user(self, reco: np.ndarray, truth: sp.spmatrix) -> np.ndarray:
        k = check_k(self.k)
        hits = hit_matrix(reco, truth, k).sum(axis=1)
        n_rel = n_relevant(truth)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n_rel > 0, hits / n_rel, np.nan)

    def calc(self, reco: np.ndarray, truth: sp.spmatrix) -> float:
        return mean_over_users(self.calc_per_user(reco, truth))


@dataclass(frozen=True)
class HitRate:
    """1 when at least one relevant item is in the top k, else 0 (RecBole's Hit@k)."""

    k: int

    def calc_per_user(self, reco: np.ndarray, truth: sp.spmatrix) -> np.ndarray:
        k = check_k(self.k)
        hit = hit_matrix(reco, truth, k).any(axis=1).astype(float)
        return np.where(n_relevant(truth) > 0, hit, np.nan)

    def calc(self, reco: np.ndarray, truth: sp.spmatrix) -> float:
        return mean_over_users(self.calc_per_user(reco, truth))
