"""Search over the catalog: the one path behind `GET /v1/search` and `kepu catalog search`.

query → BM25 over jieba tokens + glossary synonyms (`recommender.lexical`, title boosted)
      ⊕ dense cosine from the catalog encoder's vector index
      → fused score = lexical_weight · bm25 + (1 − lexical_weight) · cosine (both comparable across queries)
      → filters (expired / unverified hidden unless `include_hidden`, audience)
      → best allowed item below `min_score` → an empty list with a `hint` instead of filler;
        otherwise the top k of the items scoring ≥ `item_ratio` × the best one.

Why a linear fusion and not reciprocal rank fusion: RRF only sees ranks, so every query — "周杰伦演唱会门票"
too — gets a confident-looking top 10; a fused score on a fixed scale lets one calibrated threshold say
"nothing here". `bench/search_quality.py` measures both and fits `lexical_weight` and `min_score` (the
defaults below come from its table in docs/search.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from content_catalog.schema import Item
from content_catalog.taxonomy import check_audience
from recommender import filters
from recommender.candidates import CatalogView, EncoderLike, VectorIndexLike, parse_search_result
from recommender.lexical import BM25Index

NO_ANSWER_HINT = "没有找到足够相关的科普内容：换个说法，或用更具体的关键词（如“高血压”“台风预警”）再试。"
FILTERED_HINT = "有相关内容，但不适合所选人群或已下线：去掉人群筛选再试。"
QUERY_CACHE_SIZE = 4096
"""Most recent distinct queries whose vectors a search keeps (people repeat popular searches)."""


@dataclass(frozen=True, slots=True)
class SearchParams:
    """Fusion knobs; the defaults are the ones `bench/search_quality.py` chose (docs/search.md)."""

    lexical_weight: float = 0.4
    min_score: float = 0.32
    item_ratio: float = 0.0
    title_boost: float = 1.0
    synonym_weight: float = 0.6
    dense_pool: int = 200

    def __post_init__(self) -> None:
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1], got {self.lexical_weight!r}")
        if self.min_score < 0 or self.title_boost < 0 or self.synonym_weight < 0:
            raise ValueError("min_score, title_boost and synonym_weight must be >= 0")
        if not 0.0 <= self.item_ratio <= 1.0:
            raise ValueError(f"item_ratio must be in [0, 1], got {self.item_ratio!r}")
        if self.dense_pool < 1:
            raise ValueError(f"dense_pool must be >= 1, got {self.dense_pool!r}")


@dataclass(frozen=True, slots=True)
class SearchHit:
    item: Item
    score: float
    lexical: float
    dense: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Hits best first; `hint` says why the list is empty (None when there are hits)."""

    hits: list[SearchHit]
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Which items a search may return. Editors pass `include_hidden=True` to see expired/unverified ones."""

    audience: str | None = None
    include_hidden: bool = False
    require_verified: bool = True
    audience_min_score: float = 0.5
    now: datetime | None = None


class CatalogSearch:
    """Hybrid search over one catalog view (build once per catalog version; searching is read-only)."""

    def __init__(
        self,
        view: CatalogView,
        encoder: EncoderLike,
        index: VectorIndexLike,
        params: SearchParams | None = None,
        *,
        lexical: BM25Index | None = None,
    ) -> None:
        """`lexical`: a BM25 index already built over exactly `view.items` (e.g. loaded from a cache)."""
        self.view = view
        self.encoder = encoder
        self.index = index
        self.params = params or SearchParams()
        if lexical is not None and lexical.size != view.size:
            raise ValueError(f"lexical index covers {lexical.size} documents, the view {view.size}")
        self.lexical = lexical or BM25Index(
            [it.title for it in view.items],
            [it.text for it in view.items],
            title_boost=self.params.title_boost,
            synonym_weight=self.params.synonym_weight,
        )
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def query_vector(self, query: str) -> np.ndarray:
        """(1, dim) float32 encoder vector of the query, cached per text: a repeated query costs no encode."""
        text = query.strip()
        with self._cache_lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        encode = getattr(self.encoder, "encode_query", self.encoder.encode)  # asymmetric encoders: query side
        vector = np.asarray(encode([text]), dtype=np.float32)
        with self._cache_lock:
            self._query_vectors[text] = vector
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        return vector

    def signals(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(lexical, dense) scores over every catalog row; dense is 0 outside the encoder's top `dense_pool`."""
        lexical = self.lexical.scores(query)
        dense = np.zeros(self.view.size, dtype=np.float32)
        if self.view.size:
            ids, scores = parse_search_result(self.index.search(self.query_vector(query), self.params.dense_pool))
            if ids and ids[0]:
                rows = self.view.ids.convert_to_internal(ids[0], strict=False)
                found = rows >= 0
                dense[rows[found]] = np.maximum(np.asarray(scores[0], dtype=np.float32)[found], 0.0)
        return lexical, dense

    def fuse(self, lexical: np.ndarray, dense: np.ndarray) -> np.ndarray:
        weight = self.params.lexical_weight
        return (weight * lexical + (1.0 - weight) * dense).astype(np.float32)

    def allowed(self, wanted: SearchFilters) -> np.ndarray:
        """Boolean mask of rows the filters let through."""
        view = self.view
        mask = np.ones(view.size, dtype=bool)
        if not wanted.include_hidden:
            now = (wanted.now or datetime.now(UTC)).astimezone(UTC)
            mask &= filters.active(view, now) & filters.verified(view, wanted.require_verified)
        if wanted.audience is not None:
            mask &= filters.audience(view, [wanted.audience], wanted.audience_min_score)
        return mask

    def search(self, query: str, k: int = 10, wanted: SearchFilters | None = None) -> SearchResult:
        """The k best items, or no item and a hint when the best allowed item scores below `min_score`.

        Below the best hit, items scoring under `item_ratio` × the best are dropped (no weak filler)."""
        if not query or not query.strip():
            raise ValueError("q: the search query is empty")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k: must be a positive int, got {k!r}")
        wanted = wanted or SearchFilters()
        if wanted.audience is not None:
            check_audience(wanted.audience, "audience")
        lexical, dense = self.signals(query)
        fused = self.fuse(lexical, dense)
        good = fused >= self.params.min_score
        allowed = self.allowed(wanted)
        if not (allowed & good).any():
            return SearchResult([], FILTERED_HINT if good.any() else NO_ANSWER_HINT)
        mask = allowed & (fused >= self.params.item_ratio * float(fused[allowed].max()))
        rows = ranked_rows(fused, mask, k)
        hits = [SearchHit(self.view.items[r], float(fused[r]), float(lexical[r]), float(dense[r])) for r in rows]
        return SearchResult(hits)


def ranked_rows(scores: np.ndarray, mask: np.ndarray, k: int) -> list[int]:
    """Rows of `mask` with the k highest scores, best first (ties: lower row first, so results are stable)."""
    candidates = np.flatnonzero(mask)
    if len(candidates) > k:
        top = np.argpartition(-scores[candidates], k - 1)[:k]
        candidates = candidates[top]
    order = np.lexsort((candidates, -scores[candidates]))
    return [int(r) for r in candidates[order]]


def build_search(
    items: Sequence[Item], encoder: EncoderLike, index: VectorIndexLike, params: SearchParams | None = None
) -> CatalogSearch:
    """A search over `items` (for callers without a service, e.g. the CLI)."""
    return CatalogSearch(CatalogView.build(items), encoder, index, params)
