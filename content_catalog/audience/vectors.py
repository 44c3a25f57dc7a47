"""Text vectors for the prototype and supervised parts of the tagger.

The default is a character n-gram TF-IDF: it needs no word segmentation, handles Chinese and mixed
text, trains in milliseconds on a few hundred items and downloads nothing. Any sklearn-style
transformer with `fit`/`transform` over a list of strings (e.g. a shared `make_encoder("tfidf-svd")`)
can replace it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize


class TextEncoder(Protocol):
    """What the tagger needs from an encoder: learn from texts, then turn texts into vectors."""

    def fit(self, texts: Sequence[str]) -> Any: ...

    def transform(self, texts: Sequence[str]) -> Any: ...


def default_encoder() -> TfidfVectorizer:
    """Character 1–3-gram TF-IDF with sublinear term frequency (robust for short Chinese texts)."""
    return TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1, max_features=60_000
    )


def fresh_copy(encoder: TextEncoder) -> TextEncoder:
    """An unfitted copy, so fitting the tagger never mutates the encoder the caller passed in."""
    try:
        return clone(encoder)  # type: ignore[arg-type]
    except TypeError:
        return copy.deepcopy(encoder)


def unit_rows(matrix: Any) -> sparse.csr_matrix | np.ndarray:
    """Rows scaled to unit L2 norm (cosine similarity becomes a dot product); keeps sparsity."""
    if matrix.shape[0] == 0:
        return (
            sparse.csr_matrix(matrix, dtype=np.float64)
            if sparse.issparse(matrix)
            else np.asarray(matrix, float)
        )
    if sparse.issparse(matrix):
        return normalize(sparse.csr_matrix(matrix, dtype=np.float64))
    return normalize(np.asarray(matrix, dtype=np.float64))


def dense(matrix: Any) -> np.ndarray:
    """A dense ndarray from a sparse or dense matrix."""
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
