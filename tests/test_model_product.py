"""The model product over the contributing columns (recommender.model_product) and the per-profile scores
(recommender.profile_scores) equal the plain product, and never outlive their item matrix."""

from __future__ import annotations

import numpy as np

from recommender.model_product import CompactProduct
from recommender.profile_scores import ProfileScoresCache


def _matrix(rows: int, seed: int = 0) -> np.ndarray:
    """A cold-start layout: 16 main columns, 24 profile columns, 20 bilinear columns non-zero on 7 rows."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, 60)).astype(np.float32)
    matrix[:, 40:] = 0
    matrix[rng.choice(rows, 7, replace=False), 40:] = rng.standard_normal((7, 20))
    return matrix


def test_compact_product_equals_the_full_product() -> None:
    rng = np.random.default_rng(1)
    product = CompactProduct()
    for rows in (300, 1_001):
        matrix = _matrix(rows, rows)
        for pattern in ("trained", "main only", "profile", "gap", "dense", "zero"):
            vector = rng.standard_normal(60).astype(np.float32)
            if pattern in ("trained", "main only", "gap"):
                vector[16:40] = 0
            if pattern == "main only":
                vector[40:] = 0
            if pattern == "gap":
                vector[5] = 0
            if pattern == "profile":
                vector[:16], vector[40:] = 0, 0
            if pattern == "zero":
                vector[:] = 0
            full = matrix @ vector  # equal up to the BLAS kernel's grouping of partial sums
            np.testing.assert_allclose(product.scores(matrix, vector), full, rtol=1e-5, atol=1e-5, err_msg=pattern)
    assert len(product._blocks) <= 4


def test_compact_product_follows_a_new_matrix() -> None:
    product, vector = CompactProduct(), np.ones(60, dtype=np.float32)
    vector[16:40] = 0
    first = _matrix(200, 1)
    product.scores(first, vector)
    second = first.copy()  # a catalog change or an activation: a new matrix object
    second[3, :16] += 1.0
    np.testing.assert_allclose(product.scores(second, vector), second @ vector, rtol=1e-5, atol=1e-5)
    assert product._matrix is second


def test_profile_scores_are_shared_and_emptied_by_a_new_matrix() -> None:
    cache, vector = ProfileScoresCache(max_entries=2), np.arange(60, dtype=np.float32)
    matrix = _matrix(100)
    first = cache.get(matrix, ("public",), vector)
    assert cache.get(matrix, ("public",), vector) is first  # computed once per profile
    np.testing.assert_array_equal(first.scores, matrix @ vector)
    assert not first.scores.flags.writeable
    order = first.order()
    assert np.all(np.diff(first.scores[order]) <= 0)
    renewed = matrix.copy()
    renewed[0] = 100.0
    again = cache.get(renewed, ("public",), vector)
    assert again is not first and again.scores[0] == (renewed[0] @ vector) and len(cache) == 1
    cache.get(renewed, ("youth",), vector)
    cache.get(renewed, ("farmers",), vector)
    assert len(cache) == 2  # bounded
