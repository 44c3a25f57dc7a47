"""Metrics about the lists themselves, not their hits: catalogue coverage, novelty, intra-list diversity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.evaluation.metrics._lists import check_k, mean_over_users, top_k_lists


@dataclass(frozen=True)
class CatalogCoverage:
    """Share of the catalogue (n_items) that appears in at least one user's top k."""

    k: int
    n_items: int

    def calc_per_user(self, reco: np.ndarray) -> np.ndarray:
        """Each user's marginal contribution: items first seen in that row (row order) / n_items.

        The values sum to `calc`; slicing coverage by segment should call `calc` on the segment's rows.
        """
        lists = top_k_lists(reco, check_k(self.k))
        seen = np.zeros(self.n_items, dtype=bool)
        out = np.zeros(len(lists))
        for i, row in enumerate(lists):
            row = np.unique(row[row >= 0])
            out[i] = (~seen[row]).sum() / self.n_items
            seen[row] = True
        return out

    def calc(self, reco: np.ndarray) -> float:
        lists = top_k_lists(reco, check_k(self.k))
        return float(len(np.unique(lists[lists >= 0])) / self.n_items)


@dataclass(frozen=True)
class Novelty:
    """Mean self-information −log2(p_i) of list items, p_i = users who interacted with i / n_users (train).

    `item_user_counts` is the per-item count of distinct training users; items never seen count as one
    user, so p_i is never 0.
    """

    k: int
    item_user_counts: np.ndarray = field(repr=False)
    n_users: int

    def calc_per_user(self, reco: np.ndarray) -> np.ndarray:
        lists = top_k_lists(reco, check_k(self.k))
        share = np.maximum(np.asarray(self.item_user_counts, dtype=float), 1.0) / self.n_users
        info = -np.log2(share)
        valid = lists >= 0
        values = np.where(valid, info[np.where(valid, lists, 0)], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(valid.any(axis=1), values.sum(axis=1) / valid.sum(axis=1), np.nan)

    def calc(self, reco: np.ndarray) -> float:
        return mean_over_users(self.calc_per_user(reco))


@dataclass(frozen=True)
class IntraListDiversity:
    """Mean pairwise (1 − cosine) between the feature vectors of the items in each top-k list.

    `item_vectors` is a dense (n_items, d) array (e.g. genre flags or content embeddings); a zero
    vector has cosine 0 to everything. Lists with fewer than two items are NaN.
    """

    k: int
    item_vectors: np.ndarray = field(repr=False)

    def calc_per_user(self, reco: np.ndarray) -> np.ndarray:
        lists = top_k_lists(reco, check_k(self.k))
        vectors = np.asarray(self.item_vectors, dtype=float)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        out = np.full(len(lists), np.nan)
        for i, row in enumerate(lists):
            row = row[row >= 0]
            m = len(row)
            if m < 2:
                continue
            sims = unit[row] @ unit[row].T
            pair_sum = (sims.sum() - np.trace(sims)) / 2.0
            out[i] = 1.0 - pair_sum / (m * (m - 1) / 2.0)
        return out

    def calc(self, reco: np.ndarray) -> float:
        return mean_over_users(self.calc_per_user(reco))
