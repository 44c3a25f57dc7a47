"""Model scores over the catalog for visitors known only by their profile, computed once and shared.

Why: an anonymous session or a user the model never saw is scored with a vector composed from their
profile (`recommender.profile_vectors`), so every visitor with that profile gets the same
`catalog_items @ vector` product over the whole catalog: at 100k items that one product was 58 % of an
audience + session request (bench/README.md, "Hot path"). Here it is computed once per (item matrix,
profile) — the candidate list per audience that Gorse precomputes — and its descending order once, so the
candidate-pool blend walks it like the other static sources (`recommender.pool_blend`) instead of
partitioning 100k scores per request. The served list is exactly the one a fresh product gives: same
values, same order.

Staleness: entries are keyed by the item matrix object itself. A model activation and every catalog change
build a new matrix (`RecommendationService.swap_bundle`, `_refresh`/`_apply`), so their entries are never
read again and the cache empties on the next request; the vector depends only on the bundle and the
profile, never on one person (an erasure changes nothing here: an erased user is scored by profile too).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from recommender.candidates import model_scores

PROFILE_SCORES_KEPT = 32
"""Profiles whose scores are kept (each ≈ 0.4 MB of scores + 0.4 MB of order at 100k items)."""


@dataclass
class ProfileScores:
    """One profile's model scores over the catalog (read-only) and, once asked, their descending order."""

    profile: Hashable
    scores: np.ndarray
    _order: np.ndarray | None = field(default=None, repr=False)

    def order(self) -> np.ndarray:
        """Rows by descending score (stable: ties keep row order); empty when a score is not finite (the
        pool blend then partitions this source per request, as for any vector)."""
        if self._order is None:
            scores = self.scores
            if not np.isfinite(scores).all():
                order = np.zeros(0, dtype=np.int32)
            else:
                order = np.argsort(-scores, kind="stable").astype(np.int32)
            order.setflags(write=False)
            self._order = order
        return self._order


class ProfileScoresCache:
    """A bounded LRU of `ProfileScores` for the current item matrix (a new matrix empties it)."""

    def __init__(self, max_entries: int = PROFILE_SCORES_KEPT) -> None:
        self.max_entries = max_entries
        self._matrix: np.ndarray | None = None
        self._entries: OrderedDict[Hashable, ProfileScores] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, matrix: np.ndarray, profile: Hashable, vector: np.ndarray) -> ProfileScores:
        """The scores of `vector` (the profile's vector under the bundle that built `matrix`)."""
        with self._lock:
            if self._matrix is matrix:
                found = self._entries.get(profile)
                if found is not None:
                    self._entries.move_to_end(profile)
                    return found
        scores = model_scores(matrix, vector)
        scores.setflags(write=False)  # shared by every request with this profile
        entry = ProfileScores(profile, scores)
        with self._lock:
            if self._matrix is not matrix:  # a new model or catalog: every entry is stale
                self._matrix, self._entries = matrix, OrderedDict()
            self._entries[profile] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
