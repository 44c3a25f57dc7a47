"""The online recommendation path: one `RecommendationService` per process, shared by every request.

Per request: resolve who is asking (user / session / audience) → read their recent history from the store
(events posted after training count immediately) → score the serving catalog with every candidate source
(hybrid model vector product, content neighbours of recent reads, audience popularity, trending) → boolean
filters → blend (weights depend on how much we know) → freshness → editor boosts → MMR over topics →
editor pins → explanations → a snapshot paged through a signed cursor.

Snapshots live in this process's memory and are written behind to the store when it can hold them
(`recommender.write_behind`; no store write on the request path), and cursors are signed with the
store's shared secret unless `cursor_secret` is set, so several worker processes on one store honour
each other's cursors. Without such a store they stay in this process (an in-memory LRU).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from content_catalog.catalog_index import text_hash
from content_catalog.schema import Item, User
from content_catalog.taxonomy import check_audience, check_channel, check_topics
from features.interactions import NEGATIVE_EVENTS, POSITIVE_EVENTS, SESSION_PREFIX
from recommender import explain, filters
from recommender.candidates import (
    AUDIENCE_IDS,
    CatalogView,
    ContentCandidates,
    EncoderLike,
    VectorIndexLike,
    aligned_prior,
    content_candidates,
    model_scores,
    parse_search_result,
    recency_weights,
)
from recommender.cursor import (
    CursorCodec,
    CursorError,
    MemorySnapshotCache,
    Pager,
    Position,
    Snapshot,
    SnapshotCache,
    SnapshotNotSaved,
    StoreSnapshotCache,
    owner_of,
)
from recommender.forgetting import Forgetting
from recommender.lexical import BM25Index
from recommender.model_product import CompactProduct
from recommender.neighbours import NeighbourCache
from recommender.pool_blend import PoolTop, Source, StaticSum, pool_top, static_sum
from recommender.profile_scores import ProfileScores, ProfileScoresCache
from recommender.profile_vectors import ProfileVectors
from recommender.reason_parts import ReasonParts, reason_parts
from recommender.registry import Bundle
from recommender.rerank import BlendWeights, apply_pins, blend, freshness_boost, mmr
from recommender.rules import EditorRule, RuleSet
from recommender.search import CatalogSearch, SearchFilters, SearchParams
from recommender.search_cache import cached_bm25
from recommender.similar import SimilarParams, rerank_similar
from recommender.write_behind import WriteBehindSnapshotCache

logger = logging.getLogger(__name__)

STATIC_SUMS_KEPT = 32
"""Static-source sums kept for the candidate-pool blend (≈ 0.8 MB each at 100k items)."""

DEFAULT_MMR_LAMBDA = 0.7
"""MMR trade-off for bundles without a fitted one (format 1): 70 % relevance, 30 % topic novelty."""


class UnknownItemError(KeyError):
    """The item id is not in the catalog (the API maps it to 404)."""


class RecommendationRequest(BaseModel):
    """Who is asking and what they want. With neither user nor session nor audience: `public`."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = None
    session_id: str | None = None
    audience: str | None = None
    channel: str = "web"
    k: int = Field(10, ge=1, le=100)
    topics: list[str] = Field(default_factory=list)
    cursor: str | None = None
    explain: bool = True
    now: datetime | None = None

    @field_validator("audience")
    @classmethod
    def _known_audience(cls, value: str | None) -> str | None:
        return None if value is None else check_audience(value)

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        return check_channel(value)

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: list[str]) -> list[str]:
        check_topics(value)
        return value


class RecommendedItem(BaseModel):
    """One card: what the front ends render, plus the score and the reason."""

    id: str
    title: str
    summary: str
    cover_url: str | None
    url: str | None
    format: str
    topics: list[str]
    audiences: list[str]
    score: float
    reason: str | None = None


class RecommendationResponse(BaseModel):
    items: list[RecommendedItem]
    next_cursor: str | None
    model_version: str | None


