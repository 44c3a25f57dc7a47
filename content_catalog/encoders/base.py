"""The one interface every text encoder implements, plus the manifest that makes saved encoders loadable.

Why an ABC: the catalog, the audience tagger and the recommender only ever call `fit`, `encode`,
`dim`, `spec`, `save` and `load_encoder(folder)`, so the offline default and sentence-transformers
models are interchangeable by configuration (`KEPU_ENCODER`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

MANIFEST_NAME = "encoder.json"
"""File in a saved encoder folder naming its kind, spec, dimension and parameters."""

MANIFEST_FORMAT = 1


class TextEncoder(ABC):
    """Maps texts to float32 rows of unit L2 norm (rows with no usable text stay all-zero)."""

    kind: str = ""
    """Manifest key `load_encoder` dispatches on (e.g. 'tfidf-svd')."""

    @abstractmethod
    def fit(self, texts: Sequence[str], y: Sequence[str] | None = None) -> Self:
        """Learn from a corpus (a no-op for pretrained models); `y` are optional labels."""

    @abstractmethod
    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Vectors (len(texts), dim), float32, L2-normalised rows."""

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries, scored by inner product against `encode`d documents. The same as
        `encode` unless an encoder is asymmetric (`hybrid` with cluster features)."""
        return self.encode(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """`encode` under the scikit-learn name, so encoders slot into fit/transform code."""
        return self.encode(texts)

    @property
    @abstractmethod
    def dim(self) -> int:
        """Output dimension (known after `fit` for fitted encoders)."""

    @property
    @abstractmethod
    def spec(self) -> str:
        """The string `make_encoder` accepts to build an encoder like this one."""

    @property
    def name(self) -> str:
        """Human-readable name, the spec by default."""
        return self.spec

    @abstractmethod
    def save(self, folder: str | Path) -> Path:
        """Write the encoder (manifest + parts) into `folder`, creating it; returns the folder."""

    @classmethod
    @abstractmethod
    def load(cls, folder: str | Path) -> Self:
        """Rebuild an encoder written by `save`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r})"


def check_texts(texts: Sequence[str], what: str = "texts") -> list[str]:
    """A list of strings or a clear error naming the first bad position (None, numbers …)."""
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a sequence of strings, not a single string")
    checked = list(texts)
    for position, value in enumerate(checked):
        if not isinstance(value, str):
            raise TypeError(f"{what}[{position}] must be str, got {type(value).__name__}")
    return checked


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32; all-zero rows stay zero instead of becoming NaN."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def write_manifest(folder: Path, kind: str, spec: str, dim: int, params: dict[str, Any]) -> Path:
    """Create `folder` and write the JSON manifest `load_encoder` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": MANIFEST_FORMAT, "kind": kind, "spec": spec, "dim": dim, "params": params}
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a saved encoder, with errors naming the file and the missing field."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {folder} is not a saved encoder folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    for field in ("format", "kind", "spec", "dim", "params"):
        if field not in manifest:
            raise ValueError(f"{path}: missing field {field!r}")
    if manifest["format"] != MANIFEST_FORMAT:
        raise ValueError(f"{path}: unsupported format {manifest['format']!r}, this code reads {MANIFEST_FORMAT}")
    return manifest
