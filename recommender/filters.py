"""Boolean masks over the serving catalog (True = may be recommended). Combined with `&`; no Python loops
over the catalog, so filtering stays cheap as the catalog grows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np

from content_catalog.taxonomy import check_channel, check_topics
from recommender.candidates import AUDIENCE_IDS, TOPIC_IDS, CatalogView

CHANNEL_FORMATS: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"article", "video", "exhibit", "activity"}),
}
"""Formats allowed per channel (channels not listed allow every format): the museum touchscreen cannot
enrol in courses or follow a live stream."""


def exclude_ids(view: CatalogView, item_ids: Iterable[str]) -> np.ndarray:
    """False for the given ids (seen, disliked/hidden, blocked, already served)."""
    mask = np.ones(view.size, dtype=bool)
    mask[view.rows_of(list(item_ids))] = False
    return mask


def active(view: CatalogView, now: datetime) -> np.ndarray:
    """Published and not expired at `now`."""
    ts = now.timestamp()
    return (view.published <= ts) & (view.expires > ts)


def verified(view: CatalogView, require_verified: bool) -> np.ndarray:
    return view.verified.copy() if require_verified else np.ones(view.size, dtype=bool)


def topics(view: CatalogView, wanted: Sequence[str]) -> np.ndarray:
    """Items with at least one of the wanted topics (empty = no filter)."""
    if not wanted:
        return np.ones(view.size, dtype=bool)
    check_topics(wanted, "topics")
    cols = [TOPIC_IDS.index(t) for t in wanted]
    return (view.topics[:, cols] > 0).any(axis=1)


def channel(
    view: CatalogView, channel_id: str | None, allowed: Mapping[str, frozenset[str]] = CHANNEL_FORMATS
) -> np.ndarray:
    if channel_id is not None:
        check_channel(channel_id, "channel")
    formats = allowed.get(channel_id or "")
    if not formats:
        return np.ones(view.size, dtype=bool)
    return np.isin(view.formats, list(formats))


def audience(view: CatalogView, audiences: Sequence[str], min_score: float = 0.5) -> np.ndarray:
    """Hide items that are confidently for *other* specific audiences only.

    An item passes when it has no audience tags, is tagged `public`, or is tagged (score ≥ `min_score`)
    for one of the requester's audiences. Requests from `public` / unknown audiences see everything.
    """
    wanted = [a for a in audiences if a != "public"]
    if not wanted:
        return np.ones(view.size, dtype=bool)
    tags = view.audiences
    untagged = (tags > 0).sum(axis=1) == 0
    public = tags[:, AUDIENCE_IDS.index("public")] > 0
    cols = [AUDIENCE_IDS.index(a) for a in wanted]
    mine = (tags[:, cols] >= min_score).any(axis=1)
    weak = (tags < min_score).all(axis=1)
    return untagged | public | mine | weak
