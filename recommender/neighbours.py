"""Content neighbours of catalog items, searched once per catalog view and reused by every request.

Why: content candidates search the vector index with the requester's recent reads on every request; below
the index's HNSW threshold that is an exact scan of the whole catalog per read (the largest single cost of
a recommendation at 100k items after the blend moved to a candidate pool). The same items are read, and
so searched, by many requesters and on every visit of one requester. Here each item's `k + spare`
nearest neighbours are searched once (without exclusions) and cached until the catalog view changes; a
request drops its own exclusions from the cached list, which gives exactly the index's answer as long as
`k` neighbours remain (otherwise that read is searched again, with its exclusions, as before).
When the index holds precomputed neighbour lists (`VectorIndex.neighbours`, kept exact through catalog
changes) those answer first and this cache is only the fallback.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from recommender.candidates import VectorIndexLike, parse_search_result


class NeighbourCache:
    """item id -> (neighbour ids, scores) best first, for one catalog view at a time (bounded LRU)."""

    def __init__(self, index: VectorIndexLike, spare: int = 50, max_items: int = 20_000) -> None:
        self.index = index
        self.spare = spare
        self.max_items = max_items
        self._view: Any = None
        self._lists: OrderedDict[tuple[str, int], tuple[list[str], list[float]]] = OrderedDict()
        self._lock = threading.Lock()

    def for_view(self, view: Any, item_ids: Sequence[str]) -> CachedSearch:
        """A `VectorIndexLike` whose query rows are the vectors of `item_ids` (in that order)."""
        with self._lock:
            if self._view is not view:
                self._view, self._lists = view, OrderedDict()
        return CachedSearch(self, list(item_ids))

    def _get(self, key: tuple[str, int]) -> tuple[list[str], list[float]] | None:
        with self._lock:
            found = self._lists.get(key)
            if found is not None:
                self._lists.move_to_end(key)
            return found

    def _put(self, key: tuple[str, int], value: tuple[list[str], list[float]]) -> None:
        with self._lock:
            self._lists[key] = value
            while len(self._lists) > self.max_items:
                self._lists.popitem(last=False)


class CachedSearch:
    """`index.search(vectors, k, exclude=...)` for the vectors of known items, answered from the cache."""

    def __init__(self, cache: NeighbourCache, item_ids: list[str]) -> None:
        self.cache, self.item_ids = cache, item_ids

    def search(self, vecs: np.ndarray, k: int, exclude: Collection[str] = ()) -> tuple[list[list[str]], np.ndarray]:
        cache, excluded = self.cache, set(exclude)
        listed = self._listed(k, excluded)
        if listed is not None:
            return listed
        fetch = k + cache.spare
        lists = [cache._get((item_id, fetch)) for item_id in self.item_ids]
        missing = [q for q, found in enumerate(lists) if found is None]
        if missing:
            ids, scores = parse_search_result(cache.index.search(np.asarray(vecs)[missing], fetch))
            for q, row_ids, row_scores in zip(missing, ids, scores, strict=True):
                lists[q] = (row_ids, row_scores)
                cache._put((self.item_ids[q], fetch), lists[q])
        out_ids: list[list[str]] = []
        out_scores = np.full((len(self.item_ids), k), -np.inf, dtype=np.float32)
        for q, found in enumerate(lists):
            assert found is not None
            kept = [(i, s) for i, s in zip(*found, strict=True) if i not in excluded][:k]
            if len(kept) < k and len(found[0]) >= fetch:  # too many excluded: search this read again
                ids, scores = parse_search_result(cache.index.search(np.asarray(vecs)[[q]], k, exclude=excluded))
                kept = list(zip(ids[0], scores[0], strict=True))
            out_ids.append([i for i, _ in kept])
            out_scores[q, : len(kept)] = [s for _, s in kept]
        return out_ids, out_scores

    def _listed(self, k: int, excluded: set[str]) -> tuple[list[list[str]], np.ndarray] | None:
        """The answer from the index's precomputed neighbour lists (exact, and kept current through catalog
        changes, so it survives a new catalog view), or None when any read is not answerable from them. A read
        is never its own neighbour here (the service excludes reads from content candidates anyway)."""
        lookup = getattr(self.cache.index, "neighbours", None)
        if not callable(lookup) or not getattr(self.cache.index, "has_neighbours", False):
            return None
        out_ids: list[list[str]] = []
        out_scores = np.full((len(self.item_ids), k), -np.inf, dtype=np.float32)
        for q, item_id in enumerate(self.item_ids):
            found = lookup(item_id, k, excluded)
            if found is None:
                return None
            out_ids.append(found[0])
            out_scores[q, : len(found[1])] = found[1]
        return out_ids, out_scores
