"""Splitters: RecBole-compatible per-user counts, disjoint exhaustive parts, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.evaluation.splits import holdout_ids, random_ratio_split, recbole_split_counts, rows_with_ids


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (10, [8, 1, 1]),  # floor(1.0) each for valid/test
        (23, [19, 2, 2]),  # floor(2.3) = 2
        (5, [3, 1, 1]),  # 0.5 rounds down to 0, then each small part is bumped to 1
        (2, [1, 0, 1]),  # test bumped first; train would drop to 1 -> stop
    ],
)
def test_recbole_split_counts(n: int, expected: list[int]) -> None:
    assert recbole_split_counts(n, (0.8, 0.1, 0.1)) == expected


def _users() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.permutation(np.repeat(np.arange(7), [20, 23, 5, 2, 31, 10, 11]))


def test_random_ratio_split_sizes_disjoint_and_exhaustive() -> None:
    users = _users()
    parts = random_ratio_split(users, (0.8, 0.1, 0.1), seed=3)
    combined = np.concatenate(parts)
    assert len(combined) == len(users) == len(np.unique(combined))
    for user, n in zip(*np.unique(users, return_counts=True), strict=True):
        assert [int((users[p] == user).sum()) for p in parts] == recbole_split_counts(int(n), (0.8, 0.1, 0.1))


def test_random_ratio_split_is_seeded() -> None:
    users = _users()
    first = random_ratio_split(users, seed=5)
    again = random_ratio_split(users, seed=5)
    other = random_ratio_split(users, seed=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[2], other[2])


def test_random_ratio_split_rejects_bad_ratios() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        random_ratio_split(np.zeros(4, dtype=int), (0.5, 0.1))


def test_holdout_ids_sizes_disjoint_seeded() -> None:
    kept, held = holdout_ids(100, 0.2, seed=0)
    assert len(held) == 20 and len(kept) == 80
    assert not set(kept) & set(held)
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(100))
    assert np.array_equal(held, holdout_ids(100, 0.2, seed=0)[1])
    assert not np.array_equal(held, holdout_ids(100, 0.2, seed=1)[1])
    with pytest.raises(ValueError, match="fraction"):
        holdout_ids(10, 1.0)


def test_rows_with_ids() -> None:
    assert rows_with_ids(np.array([3, 1, 3, 2]), np.array([3])).tolist() == [0, 2]
