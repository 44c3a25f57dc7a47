"""The serving catalog as arrays (`CatalogView`) and the candidate sources scored over it.

Every source returns a dense float32 array over the catalog (0 = "this source has nothing to say"), so
blending, filtering and top-k stay vectorised. Sources: the hybrid model (one matrix-vector product over
precomputed item vectors), content neighbours of recent reads (vector index search), audience-popular and
trending priors (precomputed in the bundle), and editor pins (handled by the re-ranker).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from content_catalog.schema import Item
from content_catalog.taxonomy import AUDIENCES, TOPICS
from features.idmap import IdMap

TOPIC_IDS: tuple[str, ...] = tuple(TOPICS)
AUDIENCE_IDS: tuple[str, ...] = tuple(AUDIENCES)


class EncoderLike(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class VectorIndexLike(Protocol):
    def search(self, vecs: np.ndarray, k: int, exclude: Any = ...) -> Any: ...


@dataclass
class CatalogView:
    """Row-aligned arrays over every item the service can serve (n = len(items))."""

    items: list[Item]
    ids: IdMap
    published: np.ndarray  # float64 epoch seconds
    expires: np.ndarray  # float64 epoch seconds, +inf when never
    verified: np.ndarray  # bool
    formats: np.ndarray  # object (str)
    towns: np.ndarray  # object (str, "" when none)
    topics: np.ndarray  # float32 (n, n_topics), rows L2-normalised (for MMR cosine)
    audiences: np.ndarray  # float32 (n, n_audiences) tag scores
    model_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # -1 = not in model

    @classmethod
    def build(cls, items: Sequence[Item], model_items: IdMap | None = None) -> CatalogView:
        items = list(items)
        n = len(items)
        topics = np.zeros((n, len(TOPIC_IDS)), dtype=np.float32)
        audiences = np.zeros((n, len(AUDIENCE_IDS)), dtype=np.float32)
        for i, it in enumerate(items):
            for t in it.topics:
                topics[i, TOPIC_IDS.index(t)] = 1.0
            for tag in it.audiences:
                audiences[i, AUDIENCE_IDS.index(tag.audience)] = tag.score
        norms = np.linalg.norm(topics, axis=1, keepdims=True)
        topics /= np.where(norms == 0, 1.0, norms)
        ids = IdMap([it.id for it in items])
        rows = (
            model_items.convert_to_internal(ids.to_list(), strict=False)
            if model_items is not None
            else np.full(n, -1, dtype=np.int64)
        )
        return cls(
            items=items,
            ids=ids,
            published=np.array([it.published_at.timestamp() for it in items], dtype=np.float64),
            expires=np.array(
                [it.expires_at.timestamp() if it.expires_at else np.inf for it in items], dtype=np.float64
            ),
            verified=np.array([it.verified for it in items], dtype=bool),
            formats=np.array([it.format for it in items], dtype=object),
            towns=np.array([it.town or "" for it in items], dtype=object),
            topics=topics,
            audiences=audiences,
            model_rows=rows,
        )

    def with_changes(
        self, items: Sequence[Item], removed: Collection[str] = (), model_items: IdMap | None = None
    ) -> ViewChange:
        """A new view with `items` upserted and the `removed` ids dropped. Only the changed items are turned
        into array rows; the rest is copied as arrays (no per-item Python work), so one write costs far
        less than `build` over the catalog. Edited items keep their row, new ones are appended; this view
        is left untouched (readers may still hold it)."""
        changed = {it.id: it for it in items}
        keep = np.ones(self.size, dtype=bool)
        for item_id in removed:
            row = self.ids.get(item_id)
            if row >= 0 and item_id not in changed:
                keep[row] = False
        old_rows = self.ids.convert_to_internal(list(changed), strict=False)
        added = [it for it, row in zip(changed.values(), old_rows, strict=True) if row < 0]
        edited = [(it, int(row)) for it, row in zip(changed.values(), old_rows, strict=True) if row >= 0]
        part = CatalogView.build([*(it for it, _ in edited), *added], model_items)
        kept = int(keep.sum())
        position = np.cumsum(keep) - 1  # old row -> row after the drop
        edited_rows = np.array([position[row] for _, row in edited], dtype=np.int64)
        rows = np.concatenate([edited_rows, np.arange(kept, kept + len(added), dtype=np.int64)])
        change = ViewChange(self, keep, rows)
        items_out = [it for it, k in zip(self.items, keep, strict=True) if k] if kept < self.size else list(self.items)
        for (it, _), row in zip(edited, edited_rows.tolist(), strict=True):
            items_out[row] = it
        items_out.extend(added)
        if kept < self.size:
            ids = IdMap([it.id for it in items_out])
        else:  # edits and additions keep every row: extend the map instead of rebuilding it
            ids = self.ids.add_ids([it.id for it in added]) if added else self.ids
        change.view = CatalogView(
            items=items_out,
            ids=ids,
            **{name: change.carry(getattr(self, name), getattr(part, name)) for name in _ROW_ARRAYS},
        )
        return change

    @property
    def size(self) -> int:
        return len(self.items)

    def rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Catalog rows of known ids (unknown ids are skipped)."""
        rows = self.ids.convert_to_internal(item_ids, strict=False)
        return rows[rows >= 0]


_ROW_ARRAYS = ("published", "expires", "verified", "formats", "towns", "topics", "audiences", "model_rows")


