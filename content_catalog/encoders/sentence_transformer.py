"""Pretrained sentence-transformers models as a `TextEncoder` (any local folder or hub name).

Why a wrapper: the rest of Kepu only speaks `TextEncoder`; this adapter adds lazy loading (the
model is read on first use, not at import), batching, a progress bar, a configurable device and
unit-length rows. Saving stores the model's path or name, never the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from content_catalog.encoders.base import TextEncoder, check_texts, l2_normalize, read_manifest, write_manifest

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SPEC_PREFIX = "sentence-transformers:"


class SentenceTransformerEncoder(TextEncoder):
    """Embeds texts with `sentence_transformers.SentenceTransformer(model)`; `fit` is a no-op.

    Parameters
    ----------
    model: a local model folder or a Hugging Face hub name (offline use needs HF_HUB_OFFLINE=1 and
        the model already on disk).
    device: torch device, 'cpu' by default.
    batch_size: texts per forward pass.
    """

    kind = "sentence-transformers"

    def __init__(self, model: str | Path, device: str = "cpu", batch_size: int = 32) -> None:
        if not str(model).strip():
            raise ValueError("model must be a local folder or a hub name, got an empty string")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model = str(model)
        self.device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention)."""
        return {"model": self.model, "device": self.device, "batch_size": self.batch_size}

    def _loaded(self) -> SentenceTransformer:
        """The model, loaded once; a missing local folder is reported by path."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ModuleNotFoundError as exc:  # the default install leaves the extra out
                raise ModuleNotFoundError(
                    f"encoder {self.spec} needs the sentence-transformers extra (sentence-transformers and torch), "
                    f"which the default install leaves out: pip install 'kepu[sentence-transformers]' ({exc})",
                    name=exc.name,
                ) from exc

            looks_local = self.model.startswith((".", "/", "~")) or Path(self.model).expanduser().exists()
            if looks_local and not Path(self.model).expanduser().is_dir():
                raise FileNotFoundError(f"sentence-transformers model folder not found: {self.model}")
            source = str(Path(self.model).expanduser()) if looks_local else self.model
            self._model = SentenceTransformer(source, device=self.device)
        return self._model

    def fit(self, texts: Sequence[str], y: Sequence[str | None] | None = None) -> Self:
        """Pretrained: nothing to learn; the texts are only type-checked."""
        check_texts(texts)
        return self

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        items = check_texts(texts)
        model = self._loaded()
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            items,
            batch_size=self.batch_size,
            show_progress_bar=show_progress,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return l2_normalize(vectors)

    @property
    def dim(self) -> int:
        model = self._loaded()
        # sentence-transformers >= 5 renamed the method; older releases only have the long name.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = getter()
        if dimension is None:
            raise RuntimeError(f"model {self.model} does not report an embedding dimension")
        return int(dimension)

    @property
    def spec(self) -> str:
        return f"{SPEC_PREFIX}{self.model}"

    def save(self, folder: str | Path) -> Path:
        target = Path(folder)
        write_manifest(target, self.kind, self.spec, self.dim, self.get_params())
        return target

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        manifest = read_manifest(folder)
        if manifest["kind"] != cls.kind:
            raise ValueError(f"{folder}: manifest kind {manifest['kind']!r} is not {cls.kind!r}")
        return cls(**manifest["params"])
