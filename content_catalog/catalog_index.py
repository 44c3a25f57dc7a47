"""The catalog's embeddings: one fitted text encoder plus the faiss index of every item's vector.

Both are saved together under `<var_dir>/index/<encoder>/<catalog version>/` and registered in the store,
so `kepu catalog embed`, training and the server all use the *same* fitted encoder (a refit on a changed
catalog would silently move every vector). When the catalog changes, `sync` encodes only the items
whose text changed and drops deleted ones, without refitting or rebuilding.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from content_catalog.encoders import TextEncoder, load_encoder, make_encoder
from content_catalog.encoders.hybrid import HybridEncoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder
from content_catalog.schema import Item
from content_catalog.settings import Settings
from content_catalog.vector_index import VectorIndex

if TYPE_CHECKING:
    from content_catalog.store import Store

logger = logging.getLogger(__name__)
HASHES_FILE = "texts.json"
LOCK_FILE = ".lock"
STAGING_SUFFIX = ".tmp"
KEEP_VERSIONS = 3
"""Saved index folders kept per encoder (older ones are deleted after a new one is saved)."""


def text_hash(text: str) -> str:
    """Short digest of the text an item is embedded from (detects edits that need re-encoding)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def encoder_slug(spec: str) -> str:
    """A folder-safe name for an encoder spec ('sentence-transformers:/x/y' -> 'sentence-transformers-x-y')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec).strip("-")[:80] or "encoder"


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What `CatalogIndex.sync` changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class CatalogIndex:
    """A fitted encoder and the vector index of the catalog it describes."""

    encoder: TextEncoder
    index: VectorIndex
    catalog_version: str = ""
    text_hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        items: Sequence[Item],
        encoder: TextEncoder,
        *,
        fit: bool = True,
        hnsw_threshold: int = 100_000,
        catalog_version: str = "",
        show_progress: bool = False,
    ) -> CatalogIndex:
        """Fit `encoder` on the item texts (in id order, so a seed reproduces it) and index every item."""
        ordered = sorted(items, key=lambda it: it.id)
        if not ordered:
            raise ValueError("the catalog is empty: ingest items before embedding it")
        texts = [it.text for it in ordered]
        if fit:
            encoder.fit(texts)
        index = VectorIndex(encoder.dim, hnsw_threshold=hnsw_threshold, catalog_version=catalog_version)
        index.add([it.id for it in ordered], encoder.encode(texts, show_progress=show_progress))
        hashes = {it.id: text_hash(text) for it, text in zip(ordered, texts, strict=True)}
        return cls(encoder, index, catalog_version, hashes)

    def upsert(self, items: Iterable[Item]) -> int:
        """Encode items that are new or whose text changed and put them in the index; returns how many."""
        changed = [it for it in items if self.text_hashes.get(it.id) != text_hash(it.text)]
        if changed:
            self.index.add([it.id for it in changed], self.encoder.encode([it.text for it in changed]))
            self.text_hashes.update({it.id: text_hash(it.text) for it in changed})
        return len(changed)

    def remove(self, item_ids: Iterable[str]) -> int:
        """Drop items from the index; returns how many were there."""
        ids = [i for i in item_ids if i in self.text_hashes]
        if ids:
            self.index.remove(ids)
            for item_id in ids:
                del self.text_hashes[item_id]
        return len(ids)

    def sync(self, items: Sequence[Item], catalog_version: str) -> SyncReport:
        """Make the index describe exactly `items` (the live catalog) without refitting the encoder."""
        live = {it.id for it in items}
        known = set(self.text_hashes)
        removed = self.remove(known - live)
        touched = self.upsert(items)
        added = len(live - known)
        self.catalog_version = catalog_version
        self.index.catalog_version = catalog_version
        return SyncReport(added=added, updated=touched - added, removed=removed)

    def search(self, query: str, k: int = 10, *, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The k items closest to a free-text query, best first, as (id, cosine) pairs."""
        if not query.strip():
            raise ValueError("query must not be empty")
        ids, scores = self.index.search(self.encoder.encode_query([query]), k, exclude=set(exclude))
        return [(item_id, float(score)) for item_id, score in zip(ids[0], scores[0], strict=False)]

    def share_digests(self) -> CatalogIndex:
        """Let the index carry `text_hashes` (`VectorIndex.digests`): a service that encodes written items
        keeps them current, so a later `save` describes what the index holds. Returns self."""
        self.index.digests = self.text_hashes
        return self

    def save(self, folder: str | Path) -> Path:
        """Write `encoder/`, `index/` and the text digests into `folder` (replacing what was there).

        Everything is written into a staging folder of this writer's own (pid + random suffix), then moved
        into place, so a reader never sees a half-written folder and two writers never share one.
        """
        target = Path(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{STAGING_SUFFIX}")
        staging.mkdir()
        try:
            self.encoder.save(staging / "encoder")
            self.index.save(staging / "index", catalog_version=self.catalog_version)
            digests = dict(self.text_hashes)  # a copy: a live service may add items while this saves
            (staging / HASHES_FILE).write_text(json.dumps(digests), encoding="utf-8")
            _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    @classmethod
    def load(cls, folder: str | Path) -> CatalogIndex:
        """Read a folder written by `save`; a missing part raises FileNotFoundError naming it."""
        source = Path(folder)
        hashes_path = source / HASHES_FILE
        if not hashes_path.is_file():
            raise FileNotFoundError(f"{hashes_path} not found: {source} is not a saved catalog index")
        index = VectorIndex.load(source / "index")
        hashes = json.loads(hashes_path.read_text(encoding="utf-8"))
        return cls(load_encoder(source / "encoder"), index, index.catalog_version, hashes)


def _move_into_place(staging: Path, target: Path, attempts: int = 10) -> None:
    """Rename `staging` to `target`; a folder already there (rename cannot replace a non-empty one) is
    first renamed aside and deleted. Retried, because another writer may be doing the same."""
    for _ in range(attempts):
        try:
            staging.rename(target)
            return
        except OSError:
            retired = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old{STAGING_SUFFIX}")
            try:
                target.rename(retired)
            except FileNotFoundError:
                continue  # the other writer moved it already
            shutil.rmtree(retired, ignore_errors=True)
    raise OSError(f"could not move {staging} to {target}: other writers kept replacing it")


def new_encoder(settings: Settings) -> TextEncoder:
    """An unfitted encoder as configured (`KEPU_ENCODER`, dimension, device, seed)."""
    spec = settings.encoder.strip()
    if spec in (TfidfSvdEncoder.kind, HybridEncoder.kind):
        return make_encoder(spec, dim=settings.encoder_dim, random_state=settings.seed)
    if spec == UseMultilingualEncoder.kind:
        return make_encoder(spec)
    return make_encoder(spec, device=settings.encoder_device)


def load_catalog_index(store: Store, settings: Settings) -> CatalogIndex | None:
    """The newest saved index for the configured encoder that loads, or None when none does.

    A registered folder that is gone, incomplete or unreadable (a crash mid-save, a hand-deleted part)
    is skipped with a warning, so one broken folder never stops a start: an older one is synced, or
    the caller builds a new one.
    """
    for record in store.vector_index_versions(settings.encoder.strip(), limit=KEEP_VERSIONS + 2):
        try:
            return CatalogIndex.load(record.path)
        except Exception as exc:  # any unreadable part means: not this one
            logger.warning("skipping broken catalog index %s: %s", record.path, exc)
    return None


@contextmanager
def writer_lock(encoder_dir: Path) -> Iterator[None]:
    """Hold the inter-process lock of one encoder's index folder (processes on one machine or on one
    shared artifact directory take turns to build, save, register and prune)."""
    encoder_dir.mkdir(parents=True, exist_ok=True)
    with open(encoder_dir / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def embed_catalog(
    store: Store, settings: Settings, *, refit: bool = False, show_progress: bool = False
) -> tuple[CatalogIndex, SyncReport | None]:
    """Bring the catalog's embeddings up to date and save them.

    Loads the latest saved index and syncs it with the store (only changed items are encoded); with no
    saved index, or `refit=True`, fits a new encoder on the whole catalog. Returns the index and the sync
    report (None after a full build).
    """
    spec = settings.encoder.strip()
    encoder_dir = settings.index_dir / encoder_slug(spec)
    with writer_lock(encoder_dir):  # another process may be embedding the same catalog right now
        return _embed_locked(store, settings, encoder_dir, refit=refit, show_progress=show_progress)


def open_catalog_index(store: Store, settings: Settings) -> CatalogIndex:
    """The embeddings a server starts from, fast: the newest saved index as it is (the service encodes the
    items written since, in memory, and `save_catalog_index` persists that in the background), or a full
    build and save when none is saved yet. Never re-saves a whole index before the server listens."""
    current = load_catalog_index(store, settings)
    if current is None:
        current, _ = embed_catalog(store, settings)
    return current.share_digests()


def save_catalog_index(store: Store, settings: Settings, catalog: CatalogIndex, version: str) -> Path | None:
    """Save a live catalog index (synced to the store's `version` in memory) and register it, unless one
    for that version is registered already; meant for a background thread after start-up."""
    spec = settings.encoder.strip()
    encoder_dir = settings.index_dir / encoder_slug(spec)
    with writer_lock(encoder_dir):
        latest = next(iter(store.vector_index_versions(spec, limit=1)), None)
        if latest is not None and latest.catalog_version == version:
            return None
        catalog.catalog_version = version
        folder = catalog.save(encoder_dir / version)
        store.add_vector_index_version(spec, version, str(folder.resolve()), len(catalog.index))
        _prune(encoder_dir, keep=KEEP_VERSIONS)
    return folder


def _embed_locked(
    store: Store, settings: Settings, encoder_dir: Path, *, refit: bool, show_progress: bool
) -> tuple[CatalogIndex, SyncReport | None]:
    """`embed_catalog` while holding the encoder folder's lock."""
    spec = settings.encoder.strip()
    version = store.catalog_version()
    current = None if refit else load_catalog_index(store, settings)
    if current is not None and current.catalog_version == version:
        return current, SyncReport()
    items = list(store.iter_items())
    report: SyncReport | None = None
    if current is None:
        current = CatalogIndex.build(
            items,
            new_encoder(settings),
            hnsw_threshold=settings.hnsw_threshold,
            catalog_version=version,
            show_progress=show_progress,
        )
    else:
        report = current.sync(items, version)
    folder = current.save(encoder_dir / version)
    store.add_vector_index_version(spec, version, str(folder.resolve()), len(current.index))
    _prune(encoder_dir, keep=KEEP_VERSIONS)
    return current, report


def _prune(encoder_dir: Path, keep: int) -> None:
    """Delete all but the `keep` most recently written index folders of one encoder, and staging folders
    that crashed writers left behind (the caller holds the writer lock, so no live writer owns one)."""
    for leftover in encoder_dir.glob(f".*{STAGING_SUFFIX}"):
        shutil.rmtree(leftover, ignore_errors=True)
    folders = sorted(
        (p for p in encoder_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)
