"""Shared helpers for list metrics: which recommended items are relevant, and input validation.

Conventions used by every metric: `reco` is an int array (n_users, >= k) of item indices, best first,
padded with -1 where fewer than k items were recommended; `truth` is a CSR matrix (n_users, n_items)
whose row i holds the relevant (test) items of the user in reco row i.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def check_k(k: int) -> int:
    """k must be a positive int."""
    if not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def top_k_lists(reco: np.ndarray, k: int) -> np.ndarray:
    """The first k columns of `reco` as int64, checking its shape."""
    reco = np.asarray(reco)
    if reco.ndim != 2:
        raise ValueError(f"reco must be 2-D (n_users, k), got shape {reco.shape}")
    if reco.shape[1] < k:
        raise ValueError(f"reco has {reco.shape[1]} columns, fewer than k={k}; pad with -1")
    return reco[:, :k].astype(np.int64, copy=False)


def hit_matrix(reco: np.ndarray, truth: sp.spmatrix, k: int) -> np.ndarray:
    """Boolean (n_users, k): is the item at rank j relevant for user i (padding -1 is never a hit)."""
    lists = top_k_lists(reco, k)
    truth = sp.csr_matrix(truth)
    if truth.shape[0] != lists.shape[0]:
        raise ValueError(f"reco has {lists.shape[0]} rows but truth has {truth.shape[0]}")
    valid = lists >= 0
    if np.any(lists >= truth.shape[1]):
        raise ValueError(f"reco holds item index >= n_items={truth.shape[1]}")
    rows = np.repeat(np.arange(lists.shape[0]), k)
    cols = np.where(valid, lists, 0).ravel()
    hits = np.asarray(truth[rows, cols]).reshape(lists.shape) > 0
    return hits & valid


def n_relevant(truth: sp.spmatrix) -> np.ndarray:
    """Number of relevant items per user (stored positive entries per row)."""
    truth = sp.csr_matrix(truth)
    return np.asarray((truth > 0).sum(axis=1)).ravel()


def mean_over_users(per_user: np.ndarray) -> float:
    """Mean over users with a defined value (users without relevant items are NaN and skipped)."""
    defined = per_user[~np.isnan(per_user)]
    return float(defined.mean()) if len(defined) else float("nan")