@dataclass
class ViewChange:
    """How `CatalogView.with_changes` moved rows: carry other row-aligned arrays (the item matrix) over."""

    old: CatalogView
    keep: np.ndarray  # bool over the old rows: still in the new view (in the same order)
    rows: np.ndarray  # rows of the new view that hold the changed items (edited first, then added)
    view: CatalogView | None = None

    def carry(self, old: np.ndarray, changed: np.ndarray) -> np.ndarray:
        """`old` (aligned with the old view) re-aligned with the new one, `changed` (one row per changed
        item, in `rows` order) written into the changed rows."""
        kept = old[self.keep] if not self.keep.all() else old
        n_added = int((self.rows >= kept.shape[0]).sum())
        out = np.empty((kept.shape[0] + n_added, *old.shape[1:]), dtype=old.dtype)
        out[: kept.shape[0]] = kept
        out[self.rows] = changed
        return out


def catalog_item_matrix(
    view: CatalogView, item_vectors: np.ndarray, new_item_vectors: np.ndarray | None = None
) -> np.ndarray:
    """The model's item representations in catalog order, (n_catalog × d), built once per catalog view and
    model version so that a request costs one matrix-vector product (gathering rows per request cost as
    much as the product itself: bench/service_latency.py).

    `item_vectors` are the bundle's (n_model_items × d) rows; `new_item_vectors` (n_catalog × d, optional)
    give feature-only vectors for catalog items the model never saw. Rows with neither are NaN.
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    out = np.full((view.size, vectors.shape[1]), np.nan, dtype=np.float32)
    known = view.model_rows >= 0
    out[known] = vectors[view.model_rows[known]]
    if new_item_vectors is not None:
        out[~known] = new_item_vectors[~known]
    return out


def model_scores(catalog_items: np.ndarray, user_vector: np.ndarray | None) -> np.ndarray:
    """Hybrid-model scores over the catalog: one matrix-vector product, never `LightFM.predict`.

    `catalog_items` comes from `catalog_item_matrix`; items without a vector (and every item when there
    is no user vector) score NaN.
    """
    if user_vector is None:
        return np.full(catalog_items.shape[0], np.nan, dtype=np.float32)
    return catalog_items @ np.asarray(user_vector, dtype=np.float32)


@dataclass(frozen=True)
class ContentCandidates:
    """Content neighbours of recent reads: similarity per catalog row and which read drove it."""

    scores: np.ndarray  # float32 (n,), 0 where not a neighbour
    because_of: np.ndarray  # int64 (n,), catalog row of the read that drove it, -1 otherwise


def parse_search_result(result: Any) -> tuple[list[list[str]], list[list[float]]]:
    """Accept `(ids, scores)` (as `VectorIndex.search` returns: scores padded to k) or a list of per-query
    hit lists of (id, score) / objects with id/score. Scores are cut to the ids actually returned."""
    if isinstance(result, tuple) and len(result) == 2:
        ids, scores = result
        rows = [list(map(str, r)) for r in ids]
        score_rows = np.asarray(scores, dtype=np.float64).tolist()
        return rows, [list(map(float, s[: len(r)])) for r, s in zip(rows, score_rows, strict=True)]
    all_ids, all_scores = [], []
    for hits in result:
        row_ids, row_scores = [], []
        for hit in hits:
            if isinstance(hit, tuple):
                row_ids.append(str(hit[0]))
                row_scores.append(float(hit[1]))
            else:
                row_ids.append(str(hit.id if hasattr(hit, "id") else hit["id"]))
                row_scores.append(float(hit.score if hasattr(hit, "score") else hit["score"]))
        all_ids.append(row_ids)
        all_scores.append(row_scores)
    return all_ids, all_scores


def content_candidates(
    view: CatalogView,
    index: VectorIndexLike,
    recent_rows: Sequence[int],
    query_vectors: np.ndarray,
    recency_weights: Sequence[float],
    k_per_read: int,
    exclude_ids: Sequence[str] = (),
) -> ContentCandidates:
    """Search the vector index once with the vectors of the recent reads (one query row per read)."""
    scores = np.zeros(view.size, dtype=np.float32)
    because = np.full(view.size, -1, dtype=np.int64)
    if not recent_rows:
        return ContentCandidates(scores, because)
    hit_ids, hit_scores = parse_search_result(
        index.search(np.asarray(query_vectors, dtype=np.float32), k_per_read, exclude=list(exclude_ids))
    )
    for q, (ids, sims) in enumerate(zip(hit_ids, hit_scores, strict=True)):
        rows = view.ids.convert_to_internal(ids, strict=False)
        weighted = np.asarray(sims, dtype=np.float32) * float(recency_weights[q])
        for row, value in zip(rows, weighted, strict=True):
            if row >= 0 and row != recent_rows[q] and value > scores[row]:
                scores[row] = value
                because[row] = recent_rows[q]
    return ContentCandidates(np.clip(scores, 0.0, None), because)


def aligned_prior(view: CatalogView, model_items: IdMap, prior: np.ndarray) -> np.ndarray:
    """A per-model-item array (popularity, trending) re-indexed onto the catalog (0 for new items)."""
    out = np.zeros(view.size, dtype=np.float32)
    known = view.model_rows >= 0
    out[known] = np.asarray(prior, dtype=np.float32)[view.model_rows[known]]
    return out


def recency_weights(timestamps: Sequence[datetime], now: datetime, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life) for each recent read (newest reads drive content candidates most)."""
    ages = np.array([(now - t).total_seconds() / 86_400.0 for t in timestamps], dtype=np.float64).clip(0)
    return np.power(0.5, ages / half_life_days)