@dataclass(frozen=True)
class ServiceSettings:
    """Online knobs (documented defaults; the API builds them from `KEPU_*` settings)."""

    pool_per_source: int = 200
    snapshot_depth: int = 200
    pool_blend_min_items: int = 5_000  # from this catalog size, blend a proven candidate pool (recommender.pool_blend)
    content_k_per_read: int = 50
    recent_reads: int = 5
    recent_half_life_days: float = 7.0
    history_limit: int = 500
    freshness_half_life_days: float = 14.0
    freshness_weight: float = 0.3
    mmr_lambda: float | None = None  # None: the bundle's fitted λ, else DEFAULT_MMR_LAMBDA
    require_verified: bool = True
    audience_min_score: float = 0.5
    shrinkage: float = 5.0
    sources_off: tuple[str, ...] = ()  # candidate sources left out of the blend (ablations, experiments)
    search: SearchParams = field(default_factory=SearchParams)  # fusion and no-answer threshold (recommender.search)
    similar: SimilarParams = field(default_factory=SimilarParams)  # topic/audience agreement (recommender.similar)
    cursor_secret: str | None = None
    snapshot_ttl_seconds: float = 3_600.0
    snapshot_max_entries: int = 10_000  # in-memory snapshot cache only
    snapshot_max_stored: int = 20_000  # store snapshot cache: rows kept (≈ 18 KB each), trimmed in the background
    search_cache_dir: Path | None = None  # where the keyword index is saved for every worker (recommender.search_cache)

    CURSOR_SECRET_NAME = "cursor_secret"
    """Name of the store's shared secret that signs cursors when `cursor_secret` is unset."""

    def __post_init__(self) -> None:
        if self.mmr_lambda is not None and not 0.0 <= self.mmr_lambda <= 1.0:
            raise ValueError(f"mmr_lambda must be within [0, 1], got {self.mmr_lambda}")
        for name in ("freshness_weight", "shrinkage"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("pool_per_source", "snapshot_depth", "content_k_per_read", "recent_reads", "history_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("recent_half_life_days", "freshness_half_life_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.audience_min_score <= 1.0:
            raise ValueError(f"audience_min_score must be within [0, 1], got {self.audience_min_score}")
        if self.pool_blend_min_items < 0:
            raise ValueError(f"pool_blend_min_items must be >= 0, got {self.pool_blend_min_items}")
        if self.snapshot_ttl_seconds <= 0:
            raise ValueError(f"snapshot_ttl_seconds must be > 0, got {self.snapshot_ttl_seconds}")
        if self.snapshot_max_entries < 1:
            raise ValueError(f"snapshot_max_entries must be >= 1, got {self.snapshot_max_entries}")
        if self.snapshot_max_stored < 1:
            raise ValueError(f"snapshot_max_stored must be >= 1, got {self.snapshot_max_stored}")


@dataclass
class _Who:
    """The resolved requester."""

    user_key: str | None
    user: User | None
    audiences: list[str]
    history: list[Any] = field(default_factory=list)
    model_key: str | None = None  # user_key unless the bundle must not be used for them (erased)
    erasure: tuple[datetime | None] | None = None  # (when user_key was erased,) if read with the rest
    catalog_version: str | None = None  # store.catalog_version(), if read with the rest
    rules: list[Any] | None = None  # every editor rule (store.list_rules()), if read with the rest

    @property
    def audience(self) -> str:
        return self.audiences[0]


@dataclass
class _State:
    """Everything one request reads from the store, fetched once and shared by ranking and paging."""

    request: RecommendationRequest
    who: _Who
    now: datetime
    view: CatalogView
    item_matrix: np.ndarray | None  # model item vectors in catalog order (catalog_item_matrix)
    bundle: Bundle | None
    rules: RuleSet
    read: set[str]
    negative: set[str]
    recent: list[tuple[str, datetime]]
    profile_scores: ProfileScores | None = None  # the model scores when they depend only on the profile


@dataclass(frozen=True)
class SourceScores:
    """One request's candidate sources over the catalog view (see `RecommendationService.source_scores`)."""

    view: CatalogView
    allowed: np.ndarray  # bool over the catalog: passes every filter
    signals: dict[str, np.ndarray]
    n_history: int  # distinct items the requester has read (their history band)
    now_ts: float
    weights: BlendWeights | None  # what the service would blend them with now


@dataclass(frozen=True)
class _CatalogState:
    """What every request reads about the catalog, replaced as a whole (a reader never sees half of it)."""

    version: str  # store.catalog_version() it describes
    mark: Any  # change-feed position (store.item_changes_since)
    view: CatalogView
    matrix: np.ndarray | None  # model item vectors in catalog order (catalog_item_matrix)
    bundle: Bundle | None


@dataclass
class _Ranked:
    ids: list[str]
    scores: dict[str, float]
    reasons: dict[str, tuple[Any, ...]]  # ReasonParts' fields: the sentence is picked per served card (`_reason`)


class RecommendationService:
    """Online recommendations, similar items and semantic search over one store, bundle, encoder and index.

    `bundle` may be None before the first training: ranking then uses content, freshness and rules only.
    `snapshots` is where cursor snapshots live (default: memory written behind to the store when it has
    `save_snapshots`, else the store, else an
    in-memory LRU); cursors are signed with `settings.cursor_secret`, else the store's `shared_secret`,
    else a random per-process key.
    """

    def __init__(
        self,
        store: Any,
        bundle: Bundle | None,
        encoder: EncoderLike,
        index: VectorIndexLike,
        *,
        settings: ServiceSettings | None = None,
        snapshots: SnapshotCache | None = None,
    ) -> None:
        self.store = store
        self.bundle = bundle
        self.encoder = encoder
        self.index = index
        self.settings = settings or ServiceSettings()
        cache = snapshots if snapshots is not None else self._default_snapshots()  # an empty LRU is falsy
        self._pager = Pager(cache, CursorCodec(self._cursor_secret()))
        self._lock = threading.Lock()  # taken by whoever changes the catalog state, never by a reader
        self._cat: _CatalogState | None = None
        self._searcher: CatalogSearch | None = None
        self._searcher_lock = threading.Lock()
        digests = getattr(index, "digests", None)  # item id -> text digest of the vector the index holds
        self._digests: dict[str, str] = digests if isinstance(digests, dict) else {}
        self._vectors: dict[str, np.ndarray] = {}
        self._forgetting = Forgetting(store)
        self._neighbours = NeighbourCache(index)  # content neighbours per item, searched once per catalog view
        self.pool_rounds: Counter[str] = Counter()  # rankings by how the head was found (bench/recommend_latency.py)
        self._view_arrays: dict[tuple[Any, ...], Any] = {}  # see _per_view
        self._static_sums: OrderedDict[tuple[Any, ...], StaticSum] = OrderedDict()  # see _static_sum
        self._static_view: CatalogView | None = None
        self._profile_vectors = ProfileVectors()  # sessions and new users: one vector per profile and bundle
        self._profile_scores = ProfileScoresCache()  # ... and their scores over the catalog, per item matrix
        self._compact = CompactProduct()  # large catalogs: the product over the columns that can contribute

    def _default_snapshots(self) -> SnapshotCache:
        cfg = self.settings
        if callable(getattr(self.store, "save_snapshots", None)):
            return WriteBehindSnapshotCache(self.store, cfg.snapshot_ttl_seconds, max_stored=cfg.snapshot_max_stored)
        if callable(getattr(self.store, "save_snapshot", None)):
            return StoreSnapshotCache(self.store, cfg.snapshot_ttl_seconds, max_stored=cfg.snapshot_max_stored)
        return MemorySnapshotCache(cfg.snapshot_max_entries, cfg.snapshot_ttl_seconds)

    def _cursor_secret(self) -> str | None:
        if self.settings.cursor_secret:
            return self.settings.cursor_secret
        shared = getattr(self.store, "shared_secret", None)
        return shared(ServiceSettings.CURSOR_SECRET_NAME) if callable(shared) else None

    @property
    def snapshots(self) -> SnapshotCache:
        """Where this service keeps cursor snapshots."""
        return self._pager.cache

    # ------------------------------------------------------------------------------------ catalog
    def swap_bundle(self, bundle: Bundle | None) -> None:
        """Serve a new model version (atomic: the next request sees the new bundle and its item matrix,
        built here, by the caller's thread, never by a request)."""
        with self._lock:
            self.bundle = bundle
            current = self._cat
            if current is not None:
                view = self._rebind(current.view, bundle)
                self._cat = replace(current, view=view, matrix=self._full_matrix(bundle, view), bundle=bundle)

    @property
    def is_warm(self) -> bool:
        """True once the catalog view, item matrix, index and keyword index describe the catalog (the first
        request of every kind is fast)."""
        return self._cat is not None and self._searcher is not None

    def warm_up(self) -> None:
        """Build the catalog state and the keyword index (loaded from `settings.search_cache_dir` when saved
        there), run one search and score one anonymous request per audience, so the first request of no kind pays
        for them."""
        self._catalog()
        self.searcher()
        if len(self.index):
            with contextlib.suppress(RuntimeError):  # an encoder never fitted (empty catalog): nothing to warm
                self.search(WARM_QUERY, k=1)
        for audience in AUDIENCE_IDS:  # per-view and per-audience arrays; nothing is written (no cursor)
            self.score_catalog(RecommendationRequest(audience=audience, k=20))

    def _catalog(self, version: str | None = None) -> tuple[CatalogView, np.ndarray | None, Bundle | None]:
        """The catalog view, item matrix and bundle, kept in step with the store (new items need no retrain).

        A request costs one O(1) `catalog_version()` check. When it changed, one thread applies the store's
        change feed (only the changed items: `_refresh`) and swaps in the new state; threads arriving
        meanwhile keep serving the state they have instead of waiting. `version`: the token when the
        caller already read it (with the requester, in one transaction).
        """
        version = version if version is not None else self.store.catalog_version()
        state = self._cat
        if state is not None and state.version == version:
            return state.view, state.matrix, state.bundle
        if not self._lock.acquire(blocking=state is None):
            return state.view, state.matrix, state.bundle  # type: ignore[union-attr]  # another thread refreshes
        try:
            state = self._cat
            if state is None or state.version != version:
                state = self._refresh(state, version)
                self._cat = state
            return state.view, state.matrix, state.bundle
        finally:
            self._lock.release()

    def refresh_catalog(self) -> None:
        """Apply the store's catalog changes now, if any (a background loop calls it; requests then find
        the state current)."""
        if self._cat is not None:
            self._catalog()

    def apply_item_changes(self, items: Sequence[Item] = (), removed: Sequence[str] = ()) -> None:
        """Bring this service up to date after a write made through it (the writer's thread pays, readers
        never wait): re-encode only the written items and swap in the new catalog state."""
        with self._lock:
            state = self._cat
            if state is None:
                return
            self._cat = self._refresh(state, self.store.catalog_version())

    def _refresh(self, state: _CatalogState | None, version: str) -> _CatalogState:
        """The next catalog state: the store's changes since `state` applied item by item, or a full
        build (first view, a bulk ingest). Caller holds `_lock` (only writers of the state take it)."""
        feed = getattr(self.store, "item_changes_since", None)  # in-memory catalogs (validation) have none
        if state is not None and feed is not None:
            changes = feed(state.mark)
            if changes.complete:
                return self._apply(state, changes.items, changes.deleted, changes.mark, version)
        mark = feed(None).mark if feed is not None else None
        items = list(self.store.iter_items())
        if state is not None or getattr(self.index, "catalog_version", None) != version:
            self._sync_index(items, full=True)  # else the index was saved at exactly this catalog: nothing to hash
        bundle = self.bundle
        view = CatalogView.build(items, bundle.item_map if bundle else None)
        self._vectors = {}
        return _CatalogState(version, mark, view, self._full_matrix(bundle, view), bundle)

    def _apply(
        self, state: _CatalogState, items: Sequence[Item], deleted: Sequence[str], mark: Any, version: str
    ) -> _CatalogState:
        """`state` with only the changed items touched: their index vectors, view rows and matrix rows."""
        view = state.view
        unchanged = {it.id for it in items if (row := view.ids.get(it.id)) >= 0 and view.items[row] == it}
        items = [it for it in items if it.id not in unchanged]
        deleted = [i for i in deleted if view.ids.get(i) >= 0 or i in self.index]
        if not items and not deleted:
            return replace(state, version=version, mark=mark)
        self._sync_index(items, removed=deleted)
        bundle = state.bundle  # swap_bundle replaces the state's bundle and matrix itself
        change = view.with_changes(items, deleted, bundle.item_map if bundle else None)
        assert change.view is not None
        for item_id in [*deleted, *(it.id for it in items)]:
            self._vectors.pop(item_id, None)
        matrix = None
        if bundle is not None and state.matrix is not None:
            matrix = change.carry(state.matrix, self._matrix_rows(bundle, change.view, change.rows))
        return _CatalogState(version, mark, change.view, matrix, bundle)

    @staticmethod
    def _rebind(view: CatalogView, bundle: Bundle | None) -> CatalogView:
        """`view` with `model_rows` pointing into `bundle` (a copy of the view when they change)."""
        rows = (
            bundle.item_map.convert_to_internal([it.id for it in view.items], strict=False)
            if bundle is not None
            else np.full(view.size, -1, dtype=np.int64)
        )
        return view if np.array_equal(rows, view.model_rows) else replace(view, model_rows=rows)

    def _full_matrix(self, bundle: Bundle | None, view: CatalogView) -> np.ndarray | None:
        """The bundle's item vectors in catalog order, cold-start rows for items it never saw."""
        if bundle is None:
            return None
        return self._matrix_rows(bundle, view, np.arange(view.size))

    def _matrix_rows(self, bundle: Bundle, view: CatalogView, rows: np.ndarray) -> np.ndarray:
        """(len(rows) × d) item-matrix rows of catalog `rows`: the model's row, else a cold-start row."""
        model_rows = view.model_rows[rows]
        known = model_rows >= 0
        out = np.empty((rows.size, bundle.item_matrix.shape[1]), dtype=np.float32)
        out[known] = np.asarray(bundle.item_matrix, dtype=np.float32)[model_rows[known]]
        if not known.all():
            new = np.zeros(view.size, dtype=bool)
            new[rows[~known]] = True
            out[~known] = bundle.cold_item_matrix(self._new_item_features(bundle, view, new))
        return out

    def _new_item_features(self, bundle: Bundle, view: CatalogView, new: np.ndarray) -> Any:
        """Feature rows of items the model never saw, exactly as training builds them: metadata plus the
        text-cluster memberships of their encoder vectors (tests/test_train_serve_consistency.py)."""
        rows = np.flatnonzero(new)
        centroids = bundle.item_features.centroids_
        vectors = self._query_vectors(view, rows.tolist()) if centroids is not None else None
        if vectors is not None and vectors.shape[1] != centroids.shape[1]:
            # The bundle was trained with another encoder than the catalog index serves (a misconfiguration
            # `kepu train` never makes): serve the new items on metadata alone rather than fail the write.
            logger.warning(
                "model %s: text clusters have dim %d but the catalog encoder gives %d; new items get metadata "
                "features only (retrain with the catalog's encoder)",
                bundle.version,
                centroids.shape[1],
                vectors.shape[1],
            )
            vectors = None
        return bundle.item_features.transform([view.items[r] for r in rows], vectors)

    def _sync_index(self, items: Sequence[Item], *, removed: Sequence[str] = (), full: bool = False) -> None:
        """Keep the vector index equal to the live catalog: encode new or edited items, drop deleted ones.

        `full`: `items` is the whole catalog (anything else in the index is dropped). The texts' digests
        live with the index (shared by every service on it), so an item another service on the same index
        already encoded is not encoded again; an index loaded without digests is trusted for the items
        it holds.
        """
        digests = self._digests
        hashes = {it.id: text_hash(it.text) for it in items}
        stale = [it for it in items if it.id not in self.index or digests.get(it.id, hashes[it.id]) != hashes[it.id]]
        gone = list(removed)
        if full:
            gone = [item_id for item_id in self.index.ids if item_id not in hashes]
        if gone:
            self.index.remove(gone)
            for item_id in gone:
                digests.pop(item_id, None)
        if stale:
            try:
                vectors = self.encoder.encode([it.text for it in stale])
            except RuntimeError:  # an encoder never fitted (empty catalog at start): the provider rebuilds
                return
            self.index.add([it.id for it in stale], vectors)
        digests.update(hashes)

    # ------------------------------------------------------------------------------------ who
    def _who(self, request: RecommendationRequest) -> _Who:
        if callable(getattr(self.store, "requester", None)):  # one read transaction (content_catalog.store.online)
            found = self.store.requester(
                request.user_id, request.session_id, self.settings.history_limit, catalog=True, rules=True
            )
            user_id, user, history = found.user_id, found.user, list(found.history)
            audiences = [request.audience] if request.audience else list(user.audiences if user else [])
            key = user_id or (f"{SESSION_PREFIX}{request.session_id}" if request.session_id else None)
            who = _Who(key, user, audiences or ["public"], history, erasure=(found.erased_at,))
            who.catalog_version, who.rules = found.catalog_version, found.rules
            return who
        user_id = request.user_id
        if user_id is None and request.session_id is not None:
            user_id = self.store.user_for_session(request.session_id)
        user = self.store.get_user(user_id) if user_id else None
        audiences = [request.audience] if request.audience else list(user.audiences if user else [])
        key = user_id or (f"{SESSION_PREFIX}{request.session_id}" if request.session_id else None)
        history: list[Any] = []
        if user_id or request.session_id:
            history = self.store.user_history(
                user_id=user_id, session_id=request.session_id, limit=self.settings.history_limit
            )
        return _Who(user_key=key, user=user, audiences=audiences or ["public"], history=history)

    @staticmethod
    def _history_sets(history: Sequence[Any]) -> tuple[set[str], set[str], list[tuple[str, datetime]]]:
        """(read ids, disliked/hidden ids, recent distinct reads newest first with their time)."""
        read, negative, recent = set(), set(), []
        for entry in history:
            kind = str(getattr(entry.type, "value", entry.type))
            if kind in NEGATIVE_EVENTS:
                negative.add(entry.item_id)
            elif kind in POSITIVE_EVENTS:
                if entry.item_id not in read:
                    recent.append((entry.item_id, entry.timestamp))
                read.add(entry.item_id)
        return read, negative, recent

    def _rules(self, now: datetime, who: _Who, channel: str) -> RuleSet:
        if who.rules is not None:  # read with the requester: keep what list_rules(now, audience, channel) keeps
            records = [
                r
                for r in who.rules
                if r.is_active(now) and r.audience in (None, who.audience) and r.channel in (None, channel)
            ]
        else:
            records = self.store.list_rules(active_at=now, audience=who.audience, channel=channel)
        return RuleSet.select([EditorRule.from_record(r) for r in records], now, who.audiences, channel)

    # ------------------------------------------------------------------------------------ ranking
    def _state(self, request: RecommendationRequest) -> _State:
        now = (request.now or datetime.now(UTC)).astimezone(UTC)
        who = self._who(request)
        view, item_matrix, bundle = self._catalog(who.catalog_version)
        if who.erasure is not None:
            who.model_key = self._forgetting.model_key_given(who.user_key, bundle, who.erasure[0])
        else:
            who.model_key = self._forgetting.model_key(who.user_key, bundle)
        read, negative, recent = self._history_sets(who.history)
        return _State(
            request, who, now, view, item_matrix, bundle, self._rules(now, who, request.channel), read, negative, recent
        )

    def _query_vectors(self, view: CatalogView, rows: Sequence[int]) -> np.ndarray:
        """Vectors of catalog rows: from the vector index when it has them, else encoded; cached per item
        until the catalog changes."""
        missing = [r for r in rows if view.items[r].id not in self._vectors]
        lookup = getattr(self.index, "vector", None)
        if missing and callable(lookup):  # the index already holds the vectors: no encoding per request
            for r in list(missing):
                try:
                    self._vectors[view.items[r].id] = np.asarray(lookup(view.items[r].id), dtype=np.float32)
                    missing.remove(r)
                except KeyError:
                    continue
        if missing:
            encoded = np.asarray(self.encoder.encode([view.items[r].text for r in missing]), dtype=np.float32)
            for r, vec in zip(missing, encoded, strict=True):
                self._vectors[view.items[r].id] = vec
        return np.stack([self._vectors[view.items[r].id] for r in rows])

    def _mask(self, state: _State, exclude: set[str]) -> np.ndarray:
        """Everything that may be shown to this requester now (boolean over the catalog)."""
        cfg, request, view = self.settings, state.request, state.view
        audiences = tuple(state.who.audiences)
        static = self._per_view(
            view,
            ("mask", request.channel, audiences),
            lambda: (
                filters.verified(view, cfg.require_verified)
                & filters.channel(view, request.channel)
                & filters.audience(view, audiences, cfg.audience_min_score)
            ),
        )
        mask = filters.active(view, state.now) & static
        if request.topics:
            mask &= filters.topics(view, request.topics)
        return mask & filters.exclude_ids(view, state.read | state.negative | state.rules.blocks | exclude)

    def _static_sum(
        self, view: CatalogView, key: tuple[Any, ...], sources: dict[str, Source], weights: dict[str, float]
    ) -> StaticSum:
        """The static sources' `StaticSum` for this view, audience, town and blend weights: an LRU of its own
        (each holds two arrays over the catalog; audiences × towns × history bands can be hundreds)."""
        if self._static_view is not view:  # a new catalog view: every sum is stale
            self._static_sums, self._static_view = OrderedDict(), view
        key = (id(view), *key)  # a request still ranking on the previous view may insert after the reset
        found = self._static_sums.get(key)
        if found is None:
            found = static_sum(sources, weights)
            self._static_sums[key] = found
            while len(self._static_sums) > STATIC_SUMS_KEPT:
                self._static_sums.popitem(last=False)
        else:
            with contextlib.suppress(KeyError):  # another thread may have evicted it meanwhile
                self._static_sums.move_to_end(key)
        return found

    def _per_view(self, view: CatalogView, key: tuple[Any, ...], build: Callable[[], np.ndarray]) -> np.ndarray:
        """An array that depends only on the catalog view (and its bundle) and the key: built on the first
        request that needs it, then shared read-only until the view changes (a new view object)."""
        cache = self._view_arrays
        if cache.get(("view",)) is not view:
            cache = self._view_arrays = {("view",): view}
        found = cache.get(key)
        if found is None:
            found = cache[key] = build()
            if len(cache) > 256:  # bounded: keys are channel x audience combinations, a few dozen in practice
                self._view_arrays = {("view",): view}
        return found

    def _model_signal(self, state: _State, bundle: Bundle) -> np.ndarray:
        """The ranker's scores over the catalog for this requester: from their trained row and/or live
        history (events after training count at once for history-based rankers); else from a vector built
        from their profile (audience, age band, town, interests, channel), whose scores are computed once
        per profile and item matrix and kept in `state.profile_scores` (`recommender.profile_scores`);
        NaN everywhere when the ranker cannot score them."""
        who = state.who
        history = [(e.item_id, str(getattr(e.type, "value", e.type))) for e in who.history]
        vector = bundle.user_vector(who.model_key, history)
        large = state.view.size >= self.settings.pool_blend_min_items  # small catalogs: the plain product
        if vector is not None and state.item_matrix is not None and large:
            return self._compact.scores(state.item_matrix, vector)  # recommender.model_product
        if vector is not None or state.item_matrix is None:
            return model_scores(state.item_matrix, vector)
        u = who.user
        profile = (
            tuple(who.audiences),
            u.age_band if u else None,
            u.town if u else None,
            tuple(u.interests) if u else (),
            state.request.channel,
        )
        vector = self._profile_vectors.get(bundle, profile)
        if vector is None:
            return model_scores(state.item_matrix, None)
        state.profile_scores = self._profile_scores.get(state.item_matrix, profile, vector)
        return state.profile_scores.scores

    def _signals(self, state: _State) -> tuple[dict[str, np.ndarray], ContentCandidates, BlendWeights]:
        """Every candidate source scored over the whole catalog, and the blend weights for this requester
        (the bundle's fitted blend for the requester's history band; the documented fallback without one)."""
        cfg, view, bundle, who = self.settings, state.view, state.bundle, state.who
        signals: dict[str, np.ndarray] = {}
        popularity = np.zeros(view.size, dtype=np.float32)
        if bundle is not None:
            signals["model"] = self._model_signal(state, bundle)
            popularity = self._per_view(
                view,
                ("popularity", bundle.version, who.audience),
                lambda: aligned_prior(view, bundle.item_map, bundle.popularity_for(who.audience)),
            )
            now_ts = state.now.timestamp()  # trending as of the request: only events up to `now` count
            signals["trending"] = self._per_view(
                view,
                ("trending", bundle.version, bundle.trending_key(now_ts)),
                lambda: aligned_prior(view, bundle.item_map, bundle.trending_at(now_ts)),
            )
        signals["audience"] = popularity
        signals["tag"] = view.audiences[:, AUDIENCE_IDS.index(who.audience)]
        town = who.user.town if who.user else None
        signals["local"] = self._per_view(
            view,
            ("local", town or ""),
            lambda: (
                ((view.towns == town) & np.isin(view.formats, list(explain.LOCAL_FORMATS))).astype(np.float32)
                if town
                else np.zeros(view.size, dtype=np.float32)
            ),
        )

        recent = [(int(view.ids.get(i)), t) for i, t in state.recent[: cfg.recent_reads] if view.ids.get(i) >= 0]
        rows = [r for r, _ in recent]
        content = content_candidates(
            view,
            self._neighbours.for_view(view, [view.items[r].id for r in rows]) if rows else self.index,
            rows,
            self._query_vectors(view, rows) if rows else np.zeros((0, 1), dtype=np.float32),
            recency_weights([t for _, t in recent], state.now, cfg.recent_half_life_days),
            cfg.content_k_per_read,
            exclude_ids=sorted(state.read | state.negative),
        )
        signals["content"] = content.scores
        for name in cfg.sources_off:
            signals.pop(name, None)
        if bundle is not None and bundle.blend is not None:
            weights = bundle.blend.weights_for(len(state.read))
        else:
            n_known = bundle.user_interactions(who.model_key) if bundle and who.model_key else 0
            has_model_user = bool(bundle and who.model_key and bundle.user_map.get(who.model_key) >= 0)
            weights = BlendWeights.for_history(n_known, len(rows), has_model_user, cfg.shrinkage)
        return signals, content, weights

    def source_scores(self, request: RecommendationRequest) -> SourceScores:
        """Every source's scores over the catalog for one request, before blending: what
        `recommender.blend_fit` fits the blend weights on (the same signals `recommend` blends)."""
        state = self._state(request)
        mask = self._mask(state, set())
        signals, _, weights = self._signals(state) if mask.any() else ({}, None, None)
        return SourceScores(state.view, mask, signals, len(state.read), state.now.timestamp(), weights)

    def _mmr_lambda(self, bundle: Bundle | None) -> float:
        """The λ set for this service (experiments), else the one fitted into the bundle, else the default."""
        if self.settings.mmr_lambda is not None:
            return self.settings.mmr_lambda
        if bundle is not None and bundle.blend is not None and bundle.blend.mmr_lambda is not None:
            return bundle.blend.mmr_lambda
        return DEFAULT_MMR_LAMBDA

    def _pool(self, scores: np.ndarray, signals: dict[str, np.ndarray], allowed: np.ndarray) -> np.ndarray:
        """Union of the top `pool_per_source` allowed rows of the blend and of every source, best first (only
        the blend's top `snapshot_depth` when that is all the caller can use: see below)."""
        n = min(self.settings.pool_per_source, len(allowed))
        if self.settings.snapshot_depth <= n:
            # Only the first snapshot_depth rows of the pool are used, and the blend's own top n are in it:
            # those rows are the blend's top snapshot_depth, whatever the other sources add (one partition
            # instead of one per source). Ties at the cut go to the lower row, as in the general case.
            values = np.nan_to_num(scores[allowed], nan=-np.inf)
            depth = min(self.settings.snapshot_depth, len(allowed))
            cut = values[np.argpartition(-values, depth - 1)[depth - 1]]
            head = allowed[values > cut]
            tied = allowed[values == cut][: depth - len(head)]
            pool = np.concatenate([head, tied]).astype(np.int64)
            return pool[np.lexsort((pool, -scores[pool]))]
        tops = []
        for signal in (scores, *signals.values()):
            values = np.nan_to_num(signal[allowed], nan=-np.inf)
            tops.append(allowed[np.argpartition(-values, n - 1)[:n]])
        pool = np.unique(np.concatenate(tops)).astype(np.int64)  # sorted by row: ties below keep row order
        return pool[np.argsort(-scores[pool], kind="stable")]

    def _scores(
        self, state: _State, mask: np.ndarray
    ) -> tuple[dict[str, np.ndarray], ContentCandidates, np.ndarray, dict[str, np.ndarray]]:
        """Sources → blend → freshness → editor boosts: (signals, content, scores, contributions)."""
        signals, content, weights = self._signals(state)
        scores, contributions = self._blend(state, mask, signals, weights)
        return signals, content, scores, contributions

    def _blend(
        self, state: _State, mask: np.ndarray, signals: dict[str, np.ndarray], weights: BlendWeights
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Blend → freshness → editor boosts over the whole catalog: (scores, contributions)."""
        cfg, view = self.settings, state.view
        scores, contributions = blend(signals, weights, mask)
        scores = freshness_boost(
            scores, view.published, state.now.timestamp(), cfg.freshness_half_life_days, cfg.freshness_weight
        )
        for item_id, factor in state.rules.boost_factors().items():
            row = view.ids.get(item_id)
            if row >= 0:
                scores[row] *= factor
        return scores, contributions

    def score_catalog(self, request: RecommendationRequest) -> tuple[CatalogView, np.ndarray, np.ndarray]:
        """(view, allowed mask, blended scores over the catalog) of one request: the served ranking before
        MMR and pins, for metrics that need a score per item (AUC of items added after training)."""
        state = self._state(request)
        mask = self._mask(state, set())
        if state.view.size == 0 or not mask.any():
            return state.view, mask, np.zeros(state.view.size, dtype=np.float32)
        return state.view, mask, self._scores(state, mask)[2]

    def _rank(self, state: _State, exclude: set[str]) -> _Ranked:
        """Filter → score every source → blend → freshness → boosts → MMR → pins → reasons."""
        cfg, view, rules = self.settings, state.view, state.rules
        if view.size == 0:
            return _Ranked([], {}, {})
        mask = self._mask(state, exclude)
        if not mask.any():
            return _Ranked([], {}, {})
        signals, content, weights = self._signals(state)
        top = self._pool_top(state, mask, signals, weights)
        self.pool_rounds[f"pool, round {top.rounds}" if top is not None else "full pass"] += 1
        if top is not None:  # the blend's head from a proven candidate pool (recommender.pool_blend)
            head, head_scores = top.head, top.scores
        else:  # the full pass over the catalog
            scores, contributions = self._blend(state, mask, signals, weights)
            head = self._pool(scores, signals, np.flatnonzero(mask))[: cfg.snapshot_depth]
            head_scores = scores[head]
        ordered = mmr(head, head_scores, view.topics[head], cfg.snapshot_depth, self._mmr_lambda(state.bundle))
        pinnable = {p.item_id for p in rules.pins if view.ids.get(p.item_id) >= 0 and mask[view.ids.get(p.item_id)]}
        ordered_ids = [view.items[r].id for r in ordered]
        ranked_ids, pinned = apply_pins(ordered_ids, rules.pins, pinnable)
        if pinned:  # pins moved or added rows: look the ids up
            rows = np.fromiter((view.ids.get(i) for i in ranked_ids), dtype=np.int64, count=len(ranked_ids))
        else:
            rows = np.asarray(ordered, dtype=np.int64)
        if top is not None:
            parts = top.scorer.contributions_at(rows)
            row_scores = top.scorer.scores_at(rows, parts)
        else:
            parts = {name: np.asarray(part)[rows] for name, part in contributions.items()}
            row_scores = scores[rows]
        out_scores = dict(zip(ranked_ids, row_scores.tolist(), strict=True))
        reasons = self._reasons(state, ranked_ids, rows, pinned, content, parts) if state.request.explain else {}
        return _Ranked(ranked_ids, out_scores, reasons)

    def _pool_top(
        self, state: _State, mask: np.ndarray, signals: dict[str, np.ndarray], weights: BlendWeights
    ) -> PoolTop | None:
        """The blend's head from a candidate pool, or None: run the full pass (small catalogs, settings
        whose head is not the blend's top `snapshot_depth`, or no proof for this pool)."""
        cfg, view = self.settings, state.view
        if view.size < cfg.pool_blend_min_items or cfg.snapshot_depth > cfg.pool_per_source:
            return None
        bundle, who = state.bundle, state.who
        version = bundle.version if bundle is not None else None
        static = {
            "audience": (version, who.audience),
            "trending": (version,),
            "tag": (who.audience,),
            "local": (who.user.town if who.user else "",),
        }
        sources, static_key = {}, []
        if state.profile_scores is not None and "model" in signals:  # the profile's scores: sorted once
            static["model"] = (version, "profile", state.profile_scores.profile)
        for name, values in signals.items():
            if name == "model" and "model" in static:
                key = ("order", name, *static[name])
                order = state.profile_scores.order()  # type: ignore[union-attr]
                sources[name] = Source(values, order if order.size == values.size else None)
                static_key.append(key)
            elif name in static:
                key = ("order", name, *static[name])
                order = self._per_view(view, key, lambda v=values: _descending(v))
                sources[name] = Source(values, order if order.size == values.size else None)
                static_key.append(key)
            else:
                sources[name] = Source(values, sparse=name == "content")
        blend_weights = {name: w for name, w in weights.as_dict().items() if name in signals}
        combined = self._static_sum(view, (*static_key, *blend_weights.items()), sources, blend_weights)
        boosts: dict[int, float] = {}
        for item_id, factor in state.rules.boost_factors().items():
            row = view.ids.get(item_id)
            if row >= 0:
                boosts[row] = boosts.get(row, 1.0) * factor
        freshest = self._per_view(view, ("freshest",), lambda: np.argsort(-view.published, kind="stable"))
        return pool_top(
            sources,
            blend_weights,
            mask,
            view.published,
            state.now.timestamp(),
            cfg.freshness_half_life_days,
            cfg.freshness_weight,
            boosts,
            cfg.snapshot_depth,
            cfg.pool_per_source,
            freshest,
            combined,  # type: ignore[arg-type]
        )

    def _reasons(
        self,
        state: _State,
        ranked_ids: list[str],
        rows: np.ndarray,
        pinned: set[str],
        content: ContentCandidates,
        contributions: dict[str, np.ndarray],
    ) -> dict[str, tuple[Any, ...]]:
        """The facts each ranked id's sentence is chosen from (`recommender.reason_parts`), in one array
        pass per signal; the sentence itself is picked only when the card is served (`_reason`). `rows`
        are their catalog rows, `contributions` each signal's weighted share at those rows."""
        view = state.view
        because = content.because_of[rows]
        read_ids = [view.items[r].id if r >= 0 else None for r in because.tolist()]
        fresh = view.published[rows] >= state.now.timestamp() - 7 * 86_400
        return reason_parts(ranked_ids, pinned, contributions, read_ids, fresh)

    def _reason(self, state: _State, item: Item, detail: str | tuple[Any, ...] | None) -> str | None:
        """A served card's sentence: stored as such (older snapshots), or picked now from its parts."""
        if detail is None or isinstance(detail, str):
            return detail
        if not isinstance(detail, ReasonParts):  # as read back from a stored snapshot (a list)
            try:
                detail = ReasonParts.parse(detail)
            except (TypeError, ValueError) as exc:
                raise CursorError(f"cursor: snapshot reason is unreadable ({exc!r})") from exc
        who, view = state.who, state.view
        read_row = view.ids.get(detail.read_id) if detail.read_id is not None else -1
        return explain.reason_from_parts(
            is_pinned=detail.pinned,
            item=item,
            user_town=who.user.town if who.user else None,
            read_title=view.items[read_row].title if read_row >= 0 else None,
            top=(detail.top_name, detail.top_value),
            content=detail.content,
            audience=who.audience,
            interests=who.user.interests if who.user else (),
            is_fresh=detail.fresh,
        )

    # ------------------------------------------------------------------------------------ paging
    @staticmethod
    def _context(request: RecommendationRequest) -> dict[str, Any]:
        return {
            "u": request.user_id,
            "s": request.session_id,
            "a": request.audience,
            "c": request.channel,
            "t": sorted(request.topics),
        }

    def recommend(self, request: RecommendationRequest) -> RecommendationResponse:
        """A page of ranked cards and the cursor for the next page (None when the catalog is exhausted)."""
        context = self._context(request)
        if request.cursor:
            snapshot, position = self._pager.open(request.cursor)
            if snapshot.context != context:
                raise CursorError("cursor: belongs to a different request (user/session/audience/channel/topics)")
        else:
            snapshot, position = Snapshot(ranked=[], context=context), None
        started = datetime.now(UTC)
        response = self._page(self._state(request), snapshot, position)
        if response.next_cursor:  # erased while this request ranked: keep nothing ranked for them
            snapshot_id = self._pager.codec.decode(response.next_cursor)["s"]
            if self._forgetting.discard_if_erased(owner_of(context), started, snapshot_id):
                discard = getattr(self._pager.cache, "discard", None)
                if callable(discard):  # written behind: never let it reach the store
                    discard(snapshot_id)
                response.next_cursor = None
        return response

    def _page(self, state: _State, snapshot: Snapshot, position: Position | None) -> RecommendationResponse:
        """Next `k` ids of the snapshot, skipping anything served, read, disliked, blocked or expired since.
        When the snapshot runs dry, a fresh ranking that excludes everything before goes into a new
        snapshot (snapshots are never modified, so concurrent or retried pages cannot disturb each other)."""
        view, bundle = state.view, state.bundle
        active = filters.active(view, state.now)
        skip = state.read | state.negative | state.rules.blocks
        offset = position.offset if position else 0
        served = set(snapshot.served) | set(snapshot.ranked[:offset])
        page: list[str] = []
        cards: list[RecommendedItem] = []
        fresh = position is None  # the snapshot is new and must be saved before its cursor is issued
        exhausted = False
        while len(page) < state.request.k:
            if offset >= len(snapshot.ranked):
                extra = self._rank(state, served | set(page))
                if not extra.ids:
                    exhausted = True
                    break
                snapshot = Snapshot(
                    ranked=extra.ids,
                    context=snapshot.context,
                    served=list(dict.fromkeys([*snapshot.served, *snapshot.ranked])),
                    details={i: (extra.scores[i], extra.reasons.get(i)) for i in extra.ids},
                )
                offset, fresh = 0, True
                continue
            item_id = snapshot.ranked[offset]
            offset += 1
            row = view.ids.get(item_id)
            if item_id in served or item_id in skip or row < 0 or not active[row]:
                continue
            page.append(item_id)
            served.add(item_id)
            score, detail = snapshot.details[item_id]
            item = view.items[row]
            cards.append(self._card(item, score, self._reason(state, item, detail)))
        cursor = None
        if page and not exhausted:
            try:
                snapshot_id = self._pager.save(snapshot) if fresh or position is None else position.snapshot_id
                cursor = self._pager.cursor(Position(snapshot_id, offset))
            except SnapshotNotSaved:  # the store is down: this page still serves, the feed just ends here
                cursor = None
        return RecommendationResponse(items=cards, next_cursor=cursor, model_version=bundle.version if bundle else None)

    @staticmethod
    def _card(item: Item, score: float, reason: str | None) -> RecommendedItem:
        return RecommendedItem(
            id=item.id,
            title=item.title,
            summary=item.summary,
            cover_url=item.cover_url,
            url=item.url,
            format=item.format,
            topics=list(item.topics),
            audiences=[t.audience for t in item.audiences],
            score=round(score, 6),
            reason=reason,
        )

    # ------------------------------------------------------------------------------------ similar / search
    def _hits(self, vectors: np.ndarray, k: int, exclude: Sequence[str]) -> list[tuple[str, float]]:
        ids, scores = parse_search_result(
            self.index.search(np.asarray(vectors, dtype=np.float32), k, exclude=list(exclude))
        )
        return list(zip(ids[0], scores[0], strict=True)) if ids else []

    def _listed_neighbours(self, item_id: str, k: int) -> list[tuple[str, float]] | None:
        """The item's k nearest items from the index's precomputed lists (exact), None without them."""
        lookup = getattr(self.index, "neighbours", None)
        found = lookup(item_id, k) if callable(lookup) else None
        return list(zip(*found, strict=True)) if found is not None else None

    def similar(self, item_id: str, k: int = 10, now: datetime | None = None) -> list[RecommendedItem]:
        """Content neighbours of one item (active, verified ones) kept on its topic (`recommender.similar`)."""
        view, matrix, _ = self._catalog()
        row = view.ids.get(item_id)
        if row < 0:
            raise UnknownItemError(f"item_id: unknown item {item_id!r}")
        params = self.settings.similar
        listed = self._listed_neighbours(item_id, params.pool)
        if listed is None:
            vec = self._query_vectors(view, [row])  # the index's stored vector: no encoding per request
            listed = self._hits(vec, params.pool, [item_id])
        rows = view.ids.convert_to_internal([hit_id for hit_id, _ in listed], strict=False)
        found = rows >= 0
        # filters on the pool's rows only (not a mask over the whole catalog per request)
        ts = (now or datetime.now(UTC)).astimezone(UTC).timestamp()
        picked = rows[found]
        ok = (view.published[picked] <= ts) & (view.expires[picked] > ts)
        if self.settings.require_verified:
            ok &= view.verified[picked]
        scores = [score for (_, score), hit in zip(listed, found.tolist(), strict=True) if hit]
        hits = [(r, s) for r, s, keep in zip(picked.tolist(), scores, ok.tolist(), strict=True) if keep]
        ranked = rerank_similar(view, row, hits, None, k, params, matrix)
        return [self._card(view.items[r], score, "相似内容") for r, score in ranked]

    def search(
        self,
        query: str,
        k: int = 10,
        audience: str | None = None,
        now: datetime | None = None,
        *,
        include_hidden: bool = False,
    ) -> list[RecommendedItem]:
        """Hybrid search (`recommender.search`): best first, empty when nothing matches well enough."""
        return self.search_with_hint(query, k, audience, now, include_hidden=include_hidden)[0]

    def search_with_hint(
        self,
        query: str,
        k: int = 10,
        audience: str | None = None,
        now: datetime | None = None,
        *,
        include_hidden: bool = False,
    ) -> tuple[list[RecommendedItem], str | None]:
        """Search hits as cards plus the hint that explains an empty list (None when there are hits)."""
        wanted = SearchFilters(
            audience=audience,
            include_hidden=include_hidden,
            require_verified=self.settings.require_verified,
            audience_min_score=self.settings.audience_min_score,
            now=now,
        )
        result = self.searcher().search(query, k, wanted)
        return [self._card(hit.item, hit.score, None) for hit in result.hits], result.hint

    def searcher(self) -> CatalogSearch:
        """The search over the current catalog view (built once per catalog version)."""
        view, _, _ = self._catalog()
        searcher = self._searcher
        if searcher is not None and searcher.view is view:
            return searcher
        # One thread rebuilds the keyword index for a new view; others keep searching the previous one
        # (a write is then searchable a moment later) rather than each building their own.
        if not self._searcher_lock.acquire(blocking=searcher is None):
            return searcher  # type: ignore[return-value]
        try:
            searcher = self._searcher
            if searcher is None or searcher.view is not view:
                searcher = self._new_searcher(view, searcher)
                self._searcher = searcher
            return searcher
        finally:
            self._searcher_lock.release()

    def _new_searcher(self, view: CatalogView, previous: CatalogSearch | None) -> CatalogSearch:
        """Search over `view`. The keyword index is the slow part (jieba over every text): the first one is
        loaded from (or built into) the shared cache folder, later ones reuse the previous index's token
        counts for every unchanged item, so a write costs jieba for the written items only."""
        params = self.settings.search
        titles, texts = [it.title for it in view.items], [it.text for it in view.items]
        knobs = {"title_boost": params.title_boost, "synonym_weight": params.synonym_weight}
        cache = self.settings.search_cache_dir
        if previous is None and cache is not None:
            lexical = cached_bm25(cache, titles, texts, **knobs)
        else:
            lexical = BM25Index(titles, texts, reuse=previous.lexical if previous else None, **knobs)
        return CatalogSearch(view, self.encoder, self.index, params, lexical=lexical)


WARM_QUERY = "科普"
"""The query warm-up searches once (encoder, keyword index and filters all run before /readyz says OK)."""


def _descending(values: np.ndarray) -> np.ndarray:
    """Rows by descending value (stable), for a source sorted once per catalog view; empty when a value is
    not finite (that source is then partitioned per request instead)."""
    if not np.isfinite(values).all():
        return np.zeros(0, dtype=np.int64)
    return np.argsort(-values, kind="stable")
