"""The facts a card's reason is picked from, worked out for a whole ranking at once and kept in its snapshot.

Why: a ranking fills a snapshot of `snapshot_depth` (200) rows, but a page shows `k` of them (10–20).
Picking every row's sentence up front (`explain.reason_from_parts`, Python per row) was ~10 % of a request
at 100k items. The ranking now stores, per row, only what the sentence depends on that the ranking knew
(was it pinned, its largest signal, its content share, the read that drove it, was it fresh); the page
that serves the card picks the sentence from those facts and the requester's profile (`explain`'s
priority order, unchanged). Snapshots are JSON, so the facts are a short list in the stored payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class ReasonParts(NamedTuple):
    """One ranked row's inputs to `explain.reason_from_parts` (besides the item and the requester)."""

    pinned: bool
    top_name: str  # the signal with the largest weighted share ("" when none)
    top_value: float
    content: float  # the content signal's share
    read_id: str | None  # the recent read whose neighbours brought the item, if any
    fresh: bool  # published within the last week at ranking time

    @classmethod
    def parse(cls, raw: Any) -> ReasonParts:
        """From a stored snapshot's list (ValueError/TypeError when it is not one)."""
        pinned, top_name, top_value, content, read_id, fresh = raw
        read = None if read_id is None else str(read_id)
        return cls(bool(pinned), str(top_name), float(top_value), float(content), read, bool(fresh))


def reason_parts(
    ranked_ids: Sequence[str],
    pinned: set[str],
    contributions: dict[str, np.ndarray],
    read_ids: Sequence[str | None],
    fresh: np.ndarray,
) -> dict[str, tuple[Any, ...]]:
    """Each ranked id's parts (a tuple in `ReasonParts`' field order); `contributions` are every signal's
    weighted share at the ranked rows (aligned with `ranked_ids`), `read_ids` the read that drove each,
    `fresh` whether each is fresh."""
    n = len(ranked_ids)
    names = list(contributions)
    if names:
        stacked = np.stack([np.asarray(contributions[name]) for name in names])
        top_at = stacked.argmax(axis=0)  # the first of equal maxima, as max() over the dict's items
        top_values = stacked[top_at, np.arange(n)].tolist()
        top_names = [names[i] for i in top_at.tolist()]
    else:
        top_values, top_names = [0.0] * n, [""] * n
    content = np.asarray(contributions["content"]).tolist() if "content" in contributions else [0.0] * n
    flags = [item_id in pinned for item_id in ranked_ids]
    # plain tuples in ReasonParts' field order (built by zip in C; `ReasonParts.parse` when served)
    rows = zip(flags, top_names, top_values, content, read_ids, fresh.tolist(), strict=True)
    return dict(zip(ranked_ids, rows, strict=True))
