"""Seeded splitters: per-user random ratio split (RecBole "RO"), item hold-out and user hold-out.

Each splitter returns positional index arrays, so the caller decides how to build matrices from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recbole_split_counts(n: int, ratios: Sequence[float]) -> list[int]:
    """How many of a user's `n` interactions go to each part, exactly as RecBole's `_calcu_split_ids`.

    Later parts get floor(ratio·n) (at least 1 when 0 < ratio·n < 1, as long as the first part keeps
    more than one); the first part gets the remainder.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    counts = [int(r * n) for r in ratios]
    counts[0] = n - sum(counts[1:])
    for i in range(1, len(ratios)):
        if counts[0] <= 1:
            break
        if 0 < ratios[-i] * n < 1:
            counts[-i] += 1
            counts[0] -= 1
    return counts


def random_ratio_split(
    user_of_row: np.ndarray, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[np.ndarray]:
    """Per-user random-order ratio split (RecBole `RO` + `group_by: user`).

    All rows are shuffled once with `seed`; then each user's rows, in shuffled order, are cut into
    consecutive parts of `recbole_split_counts` sizes. Returns one sorted array of row positions per part.
    """
    ratios = tuple(float(r) for r in ratios)
    if any(r < 0 for r in ratios) or not np.isclose(sum(ratios), 1.0):
        raise ValueError(f"ratios must be non-negative and sum to 1, got {ratios}")
    user_of_row = np.asarray(user_of_row)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(user_of_row))
    # stable sort by user keeps the random order inside each user
    order = order[np.argsort(user_of_row[order], kind="stable")]
    users_sorted = user_of_row[order]
    boundaries = np.flatnonzero(np.diff(users_sorted)) + 1
    parts: list[list[np.ndarray]] = [[] for _ in ratios]
    for rows in np.split(order, boundaries):
        if len(rows) == 0:
            continue
        cuts = np.cumsum(recbole_split_counts(len(rows), ratios))[:-1]
        for part, chunk in zip(parts, np.split(rows, cuts), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.int64) for p in parts]


def holdout_ids(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ids 0..n-1 into (kept, held_out), with round(fraction·n) held out at random; both sorted."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n_out = round(fraction * n)
    if n_out == 0 or n_out == n:
        raise ValueError(f"fraction {fraction} of {n} ids leaves one side empty")
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(n, size=n_out, replace=False))
    kept = np.setdiff1d(np.arange(n), held)
    return kept, held


def rows_with_ids(ids_of_row: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of the rows whose id (user or item) is in `ids` — to split interactions by a hold-out."""
    return np.flatnonzero(np.isin(ids_of_row, ids))
