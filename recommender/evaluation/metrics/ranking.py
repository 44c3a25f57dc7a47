"""Position-aware list metrics: NDCG@k with binary gains and MRR@k (RecBole definitions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.evaluation.metrics._lists import check_k, hit_matrix, mean_over_users, n_relevant


@dataclass(frozen=True)
class NDCG:
    """DCG = Σ_j hit_j / log2(j + 2) for ranks j = 0..k-1; IDCG = DCG of min(|relevant|, k) hits on top."""

    k: int

    def calc_per_user(self, reco: np.ndarray, truth: sp.spmatrix) -> np.ndarray:
        k = check_k(self.k)
        discounts = 1.0 / np.log2(np.arange(k) + 2.0)
        dcg = hit_matrix(reco, truth, k) @ discounts
        n_rel = n_relevant(truth)
        ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k)]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n_rel > 0, dcg / ideal, np.nan)

    def calc(self, reco: np.ndarray, truth: sp.spmatrix) -> float:
        return mean_over_users(self.calc_per_user(reco, truth))


@dataclass(frozen=True)
class MRR:
    """1 / (1-based rank of the first relevant item in the top k), 0 when none is there."""

    k: int

    def calc_per_user(self, reco: np.ndarray, truth: sp.spmatrix) -> np.ndarray:
        k = check_k(self.k)
        hits = hit_matrix(reco, truth, k)
        first = np.argmax(hits, axis=1)
        rr = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
        return np.where(n_relevant(truth) > 0, rr, np.nan)

    def calc(self, reco: np.ndarray, truth: sp.spmatrix) -> float:
        return mean_over_users(self.calc_per_user(reco, truth))
