"""Seeded K-fold splits stratified by each item's primary (first) audience, for tuning and evaluation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold


def primary_label_folds(
    primary: Sequence[str], n_splits: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; labels rarer than `n_splits` share one stratum (else plain K-fold)."""
    if n_splits < 2 or len(primary) < n_splits:
        raise ValueError(f"need at least n_splits={n_splits} >= 2 items, got {len(primary)}")
    counts = Counter(primary)
    strata = np.array([p if counts[p] >= n_splits else "_rare" for p in primary])
    index = np.zeros(len(primary))
    if Counter(strata.tolist()).most_common()[-1][1] >= n_splits:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        return list(splitter.split(index, strata))
    return list(KFold(n_splits=n_splits, shuffle=True, random_state=random_state).split(index))
