"""The model's `catalog_items @ user_vector` reading only the item-matrix columns that can contribute.

Why: a bundle with cold-start companions serves a wide item matrix: the main ranker's factors, then the
profile model's columns, then the content-bilinear columns (`recommender.rankers.cold_start`). A trained
user's vector is zero on the profile columns, and the bilinear columns are zero on every item the model
saw, so at 100k items (64 + 92 + 85 columns) the full product streamed 96 MB per request (~25 ms on one
core, memory-bound) to add zeros; the 64 columns that matter are 26 MB (~3.4 ms).

How: per item matrix, the columns not all zero over the catalog (once per matrix: a new catalog state or
model builds a new matrix). Per request, the columns both the matrix and the vector are non-zero on, as
runs (short gaps closed). The widest run's columns are copied once into a contiguous array (one per kind
of vector: trained users', live-history vectors' ...), and the rows that are non-zero anywhere else in
those columns (items the model never saw: their bilinear columns) are listed with it. A request multiplies
the copy, then recomputes the listed rows over the full width. Every other row's skipped terms are exact
zeros, so each score is the full product's up to float32 rounding: the BLAS kernel may group the partial
sums of a shorter row differently (bit for bit at 64 of 241 columns, the 100k world's layout; ~1e-6
relative on some widths). Hence the service uses it only from `pool_blend_min_items` (small catalogs keep
the plain product, and with it the lists the evaluation figures were measured on), and bench/README.md
reports the top-20 overlap with the exact list at 100k items.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

GAP = 8  # zero columns inside a block shorter than this do not split it
PATTERNS_KEPT = 4  # column runs copied per item matrix (each ≈ rows × run width × 4 bytes)
MAX_SHARE = 0.75  # above this share of the columns, the full product is about as cheap as the copy
MAX_EXCEPTIONS = 0.05  # above this share of rows to recompute in full, use the full product


def _runs(columns: np.ndarray) -> list[tuple[int, int]]:
    """Sorted column indices as (start, stop) runs, gaps shorter than GAP closed."""
    if columns.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(columns) > GAP)
    starts = np.concatenate([[columns[0]], columns[breaks + 1]])
    stops = np.concatenate([columns[breaks], [columns[-1]]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


@dataclass(frozen=True)
class _Block:
    start: int
    stop: int
    values: np.ndarray | None  # contiguous copy of matrix[:, start:stop]; None: use the full product
    exceptions: np.ndarray  # rows non-zero in the pattern's other columns: their dot over the full width


class CompactProduct:
    """`matrix @ vector` over the columns that can contribute, for the current item matrix."""

    def __init__(self, patterns_kept: int = PATTERNS_KEPT) -> None:
        self.patterns_kept = patterns_kept
        self._matrix: np.ndarray | None = None
        self._live: np.ndarray = np.zeros(0, dtype=np.int64)  # columns not all zero over the catalog
        self._blocks: OrderedDict[tuple[tuple[int, int], ...], _Block] = OrderedDict()
        self._lock = threading.Lock()

    def scores(self, matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """`matrix @ vector` (float32), reading mostly the columns both are non-zero on."""
        vector = np.asarray(vector, dtype=np.float32)
        with self._lock:
            if self._matrix is not matrix:
                self._matrix, self._blocks = matrix, OrderedDict()
                self._live = np.flatnonzero(np.asarray(matrix).any(axis=0))
            live = self._live
        runs = _runs(live[vector[live] != 0])
        if not runs:
            return matrix @ vector  # all zeros (or NaN rows), exactly as the full product gives them
        key = tuple(runs)
        with self._lock:
            block = self._blocks.get(key) if self._matrix is matrix else None
            if block is not None:
                self._blocks.move_to_end(key)
        if block is None:
            block = self._block(matrix, runs)
            with self._lock:
                if self._matrix is matrix:
                    self._blocks[key] = block
                    while len(self._blocks) > self.patterns_kept:
                        self._blocks.popitem(last=False)
        if block.values is None:
            return matrix @ vector
        out = block.values @ vector[block.start : block.stop]
        if block.exceptions.size:
            out[block.exceptions] = matrix[block.exceptions] @ vector
        return out

    @staticmethod
    def _block(matrix: np.ndarray, runs: list[tuple[int, int]]) -> _Block:
        start, stop = max(runs, key=lambda r: r[1] - r[0])
        if stop - start > MAX_SHARE * matrix.shape[1]:
            return _Block(start, stop, None, np.zeros(0, dtype=np.int64))
        others = [np.arange(a, b) for a, b in runs if (a, b) != (start, stop)]
        exceptions = np.zeros(0, dtype=np.int64)
        if others:
            exceptions = np.flatnonzero(np.asarray(matrix[:, np.concatenate(others)]).any(axis=1))
            if exceptions.size > MAX_EXCEPTIONS * matrix.shape[0]:
                return _Block(start, stop, None, exceptions[:0])
        return _Block(start, stop, np.ascontiguousarray(matrix[:, start:stop]), exceptions)
