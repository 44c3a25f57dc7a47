"""The keyword (BM25) index of the catalog, saved under the cache folder and shared by every worker.

Building it means running jieba over every text (~100 s for 100k items on one core), far too slow for a
start-up or a request. So the index is saved once (`.npy` arrays, memory-mapped read-only on load: worker
processes share the pages) and every worker and restart loads it. Which documents it covers is checked, not
assumed: each document's digest of its title and text (`document_keys`) is saved with it, so a catalog
change made while the service was down (an ingest, a CLI edit, even a hand edit of a row) is seen; the
documents that changed are analysed again and the rest keep their saved token counts, and the result is
saved for the next start. Workers take turns through a file lock, so two starting at once do not both build.

Layout: `<cache>/search-bm25/<digest of the documents and knobs>/` plus `CURRENT` naming the newest one;
older folders are pruned (a process still mapping one keeps its pages: unlinked files stay readable).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from recommender.lexical import BM25Index, Glossary, analysis_fingerprint, default_glossary, document_keys

logger = logging.getLogger(__name__)
FOLDER = "search-bm25"
CURRENT = "CURRENT"
KEEP = 2
DEFAULTS = (0.3, 1.2, 0.75)
"""`BM25Index`'s char_weight, k1 and b, which search does not change."""


def cached_bm25(
    cache_dir: Path,
    titles: Sequence[str],
    texts: Sequence[str],
    *,
    glossary: Glossary | None = None,
    title_boost: float = 1.0,
    synonym_weight: float = 0.6,
) -> BM25Index:
    """The BM25 index over exactly these documents: loaded when saved, else built from the newest saved one
    (only changed documents analysed), saved and loaded back memory-mapped."""
    root = cache_dir / FOLDER
    keys = document_keys(titles, texts)
    knobs = {"glossary": glossary, "title_boost": title_boost, "synonym_weight": synonym_weight}
    with ExitStack() as stack:
        try:
            stack.enter_context(_locked(root))
        except OSError:  # no usable cache folder (read-only): build in memory, as without a cache
            logger.warning("keyword index cache %s unusable: building in memory", root, exc_info=True)
            return BM25Index(titles, texts, keys=keys, **knobs)
        saved = _load_current(root, glossary)
        wanted = analysis_fingerprint(glossary or default_glossary(), False, (title_boost, synonym_weight, *DEFAULTS))
        if saved is not None and saved.fingerprint == wanted and _covers(saved, keys):
            return saved
        index = BM25Index(titles, texts, reuse=saved, keys=keys, **knobs)
        try:
            return _save(root, index, glossary)
        except OSError:  # a full cache folder costs the next start a rebuild, nothing else
            logger.warning("could not save the keyword index under %s", root, exc_info=True)
            return index


def _covers(index: BM25Index, keys: np.ndarray) -> bool:
    """The index holds exactly these documents, in this order (same titles and texts)."""
    return index.size == keys.size and bool(np.array_equal(index.keys, keys))


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _load_current(root: Path, glossary: Glossary | None) -> BM25Index | None:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    try:
        return BM25Index.load(root / name, glossary=glossary)
    except ValueError as exc:  # built by other code or knobs, or broken: rebuilt from scratch
        logger.info("not reusing the saved keyword index: %s", exc)
        return None


def _save(root: Path, index: BM25Index, glossary: Glossary | None) -> BM25Index:
    """Write `index` into a new folder, point CURRENT at it (atomic rename), prune old ones, load it back."""
    name = hashlib.sha256(index.keys.tobytes() + index.fingerprint.encode()).hexdigest()[:16]
    staging = root / f".{name}-{uuid.uuid4().hex[:8]}"
    index.save(staging)
    target = root / name
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    pointer = root / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
    pointer.write_text(name, encoding="utf-8")
    os.replace(pointer, root / CURRENT)
    folders = sorted((p for p in root.iterdir() if p.is_dir() and p.name != name), key=lambda p: p.stat().st_mtime)
    for old in folders[: max(len(folders) - (KEEP - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return BM25Index.load(target, glossary=glossary)
