"""A faiss vector index over external string ids, exact when small and HNSW when large.

Why this shape: the catalog changes one item at a time (editors publish, retire, fix text), so the
index must add, replace and remove items without a rebuild; and below ~10⁵ items an exact
`IndexFlatIP` is both fast and perfect, while above it HNSW keeps latency flat. HNSW cannot delete,
so removed items become tombstones filtered out at search time, and the graph is rebuilt from the
stored vectors once tombstones exceed `rebuild_fraction` of it. The representation switches
automatically when the size crosses `hnsw_threshold` (back to exact below 90 % of it, so a catalog
hovering at the threshold does not flip on every call).

Rebuilds off the request path: with `background_rebuilds` on (the API server sets it), a switch or a
compaction that falls due during `add`/`remove` is built on a background thread from a snapshot of the
live vectors, while the current index keeps serving; changes made meanwhile are journalled and replayed
onto the new index, which then replaces the old one under the write lock (one pointer swap). Without it
the rebuild happens inside the call (batch tools, tests that want the switch at once).

Neighbour lists (`content_catalog.item_neighbours`): `build_neighbours` (or `build_neighbours_behind`, on a
thread) computes every item's nearest items once; adds keep them exact, removals are skipped when read,
and `neighbours(item, k)` answers from them (None when it cannot prove the answer: search instead).
They are saved with the index and loaded memory-mapped, so the workers of one server share them.

Thread safety: request threads search while catalog writes add and remove items, and faiss does not
support a search concurrent with a change. Searches (and other reads) hold a shared read lock, updates
an exclusive write lock; the HNSW search breadth is passed per search (`SearchParametersHNSW`), never
written into the shared index.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import faiss
import numpy as np

from content_catalog.item_neighbours import DEFAULT_WIDTH, KEYS_FILE, SCORES_FILE, NeighbourTable
from content_catalog.rwlock import ReadWriteLock

Metric = Literal["ip", "l2"]
INDEX_FILE = "index.faiss"
MANIFEST_FILE = "index.json"
MANIFEST_FORMAT = 1
_DOWNSWITCH_SHARE = 0.9
NEIGHBOUR_BATCH_LIMIT = 256
"""An add of more vectors than this drops the neighbour lists (rebuilt behind when `background_rebuilds`):
inserting each one costs a scan of the catalog, one batch pass is cheaper."""
logger = logging.getLogger(__name__)


class VectorIndex:
    """Nearest-neighbour search over (string id, float32 vector) pairs.

    Parameters
    ----------
    dim: vector dimension.
    metric: 'ip' (inner product; cosine for unit vectors; higher score = closer) or 'l2'
        (squared distance; lower = closer).
    hnsw_threshold: above this many items use HNSW instead of exact search.
    hnsw_m: HNSW graph degree; ef_search / ef_construction: HNSW search / build breadth.
    rebuild_fraction: rebuild the HNSW graph when tombstones exceed this share of its nodes.
    catalog_version: free text saved with the index (which catalog state the vectors describe).
    """

    def __init__(
        self,
        dim: int,
        metric: Metric = "ip",
        hnsw_threshold: int = 100_000,
        hnsw_m: int = 32,
        ef_search: int = 128,
        ef_construction: int = 200,
        rebuild_fraction: float = 0.2,
        catalog_version: str = "",
    ) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if metric not in ("ip", "l2"):
            raise ValueError(f"metric must be 'ip' or 'l2', got {metric!r}")
        for name, value in (("hnsw_threshold", hnsw_threshold), ("hnsw_m", hnsw_m), ("ef_search", ef_search)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 < rebuild_fraction <= 1.0:
            raise ValueError(f"rebuild_fraction must be within (0, 1], got {rebuild_fraction!r}")
        self.dim = dim
        self.metric: Metric = metric
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.rebuild_fraction = rebuild_fraction
        self.catalog_version = catalog_version
        self._int_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._tombstones: set[int] = set()
        self._next_int = 0
        self._lock = ReadWriteLock()
        self._hnsw = False
        self._index = self._new_index(hnsw=False)
        self.background_rebuilds = False
        self.digests: dict[str, str] = {}  # item id -> digest of the text its vector came from (kept by callers)
        self._journal: list[tuple[str, np.ndarray, np.ndarray | None]] | None = None  # changes during a rebuild
        self._rebuilder: threading.Thread | None = None
        self.rebuilds = 0  # completed rebuilds (switches and compactions), for tests and benchmarks
        self._neighbours: NeighbourTable | None = None  # every item's nearest items (see the module doc)
        self._neighbour_builder: threading.Thread | None = None
        self._loaded_from: tuple[Path, int, int] | None = None  # (folder, next_int, size) when loaded

    # ------------------------------------------------------------------ representation
    @property
    def is_hnsw(self) -> bool:
        """True while the index is an approximate HNSW graph, False while it is exact."""
        return self._hnsw

    def _new_index(self, hnsw: bool) -> faiss.IndexIDMap2:
        faiss_metric = faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2
        if hnsw:
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss_metric)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        else:
            inner = faiss.IndexFlatIP(self.dim) if self.metric == "ip" else faiss.IndexFlatL2(self.dim)
        index = faiss.IndexIDMap2(inner)
        index.own_fields = True
        inner.this.disown()  # the id map now owns the inner index's memory
        return index

    def _rebuild(self, hnsw: bool) -> None:
        """Re-create the index from the live vectors (drops tombstones, maybe switches kind)."""
        live = np.fromiter(self._id_of.keys(), dtype=np.int64, count=len(self._id_of))
        self._index = self._built(hnsw, live, self._reconstruct(live))
        self._hnsw = hnsw
        self._tombstones.clear()
        self.rebuilds += 1

    def _built(self, hnsw: bool, keys: np.ndarray, vectors: np.ndarray) -> faiss.IndexIDMap2:
        index = self._new_index(hnsw)
        if keys.size:
            index.add_with_ids(vectors, keys)
        return index

    def _reconstruct(self, internal: np.ndarray) -> np.ndarray:
        out = np.empty((internal.size, self.dim), dtype=np.float32)
        for row, key in enumerate(internal):
            out[row] = self._index.reconstruct(int(key))
        return out

    def _due_rebuild(self) -> bool | None:
        """The kind a rebuild due now would build (True = HNSW), or None when none is due."""
        size = len(self)
        if not self._hnsw and size > self.hnsw_threshold:
            return True
        if self._hnsw and size < self.hnsw_threshold * _DOWNSWITCH_SHARE:
            return False
        if self._hnsw and len(self._tombstones) > self.rebuild_fraction * self._index.ntotal:
            return True
        return None

    def _maybe_switch_or_compact(self) -> None:
        """Rebuild when due: here (caller holds the write lock), or on a background thread."""
        hnsw = self._due_rebuild()
        if hnsw is None or self._rebuilder is not None:
            return
        if not self.background_rebuilds:
            self._rebuild(hnsw)
            return
        self._rebuilder = threading.Thread(target=self._rebuild_behind, name="kepu-index-rebuild", daemon=True)
        self._rebuilder.start()

    def _rebuild_behind(self) -> None:
        """Build the due index from a snapshot without blocking searches or writes, replay the changes
        journalled meanwhile, swap it in under the write lock."""
        try:
            with self._lock.reading():
                hnsw = self._due_rebuild()
                if hnsw is None:
                    return
                live = np.fromiter(self._id_of.keys(), dtype=np.int64, count=len(self._id_of))
                vectors = self._reconstruct(live)
                self._journal = []  # writers hold the write lock, so none runs between snapshot and this
            fresh = self._built(hnsw, live, vectors)
            with self._lock.writing():
                tombstones: set[int] = set()
                for op, keys, added in self._journal or []:
                    if op == "add":
                        fresh.add_with_ids(added, keys)
                    elif hnsw:
                        tombstones.update(keys.tolist())
                    else:
                        fresh.remove_ids(keys)
                self._index, self._hnsw, self._tombstones = fresh, hnsw, tombstones
                self.rebuilds += 1
        except Exception:  # never lose the serving index: the next change retries
            logger.exception("background vector index rebuild failed")
        finally:
            with self._lock.writing():
                self._journal = None
                self._rebuilder = None
                if self._due_rebuild() is not None:
                    self._maybe_switch_or_compact()

    def wait_for_rebuild(self, timeout: float | None = None) -> bool:
        """Block until no background rebuild runs (tests, benchmarks, shutdown); False on timeout."""
        while (thread := self._rebuilder) is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        return True

    # ------------------------------------------------------------------ updates
    def _check_vectors(self, vectors: np.ndarray, what: str) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"{what} must have shape (n, {self.dim}), got {np.shape(vectors)}")
        if not np.isfinite(array).all():
            bad = int(np.argwhere(~np.isfinite(array))[0][0])
            raise ValueError(f"{what}[{bad}] contains NaN or infinity")
        return np.ascontiguousarray(array)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Insert items; an id already present has its vector replaced."""
        id_list = _check_ids(ids)
        array = self._check_vectors(vectors, "vectors")
        if len(id_list) != array.shape[0]:
            raise ValueError(f"{len(id_list)} ids but {array.shape[0]} vectors")
        if not id_list:
            return
        with self._lock.writing():
            self._add(id_list, array)

    def _add(self, id_list: list[str], array: np.ndarray) -> None:
        self._drop([item for item in id_list if item in self._int_of])
        internal = np.arange(self._next_int, self._next_int + len(id_list), dtype=np.int64)
        self._next_int += len(id_list)
        for item, key in zip(id_list, internal.tolist(), strict=True):
            self._int_of[item] = key
            self._id_of[key] = item
        self._index.add_with_ids(array, internal)
        if self._journal is not None:
            self._journal.append(("add", internal, array))
        if self._neighbours is not None:
            if internal.size > NEIGHBOUR_BATCH_LIMIT:
                self._neighbours = None
                if self.background_rebuilds:
                    self._start_neighbour_build(self._neighbour_width)
            else:
                self._neighbours.insert(internal, *self._live_matrix())
        self._maybe_switch_or_compact()

    def remove(self, ids: Iterable[str]) -> int:
        """Delete items (unknown ids are ignored); returns how many were present."""
        wanted = list(dict.fromkeys(ids))
        with self._lock.writing():
            present = [item for item in wanted if item in self._int_of]
            self._drop(present)
            if present:
                self._maybe_switch_or_compact()
        return len(present)

    def _drop(self, ids: list[str]) -> None:
        if not ids:
            return
        internal = np.array([self._int_of.pop(item) for item in ids], dtype=np.int64)
        for key in internal.tolist():
            del self._id_of[key]
        if self._hnsw:
            self._tombstones.update(internal.tolist())
        else:
            self._index.remove_ids(internal)
        if self._journal is not None:
            self._journal.append(("drop", internal, None))

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self._int_of)

    def __contains__(self, item: object) -> bool:
        return item in self._int_of

    @property
    def ids(self) -> list[str]:
        """Live ids in insertion order of their current vectors."""
        with self._lock.reading():
            return [self._id_of[key] for key in sorted(self._id_of)]

    def vector(self, item: str) -> np.ndarray:
        """The stored vector of `item` (KeyError naming the id if absent)."""
        with self._lock.reading():
            if item not in self._int_of:
                raise KeyError(f"id {item!r} is not in the index")
            return self._index.reconstruct(self._int_of[item])

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        *,
        exclude: Collection[str] | Sequence[Collection[str]] | None = None,
    ) -> tuple[list[list[str]], np.ndarray]:
        """The k best items per query row, best first.

        `exclude`: ids never to return — one collection for all queries, or one per query row.
        Returns (ids, scores): ids[i] has at most k entries (fewer when the index is smaller);
        scores is (n, k) float32, padded with -inf ('ip') or +inf ('l2') where no item is left.
        """
        queries = self._check_vectors(vectors, "query vectors")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        per_query = _per_query_exclusions(exclude, queries.shape[0])
        with self._lock.reading():
            return self._search(queries, k, per_query)

    def _search(
        self, queries: np.ndarray, k: int, per_query: list[Collection[str]]
    ) -> tuple[list[list[str]], np.ndarray]:
        pad = -np.inf if self.metric == "ip" else np.inf
        scores = np.full((queries.shape[0], k), pad, dtype=np.float32)
        results: list[list[str]] = [[] for _ in range(queries.shape[0])]
        if len(self) == 0:
            return results, scores
        longest_exclusion = max((len(ex) for ex in per_query), default=0)
        fetch = min(k + len(self._tombstones) + longest_exclusion, self._index.ntotal)
        raw_scores, raw_ids = self._raw_search(queries, fetch)
        for row in range(queries.shape[0]):
            kept = 0
            excluded = per_query[row]
            for score, key in zip(raw_scores[row], raw_ids[row], strict=True):
                if key < 0 or key in self._tombstones:
                    continue
                item = self._id_of.get(int(key))
                if item is None or item in excluded:
                    continue
                results[row].append(item)
                scores[row, kept] = score
                kept += 1
                if kept == k:
                    break
        return results, scores

    def _raw_search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        if self._hnsw:  # breadth per call: never mutate the shared index's efSearch under readers
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, fetch)
            return self._index.search(queries, fetch, params=params)
        return self._index.search(queries, fetch)

    # ------------------------------------------------------------------ neighbour lists
    @property
    def has_neighbours(self) -> bool:
        """True while `neighbours` can answer from precomputed lists."""
        return self._neighbours is not None

    @property
    def _neighbour_width(self) -> int:
        return self._neighbours.width if self._neighbours is not None else DEFAULT_WIDTH

    def neighbours(self, item: str, k: int, exclude: Collection[str] = ()) -> tuple[list[str], list[float]] | None:
        """The k nearest live items to `item` (itself and `exclude` left out), best first, from the
        precomputed lists: exactly what an exact `search` with the item's vector returns. None when there
        are no lists, the item is unknown or its list ran short (search the index instead)."""
        with self._lock.reading():
            table, key = self._neighbours, self._int_of.get(item)
            if table is None or key is None:
                return None
            return table.lookup(key, k, self._id_of, exclude)

    def _live_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(internal keys, vectors, live mask) in faiss storage order; the vectors are a view of the index's
        own storage, valid until the next change (caller holds a lock)."""
        inner = faiss.downcast_index(self._index.index)
        flat = faiss.downcast_index(inner.storage) if self._hnsw else inner
        size = flat.ntotal
        vectors = faiss.rev_swig_ptr(flat.get_xb(), size * self.dim).reshape(size, self.dim)
        keys = faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
        live = np.ones(size, dtype=bool)
        if self._tombstones:
            live &= ~np.isin(keys, np.fromiter(self._tombstones, dtype=np.int64))
        return keys, vectors, live

    def build_neighbours(self, width: int = DEFAULT_WIDTH) -> None:
        """Compute every item's `width` nearest items now (one exact batch pass: ~30 s per 100k items of
        dim 64 on one core). Inner-product indexes only."""
        if self.metric != "ip":
            raise ValueError("neighbour lists need metric 'ip'")
        with self._lock.writing():
            keys, vectors, live = self._live_matrix()
            self._neighbours = NeighbourTable.build(keys[live], vectors[live], width)

    def build_neighbours_behind(self, width: int = DEFAULT_WIDTH) -> None:
        """`build_neighbours` on a background thread from a snapshot; searches and writes go on meanwhile
        and the items added during the build are inserted before the lists are swapped in."""
        if self.metric != "ip":
            raise ValueError("neighbour lists need metric 'ip'")
        with self._lock.writing():
            self._start_neighbour_build(width)

    def _start_neighbour_build(self, width: int) -> None:
        if self._neighbour_builder is None:
            self._neighbour_builder = threading.Thread(
                target=self._build_neighbours_behind, args=(width,), name="kepu-neighbours", daemon=True
            )
            self._neighbour_builder.start()

    def _build_neighbours_behind(self, width: int) -> None:
        try:
            with self._lock.reading():
                keys, vectors, live = self._live_matrix()
                keys, vectors = keys[live].copy(), vectors[live].copy()
                first_new = self._next_int
                saved = self._loaded_from
                if saved is not None and (saved[1], saved[2]) != (self._next_int, len(self)):
                    saved = None  # changed since loading: these lists would not describe the saved vectors
            table = NeighbourTable.build(keys, vectors, width)
            if saved is not None:  # before anyone can change the table: it describes the saved index exactly
                _keep_next_to(saved[0], table, saved[1])
            with self._lock.writing():
                added = np.array([key for key in self._id_of if key >= first_new], dtype=np.int64)
                if added.size:
                    table.insert(added, *self._live_matrix())
                self._neighbours = table
        except Exception:  # the index keeps answering by search
            logger.exception("building the neighbour lists failed")
        finally:
            self._neighbour_builder = None

    def wait_for_neighbours(self, timeout: float | None = None) -> bool:
        """Block until no neighbour build runs; False on timeout."""
        thread = self._neighbour_builder
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path, catalog_version: str | None = None) -> Path:
        """Write `index.faiss` + `index.json` (ids, parameters, catalog version) into `folder`."""
        if catalog_version is not None:
            self.catalog_version = catalog_version
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        with self._lock.reading():  # index file and manifest from one state
            faiss.write_index(self._index, str(target / INDEX_FILE))
            manifest: dict[str, Any] = {
                "format": MANIFEST_FORMAT,
                "params": self.get_params(),
                "hnsw": self._hnsw,
                "size": len(self),
                "next_int": self._next_int,
                "tombstones": sorted(self._tombstones),
                "ids": [[item, key] for item, key in self._int_of.items()],
                "neighbours": self._neighbours is not None,
            }
            if self._neighbours is not None:
                self._neighbours.save(target, self._next_int)
            else:
                for name in (KEYS_FILE, SCORES_FILE):
                    (target / name).unlink(missing_ok=True)
        (target / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        return target

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (stored in the manifest)."""
        return {
            "dim": self.dim,
            "metric": self.metric,
            "hnsw_threshold": self.hnsw_threshold,
            "hnsw_m": self.hnsw_m,
            "ef_search": self.ef_search,
            "ef_construction": self.ef_construction,
            "rebuild_fraction": self.rebuild_fraction,
            "catalog_version": self.catalog_version,
        }

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """Rebuild an index written by `save`; errors name the missing or inconsistent file."""
        source = Path(folder)
        manifest_path, index_path = source / MANIFEST_FILE, source / INDEX_FILE
        for path in (manifest_path, index_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: {source} is not a saved vector index")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{manifest_path}:{error.lineno}: invalid JSON ({error.msg})") from error
        for field in ("format", "params", "hnsw", "next_int", "tombstones", "ids"):
            if field not in manifest:
                raise ValueError(f"{manifest_path}: missing field {field!r}")
        if manifest["format"] != MANIFEST_FORMAT:
            raise ValueError(f"{manifest_path}: unsupported format {manifest['format']!r}")
        index = cls(**manifest["params"])
        index._index = faiss.read_index(str(index_path))
        index._hnsw = bool(manifest["hnsw"])
        index._next_int = int(manifest["next_int"])
        index._tombstones = {int(key) for key in manifest["tombstones"]}
        index._int_of = {str(item): int(key) for item, key in manifest["ids"]}
        index._id_of = {key: item for item, key in index._int_of.items()}
        live_and_dead = len(index._int_of) + len(index._tombstones)
        if index._index.d != index.dim or index._index.ntotal != live_and_dead:
            raise ValueError(
                f"{index_path}: holds {index._index.ntotal} vectors of dim {index._index.d}, "
                f"but {manifest_path} lists {live_and_dead} of dim {index.dim}"
            )
        table = NeighbourTable.load(source)  # saved with the index, or kept next to it by a server later
        if table is not None and table.keys.shape[0] == index._next_int:
            index._neighbours = table
        elif table is not None or manifest.get("neighbours"):
            logger.warning("%s: neighbour lists missing or of another size; searching instead", source)
        index._loaded_from = (source, index._next_int, len(index))
        return index

    def __repr__(self) -> str:
        kind = "hnsw" if self._hnsw else "flat"
        return f"VectorIndex(dim={self.dim}, metric={self.metric!r}, size={len(self)}, kind={kind!r})"


