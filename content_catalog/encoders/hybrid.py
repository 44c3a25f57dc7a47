"""`hybrid`: the corpus-fitted `tfidf-svd` and the neural `use-multilingual` in one vector.

Why both: TF-IDF fitted on our own catalog knows names and jargon the neural model never saw (稻飞虱,
北斗三号); USE knows paraphrase the catalog's words cannot (庄稼长虫子 ≈ 水稻病虫害). Each part is L2-normalised
and scaled by the square root of its weight before concatenation, so the cosine of two hybrid vectors is
exactly `tfidf_weight * cos_tfidf + (1 - tfidf_weight) * cos_use` — a score fusion that faiss computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from content_catalog.encoders.base import TextEncoder, check_texts, l2_normalize, read_manifest, write_manifest
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder

LEXICAL_PART = "tfidf-svd"
NEURAL_PART = "use-multilingual"


class HybridEncoder(TextEncoder):
    """Weighted concatenation of a fitted `TfidfSvdEncoder` and a `UseMultilingualEncoder`.

    Parameters
    ----------
    tfidf_weight: share of the cosine that comes from the tfidf-svd part, in [0, 1].
    tfidf: the lexical part (default: `TfidfSvdEncoder()`, fitted by `fit`).
    use: the neural part (default: `UseMultilingualEncoder()`).
    """

    kind = "hybrid"

    def __init__(
        self,
        tfidf_weight: float = 0.3,
        tfidf: TfidfSvdEncoder | None = None,
        use: UseMultilingualEncoder | None = None,
    ) -> None:
        if not 0.0 <= float(tfidf_weight) <= 1.0:
            raise ValueError(f"tfidf_weight must be in [0, 1], got {tfidf_weight!r}")
        self.tfidf_weight = float(tfidf_weight)
        self.tfidf = tfidf if tfidf is not None else TfidfSvdEncoder()
        self.use = use if use is not None else UseMultilingualEncoder()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention)."""
        return {"tfidf_weight": self.tfidf_weight, "tfidf": self.tfidf, "use": self.use}

    def fit(self, texts: Sequence[str], y: Sequence[str | None] | None = None) -> Self:
        """Fit the lexical part on the corpus (the neural part is pretrained)."""
        self.tfidf.fit(check_texts(texts), y)
        return self

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        items = check_texts(texts)
        lexical = l2_normalize(self.tfidf.encode(items, show_progress=show_progress))
        neural = l2_normalize(self.use.encode(items, show_progress=show_progress))
        joined = np.hstack([np.sqrt(self.tfidf_weight) * lexical, np.sqrt(1.0 - self.tfidf_weight) * neural])
        return l2_normalize(joined)

    @property
    def dim(self) -> int:
        return self.tfidf.dim + self.use.dim

    @property
    def spec(self) -> str:
        return self.kind

    @property
    def name(self) -> str:
        return f"hybrid({self.tfidf_weight:g}·{self.tfidf.name} + {1 - self.tfidf_weight:g}·{self.use.name})"

    def save(self, folder: str | Path) -> Path:
        """Manifest plus one sub-folder per part, each loadable on its own."""
        target = Path(folder)
        self.tfidf.save(target / LEXICAL_PART)
        self.use.save(target / NEURAL_PART)
        write_manifest(target, self.kind, self.spec, self.dim, {"tfidf_weight": self.tfidf_weight})
        return target

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        manifest = read_manifest(folder)
        if manifest["kind"] != cls.kind:
            raise ValueError(f"{folder}: manifest kind {manifest['kind']!r} is not {cls.kind!r}")
        source = Path(folder)
        return cls(
            tfidf_weight=manifest["params"]["tfidf_weight"],
            tfidf=TfidfSvdEncoder.load(source / LEXICAL_PART),
            use=UseMultilingualEncoder.load(source / NEURAL_PART),
        )
