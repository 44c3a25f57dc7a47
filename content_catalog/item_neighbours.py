"""Every item's nearest items, computed once in batch and kept exact as items are added.

Why: `/similar` and the content candidates of a recommendation (neighbours of recent reads) asked the
vector index for an item's neighbours on every request: an exact scan of the whole catalog (100k × 64
floats) per call, the largest cost of `/similar` at 100k items. An item's neighbours only change when
the catalog does, so (as Gorse does) they are computed for all items at once — one blocked exact
inner-product pass, seconds per 100k items — and looked up per request.

Kept exact without a rebuild: a row holds the `width` best keys of one item, best first, padded with
-1 / -inf. An added vector gets its own row from one scan and is inserted into every row whose last
score it beats, so each row stays the top `width` of every vector ever added. A removed or replaced
item (replacement = a new internal key) is left in the rows and skipped when read: the live entries of
a row are still exactly the best live items down to the row's last score, so a lookup that finds
enough live entries is exact, and one that does not says so (the caller searches the index instead).

Memory: `width` × (4 + 4) bytes per item (1 KB at width 128). Saved next to the index and loaded
memory-mapped copy-on-write, so the workers of one server share the pages until a write touches a row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import faiss
import numpy as np

KEYS_FILE = "neighbours.keys.npy"
SCORES_FILE = "neighbours.scores.npy"
DEFAULT_WIDTH = 128
"""Neighbours kept per item: `/similar` reads 100 (its re-rank pool), content candidates 50 + 50 spare."""
BUILD_BLOCK = 4096


class NeighbourTable:
    """item internal key -> (`width` neighbour keys, their inner products), best first."""

    def __init__(self, keys: np.ndarray, scores: np.ndarray) -> None:
        if keys.shape != scores.shape or keys.ndim != 2:
            raise ValueError(f"neighbour keys {keys.shape} and scores {scores.shape} must be equal (n, width)")
        self.keys, self.scores = keys, scores  # rows for internal keys below len(keys) (maybe memory-mapped)
        self.extra: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # rows of keys added after the build

    @property
    def width(self) -> int:
        return int(self.keys.shape[1])

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, keys: np.ndarray, vectors: np.ndarray, width: int = DEFAULT_WIDTH) -> NeighbourTable:
        """Exact top-`width` inner-product neighbours of every vector among the others (rows indexed by key)."""
        keys = np.asarray(keys, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        size = int(keys.max()) + 1 if keys.size else 0
        out_keys = np.full((size, width), -1, dtype=np.int32)
        out_scores = np.full((size, width), -np.inf, dtype=np.float32)
        if keys.size > 1:
            flat = faiss.IndexFlatIP(vectors.shape[1])
            flat.add(vectors)
            fetch = min(width + 1, keys.size)
            for lo in range(0, keys.size, BUILD_BLOCK):
                hi = min(lo + BUILD_BLOCK, keys.size)
                scores, positions = flat.search(vectors[lo:hi], fetch)
                # drop each row's own position (wherever ties put it), keep the first `width` of the rest
                order = np.argsort(positions == np.arange(lo, hi)[:, None], axis=1, kind="stable")[:, : fetch - 1]
                positions = np.take_along_axis(positions, order, axis=1)
                scores = np.take_along_axis(scores, order, axis=1)
                found = positions >= 0
                row_keys = np.where(found, keys[np.maximum(positions, 0)], -1)
                out_keys[keys[lo:hi], : fetch - 1] = row_keys
                out_scores[keys[lo:hi], : fetch - 1] = np.where(found, scores, -np.inf)
        return cls(out_keys, out_scores)

    # ------------------------------------------------------------------ reads
    def row(self, key: int) -> tuple[np.ndarray, np.ndarray] | None:
        if key < self.keys.shape[0]:
            return self.keys[key], self.scores[key]
        return self.extra.get(key)

    def lookup(
        self, key: int, k: int, alive: Mapping[int, str], exclude: Collection[str] = ()
    ) -> tuple[list[str], list[float]] | None:
        """The k best live, non-excluded neighbours of `key` (ids, scores), or None when the row cannot
        prove it has them (too many of its entries were removed or excluded)."""
        found = self.row(key)
        if found is None:
            return None
        keys, scores = found
        ids: list[str] = []
        kept: list[float] = []
        for neighbour, score in zip(keys.tolist(), scores.tolist(), strict=True):
            if neighbour < 0:  # padding: every other item ever added is in the row, so this is complete
                return ids, kept
            item = alive.get(neighbour)
            if item is None or item in exclude:
                continue
            ids.append(item)
            kept.append(score)
            if len(ids) == k:
                return ids, kept
        return None

    # ------------------------------------------------------------------ updates
    def insert(self, new_keys: np.ndarray, all_keys: np.ndarray, all_vectors: np.ndarray, live: np.ndarray) -> None:
        """Account for `new_keys` (already among `all_keys`, whose rows are `all_vectors`): give each its own
        row and insert it into every other row whose last score it beats. `live`: mask of `all_keys` that
        may be neighbours (False for HNSW tombstones)."""
        width = self.width
        is_new = np.isin(all_keys, new_keys)
        found = np.flatnonzero(is_new)
        position = dict(zip(all_keys[found].tolist(), found.tolist(), strict=True))
        new_positions = np.array([position[int(key)] for key in new_keys], dtype=np.int64)
        sims = all_vectors @ all_vectors[new_positions].T  # (n, m)
        old = np.flatnonzero(live & ~is_new)
        last = self._last_scores(all_keys[old])
        for j, key in enumerate(new_keys.tolist()):
            column = np.where(live, sims[:, j], -np.inf)
            column[new_positions[j]] = -np.inf
            take = min(width, int(np.isfinite(column).sum()))
            best = np.argpartition(-column, take - 1)[:take] if take else np.zeros(0, dtype=np.int64)
            best = best[np.lexsort((all_keys[best], -column[best]))]
            row_keys = np.full(width, -1, dtype=np.int32)
            row_scores = np.full(width, -np.inf, dtype=np.float32)
            row_keys[:take], row_scores[:take] = all_keys[best], column[best]
            self._set_row(int(key), row_keys, row_scores)
            # rows of the other items: insert this key where it beats the last kept score
            beaten = np.flatnonzero(sims[old, j] > last)
            for p in old[beaten].tolist():
                self._insert_into(int(all_keys[p]), int(key), float(sims[p, j]))
            if beaten.size and j + 1 < len(new_keys):  # the next new key compares with the updated rows
                last[beaten] = self._last_scores(all_keys[old[beaten]])

    def _set_row(self, key: int, keys: np.ndarray, scores: np.ndarray) -> None:
        if key < self.keys.shape[0]:
            self.keys[key], self.scores[key] = keys, scores
        else:
            self.extra[key] = (keys, scores)

    def _last_scores(self, keys: np.ndarray) -> np.ndarray:
        base = keys < self.keys.shape[0]
        last = np.full(keys.size, np.inf, dtype=np.float32)  # a key without a row takes no inserts
        last[base] = self.scores[keys[base], -1]
        for i in np.flatnonzero(~base).tolist():
            found = self.extra.get(int(keys[i]))
            if found is not None:
                last[i] = found[1][-1]
        return last

    def _insert_into(self, row_key: int, key: int, score: float) -> None:
        found = self.row(row_key)
        if found is None:
            return
        keys, scores = found
        at = int(np.searchsorted(-scores, -score, side="right"))  # after equal scores: stable
        keys[at + 1 :] = keys[at:-1].copy()
        scores[at + 1 :] = scores[at:-1].copy()
        keys[at], scores[at] = key, score

    # ------------------------------------------------------------------ persistence
    def save(self, folder: Path, size: int) -> None:
        """Write rows for internal keys below `size` (extra rows merged in) as two .npy files."""
        keys = np.full((size, self.width), -1, dtype=np.int32)
        scores = np.full((size, self.width), -np.inf, dtype=np.float32)
        base = min(size, self.keys.shape[0])
        keys[:base], scores[:base] = self.keys[:base], self.scores[:base]
        for key, (row_keys, row_scores) in self.extra.items():
            if key < size:
                keys[key], scores[key] = row_keys, row_scores
        np.save(folder / KEYS_FILE, keys)
        np.save(folder / SCORES_FILE, scores)

    @classmethod
    def load(cls, folder: Path) -> NeighbourTable | None:
        """The saved table memory-mapped copy-on-write, or None when the folder has none."""
        if not (folder / KEYS_FILE).is_file() or not (folder / SCORES_FILE).is_file():
            return None
        keys = np.load(folder / KEYS_FILE, mmap_mode="c").view(np.ndarray)  # plain views: no memmap overhead
        scores = np.load(folder / SCORES_FILE, mmap_mode="c").view(np.ndarray)
        return cls(keys, scores)