def _keep_next_to(folder: Path, table: NeighbourTable, size: int) -> None:
    """Write lists built after loading next to the saved index they describe, so the other workers and the
    next start map them instead of building their own; the files appear atomically (written aside, then
    renamed), and a failure only costs the next start a build."""
    try:
        staging = folder / f".neighbours-{uuid.uuid4().hex}"
        staging.mkdir()
        table.save(staging, size)
        for name in (KEYS_FILE, SCORES_FILE):
            os.replace(staging / name, folder / name)
        staging.rmdir()
    except OSError:
        logger.warning("could not keep the neighbour lists with %s", folder, exc_info=True)


def _check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise TypeError("ids must be a sequence of strings, not a single string")
    id_list = list(ids)
    seen: set[str] = set()
    for position, item in enumerate(id_list):
        if not isinstance(item, str) or not item:
            raise ValueError(f"ids[{position}] must be a non-empty str, got {item!r}")
        if item in seen:
            raise ValueError(f"ids[{position}] repeats id {item!r} within one batch")
        seen.add(item)
    return id_list


def _per_query_exclusions(
    exclude: Collection[str] | Sequence[Collection[str]] | None, n_queries: int
) -> list[Collection[str]]:
    """One exclusion set per query: a shared collection of ids, or one collection per query."""
    if exclude is None:
        return [frozenset()] * n_queries
    if isinstance(exclude, str):
        raise TypeError("exclude must be a collection of ids, not a single string")
    items = list(exclude)
    if items and all(not isinstance(entry, str) for entry in items):
        if len(items) != n_queries:
            raise ValueError(f"exclude has {len(items)} per-query collections for {n_queries} queries")
        return [set(entry) for entry in items]  # type: ignore[arg-type]
    shared = set(items)
    return [shared] * n_queries
