"""Cached content neighbours (`recommender.neighbours`) answer exactly as the vector index does."""

from __future__ import annotations

import numpy as np

from content_catalog.vector_index import VectorIndex
from recommender.neighbours import NeighbourCache


def test_cached_neighbours_equal_index_search_with_exclusions() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"i{n}" for n in range(600)]
    index = VectorIndex(16)
    index.add(ids, vectors)
    cache = NeighbourCache(index, spare=10)
    view = object()
    for trial in range(6):
        reads = rng.choice(600, size=3, replace=False)
        # a few exclusions, then so many that the cached lists run short (searched again, as before)
        exclude = {ids[j] for j in rng.choice(600, size=5 if trial % 2 else 300, replace=False)}
        want_ids, want_scores = index.search(vectors[reads], 20, exclude=exclude)
        got_ids, got_scores = cache.for_view(view, [ids[r] for r in reads]).search(vectors[reads], 20, exclude=exclude)
        assert got_ids == want_ids
        np.testing.assert_array_equal(got_scores, want_scores)
    assert cache._lists  # the lists were kept for the next request
    cache.for_view(object(), [])  # a new catalog view starts empty
    assert not cache._lists

    index.build_neighbours(width=40)  # the index's precomputed lists answer first, the same way
    for n_excluded in (5, 300):  # 300: the lists run short, the index is searched as before
        reads = rng.choice(600, size=3, replace=False)
        exclude = {ids[j] for j in rng.choice(600, size=n_excluded, replace=False)} | {ids[r] for r in reads}
        want_ids, want_scores = index.search(vectors[reads], 20, exclude=exclude)
        got_ids, got_scores = cache.for_view(view, [ids[r] for r in reads]).search(vectors[reads], 20, exclude=exclude)
        assert got_ids == want_ids
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5)
