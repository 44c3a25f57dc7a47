"""The offline default encoder: jieba words + character n-grams → term weighting → SVD (LSA) → L2.

Two additions over plain LSA, each measured on CSL (docs/encoders.md):
- log-entropy weighting with the character block weighted above the word block, because
  character n-grams survive segmentation errors and unseen terms;
- neighbour smoothing (pseudo-relevance feedback): a text's vector is pulled towards the mean
  vector of its `smoothing_neighbours` most lexically similar documents of the fitted corpus, so
  two texts on one subject that share few exact terms still end up close.
Optional: when editors' labels are passed to `fit(texts, y)`, a shrinkage-LDA projection of the
LSA space is appended, so items sharing a label (topic, audience) cluster more tightly.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from content_catalog import text as kepu_text
from content_catalog.encoders.base import (
    TextEncoder,
    check_texts,
    l2_normalize,
    read_manifest,
    write_manifest,
)
from content_catalog.encoders.weighting import LogEntropyTransformer, l2_normalize_rows

Weighting = Literal["log-entropy", "tfidf"]
PARTS_FILE = "tfidf_svd.joblib"
_CHAR_ANALYZERS = {(1, 2): kepu_text.analyzer_chars_1_2, (2, 3): kepu_text.analyzer_chars_2_3}
_BATCH = 1024
_SMOOTH_BLOCK = 256


class TfidfSvdEncoder(TextEncoder):
    """LSA text encoder for Chinese, English and mixed text; works from a handful of texts upwards.

    Parameters
    ----------
    dim: wanted output dimension of the SVD part; clamped to what the corpus supports
        (at most the number of fitted documents and features).
    weighting: 'log-entropy' (default) or 'tfidf' (sublinear TF-IDF).
    char_weight: share (0..1) of each document's squared norm given to character n-grams;
        the rest goes to jieba words. 0 uses words only, 1 characters only.
    char_ngrams: (1, 2) or (2, 3) character n-gram range.
    min_df: minimum document frequency of a term (clamped to 1 on corpora smaller than 5 × min_df).
    smoothing_neighbours: how many lexical neighbours from the fitted corpus to average in (0 = off).
    smoothing_weight: weight of that neighbour mean relative to the text's own unit vector.
    max_memory: at most this many fitted documents are kept for smoothing (a seeded sample).
    supervised_weight: weight of the LDA part when `fit` gets labels (0 = ignore labels).
    random_state: seed for the SVD and the memory sample.
    """

    kind = "tfidf-svd"

    def __init__(
        self,
        dim: int = 256,
        weighting: Weighting = "log-entropy",
        char_weight: float = 0.7,
        char_ngrams: tuple[int, int] = (1, 2),
        min_df: int = 1,
        smoothing_neighbours: int = 5,
        smoothing_weight: float = 1.0,
        max_memory: int = 50_000,
        supervised_weight: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.dim_wanted = dim
        self.weighting = weighting
        self.char_weight = char_weight
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.smoothing_neighbours = smoothing_neighbours
        self.smoothing_weight = smoothing_weight
        self.max_memory = max_memory
        self.supervised_weight = supervised_weight
        self.random_state = random_state
        self._validate_params()
        self._parts: dict[str, Any] | None = None
        self._fitted_rows: tuple[list[str], sp.csr_matrix] | None = None

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention, so `sklearn.base.clone` works)."""
        return {
            "dim": self.dim_wanted,
            "weighting": self.weighting,
            "char_weight": self.char_weight,
            "char_ngrams": self.char_ngrams,
            "min_df": self.min_df,
            "smoothing_neighbours": self.smoothing_neighbours,
            "smoothing_weight": self.smoothing_weight,
            "max_memory": self.max_memory,
            "supervised_weight": self.supervised_weight,
            "random_state": self.random_state,
        }

    def _validate_params(self) -> None:
        if not isinstance(self.dim_wanted, int) or self.dim_wanted < 1:
            raise ValueError(f"dim must be a positive int, got {self.dim_wanted!r}")
        if self.weighting not in ("log-entropy", "tfidf"):
            raise ValueError(f"weighting must be 'log-entropy' or 'tfidf', got {self.weighting!r}")
        if not 0.0 <= self.char_weight <= 1.0:
            raise ValueError(f"char_weight must be within [0, 1], got {self.char_weight!r}")
        if tuple(self.char_ngrams) not in _CHAR_ANALYZERS:
            raise ValueError(f"char_ngrams must be one of {sorted(_CHAR_ANALYZERS)}, got {self.char_ngrams!r}")
        for name in ("min_df", "max_memory"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not isinstance(self.smoothing_neighbours, int) or self.smoothing_neighbours < 0:
            raise ValueError(f"smoothing_neighbours must be an int >= 0, got {self.smoothing_neighbours!r}")
        for name in ("smoothing_weight", "supervised_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (e.g. inside a saved tagger) without the term matrix kept for the next encode."""
        return {**self.__dict__, "_fitted_rows": None}

    # ------------------------------------------------------------------ fitting
    def fit(
        self, texts: Sequence[str], y: Sequence[str | None] | None = None, *, background: Sequence[str] = ()
    ) -> Self:
        """Learn vocabulary, term weights and SVD from `texts` plus unlabelled `background` texts.

        `y` (optional, aligned with `texts`): labels such as editor topics; None/'' marks unlabelled
        rows. With at least two distinct labels an LDA projection is learnt and appended.
        """
        self._fit_matrix(texts, y, background)
        return self

    def fit_transform(
        self, texts: Sequence[str], y: Sequence[str | None] | None = None, *, background: Sequence[str] = ()
    ) -> np.ndarray:
        """`fit(texts, y, background=…)` then the vectors of `texts`, tokenizing each text only once."""
        matrix = self._fit_matrix(texts, y, background)
        self._fitted_rows = None
        return self._encode_matrix(self._require_fitted(), matrix[: len(texts)]).astype(np.float32, copy=False)

    def _fit_matrix(
        self, texts: Sequence[str], y: Sequence[str | None] | None, background: Sequence[str]
    ) -> sp.csr_matrix:
        """Fit every part; returns the weighted term matrix of texts + background for reuse."""
        self._validate_params()
        corpus = check_texts(texts) + check_texts(background, "background")
        if not corpus:
            raise ValueError("cannot fit on an empty corpus: texts and background are both empty")
        parts: dict[str, Any] = {"blocks": []}
        weighted_blocks: list[sp.csr_matrix] = []
        min_df = self.min_df if len(corpus) >= 5 * self.min_df else 1
        for block, analyzer, weight in self._block_specs():
            if weight == 0.0:
                continue
            vectorizer = CountVectorizer(analyzer=analyzer, min_df=min_df, dtype=np.float64)
            try:
                counts = vectorizer.fit_transform(corpus)
            except ValueError:  # empty vocabulary: e.g. only stopwords for the word block
                continue
            weigher = (
                LogEntropyTransformer() if self.weighting == "log-entropy" else TfidfTransformer(sublinear_tf=True)
            )
            scale = float(np.sqrt(weight))
            weighted_blocks.append(scale * weigher.fit(counts).transform(counts))
            parts["blocks"].append((block, vectorizer, weigher, scale))
        if not parts["blocks"]:
            raise ValueError(f"no usable text in {len(corpus)} texts: all empty after normalisation")
        matrix = sp.hstack(weighted_blocks).tocsr()
        parts["svd"] = self._fit_svd(matrix)
        dense = self._project(parts, matrix)
        parts["base_dim"] = dense.shape[1]
        self._fit_memory(parts, matrix, dense)
        if y is not None:
            self._fit_supervised(parts, matrix[: len(texts)], dense[: len(texts)], y)
        self._parts = parts
        # a catalog build encodes exactly the texts it fitted on next: keep their term matrix for that one
        # encode, so jieba and the n-gram counting do not run over the whole catalog twice
        self._fitted_rows = (list(corpus[: len(texts)]), matrix[: len(texts)])
        return matrix

    def _block_specs(self) -> list[tuple[str, Any, float]]:
        chars = _CHAR_ANALYZERS[tuple(self.char_ngrams)]
        return [
            ("words", kepu_text.analyzer_words, 1.0 - self.char_weight),
            ("chars", chars, self.char_weight),
        ]

    def _fit_svd(self, matrix: sp.csr_matrix) -> TruncatedSVD | None:
        """SVD with the dimension clamped to the corpus; None when there is too little to factorise."""
        n_docs, n_features = matrix.shape
        if n_features < 2:
            return None
        components = max(1, min(self.dim_wanted, n_docs, n_features - 1))
        svd = TruncatedSVD(n_components=components, n_iter=5, random_state=self.random_state)
        with warnings.catch_warnings():  # one-document corpora make explained_variance_ratio_ 0/0
            warnings.simplefilter("ignore", RuntimeWarning)
            # in float32: half the time of float64 (the power iterations' LU and sparse products), and the
            # projected vectors agree with float64's to a cosine of 1 - 1e-8 (bench/catalog_build.py)
            svd.fit(matrix.astype(np.float32))
        return svd

    def _fit_memory(self, parts: dict[str, Any], matrix: sp.csr_matrix, dense: np.ndarray) -> None:
        """Keep (a seeded sample of) the fitted documents for neighbour smoothing."""
        if self.smoothing_neighbours == 0 or self.smoothing_weight == 0:
            parts["memory"] = None
            return
        keep = np.arange(matrix.shape[0])
        if keep.size > self.max_memory:
            keep = np.sort(np.random.default_rng(self.random_state).choice(keep, self.max_memory, replace=False))
        parts["memory"] = (normalize(matrix[keep]).astype(np.float32).tocsr(), dense[keep])
        parts["memory_rows"] = keep  # positions in the fitted corpus, so other encoders can align with the memory

    def _fit_supervised(
        self, parts: dict[str, Any], matrix: sp.csr_matrix, dense: np.ndarray, y: Sequence[str | None]
    ) -> None:
        """Shrinkage LDA on the (smoothed) LSA vectors of the labelled texts."""
        labels = list(y)
        if len(labels) != dense.shape[0]:
            raise ValueError(f"y has {len(labels)} labels but texts has {dense.shape[0]} rows")
        if self.supervised_weight == 0:
            return
        labelled = np.array([label not in (None, "") for label in labels])
        distinct = {label for label in labels if label not in (None, "")}
        if len(distinct) < 2:
            return
        smoothed = self._smooth(parts, matrix, dense) if parts["memory"] is not None else dense
        assert isinstance(smoothed, np.ndarray)
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
        lda.fit(smoothed[labelled], np.asarray(labels, dtype=object)[labelled].astype(str))
        parts["lda"] = lda
        parts["lda_dim"] = int(lda.transform(smoothed[:1]).shape[1])

    # ------------------------------------------------------------------ encoding
    def _weighted(self, parts: dict[str, Any], texts: list[str]) -> sp.csr_matrix:
        blocks = [scale * weigher.transform(vec.transform(texts)) for _, vec, weigher, scale in parts["blocks"]]
        return sp.hstack(blocks).tocsr() if len(blocks) > 1 else sp.csr_matrix(blocks[0])

    def _project(self, parts: dict[str, Any], matrix: sp.csr_matrix) -> np.ndarray:
        """`svd.transform` (X @ components_.T) with the transpose made contiguous once: scipy otherwise copies
        the whole (vocabulary × dim) matrix on every call, ~40 ms of a one-query encode. Saved components are
        Fortran-ordered (`_shareable`), so for a loaded encoder this is a view of the mapped file, shared by
        every worker process, not a private copy."""
        svd = parts["svd"]
        if svd is None:
            return l2_normalize(matrix.toarray())
        cached = getattr(self, "_projection", None)
        if cached is None or cached[0] is not svd:
            cached = (svd, np.ascontiguousarray(svd.components_.T))
            self._projection = cached
        return l2_normalize(np.asarray(matrix @ cached[1]))

    def _smooth(
        self, parts: dict[str, Any], matrix: sp.csr_matrix, dense: np.ndarray, extra: int = 0
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add `smoothing_weight` × the mean vector of each row's lexical neighbours in the memory.

        Rows are processed in blocks so the (block × memory) similarity matrix stays small. With `extra` > 0
        also returns each row's `extra` best memory rows (best first) and a mask of those with any shared
        term, found in the same scan, for a caller that smooths another representation (`hybrid`).
        """
        memory_matrix, memory_dense = parts["memory"]
        n_memory = memory_matrix.shape[0]
        m = min(self.smoothing_neighbours, n_memory)
        wanted = min(max(m, extra), n_memory)
        unit_rows = l2_normalize_rows(matrix).astype(np.float32)
        memory_by_term = self._memory_by_term(memory_matrix)
        smoothed = np.empty_like(dense)
        neighbours = np.zeros((matrix.shape[0], wanted), dtype=np.int64)
        shared = np.zeros((matrix.shape[0], wanted), dtype=bool)
        for start in range(0, matrix.shape[0], _SMOOTH_BLOCK):
            stop = min(start + _SMOOTH_BLOCK, matrix.shape[0])
            sims = (unit_rows[start:stop] @ memory_by_term).toarray()
            if wanted < sims.shape[1]:
                top = np.argpartition(-sims, wanted - 1, axis=1)[:, :wanted]
            else:
                top = np.tile(np.arange(sims.shape[1]), (stop - start, 1))
            top_sims = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-top_sims, axis=1, kind="stable")
            top, top_sims = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)
            neighbours[start:stop], shared[start:stop] = top, top_sims > 0
            valid = (top_sims[:, :m] > 0).astype(np.float32)
            counts = np.maximum(valid.sum(axis=1, keepdims=True), 1.0)
            neighbour_mean = (memory_dense[top[:, :m]] * valid[:, :, None]).sum(axis=1) / counts
            smoothed[start:stop] = dense[start:stop] + self.smoothing_weight * neighbour_mean
        if extra:
            return smoothed, neighbours[:, :extra], shared[:, :extra]
        return smoothed

    def _memory_by_term(self, memory_matrix: sp.csr_matrix) -> sp.csr_matrix:
        """The memory transposed to (terms × documents) CSR, made once: `rows @ memory.T` would otherwise
        convert the whole memory (up to `max_memory` documents) on every encode, most of a one-query encode
        on a large catalog. A saved memory is CSC (`_shareable`): its transpose is the CSR without a copy, so
        a loaded encoder keeps using the mapped file's pages."""
        cached = getattr(self, "_memory_t", None)
        if cached is None or cached[0] is not memory_matrix:
            cached = (memory_matrix, memory_matrix.T.tocsr())
            self._memory_t = cached
        return cached[1]

    def _encode_batch(self, parts: dict[str, Any], texts: list[str]) -> np.ndarray:
        return self._encode_matrix(parts, self._weighted(parts, texts))

    def _encode_matrix(self, parts: dict[str, Any], matrix: sp.csr_matrix) -> np.ndarray:
        return self._encode_matrix_with_neighbours(parts, matrix, 0)[0]

    def _encode_matrix_with_neighbours(
        self, parts: dict[str, Any], matrix: sp.csr_matrix, extra: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        dense = self._project(parts, matrix)
        neighbours = shared = None
        if parts.get("memory") is not None:
            if extra:
                dense, neighbours, shared = self._smooth(parts, matrix, dense, extra)  # type: ignore[misc]
            else:
                dense = self._smooth(parts, matrix, dense)  # type: ignore[assignment]
        if parts.get("lda") is not None:
            supervised = l2_normalize(parts["lda"].transform(dense))
            dense = np.hstack([l2_normalize(dense), self.supervised_weight * supervised])
        return l2_normalize(dense), neighbours, shared

    @property
    def memory_rows(self) -> np.ndarray:
        """Positions (in the fitted corpus: texts, then background) of the documents kept for smoothing."""
        parts = self._require_fitted()
        if parts.get("memory") is None or "memory_rows" not in parts:
            raise RuntimeError("this tfidf-svd keeps no memory: fitted without smoothing, or saved before it")
        return np.asarray(parts["memory_rows"])

    def encode_with_neighbours(self, texts: Sequence[str], count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`encode(texts)` plus, from the same lexical scan, each text's `count` most similar memory documents
        (indices into `memory_rows`, best first; shape (n, count')) and whether each shares any term with it.

        Needs smoothing on (the memory); count' = min(count, memory size)."""
        self.memory_rows  # noqa: B018 - raises a clear error when there is no memory
        parts = self._require_fitted()
        items = check_texts(texts)
        vectors, rows, shared = [], [], []
        for batch in _batches(items):
            dense, neighbours, mask = self._encode_matrix_with_neighbours(parts, self._weighted(parts, batch), count)
            assert neighbours is not None and mask is not None
            vectors.append(dense)
            rows.append(neighbours)
            shared.append(mask)
        width = min(count, parts["memory"][0].shape[0])
        if not items:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, width), np.int64), np.zeros((0, width), bool)
        return np.vstack(vectors).astype(np.float32, copy=False), np.vstack(rows), np.vstack(shared)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Unit vectors (n, dim) float32; texts with no known term get an all-zero row."""
        parts = self._require_fitted()
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        fitted, self._fitted_rows = getattr(self, "_fitted_rows", None), None
        if fitted is not None and fitted[0] == items:
            return self._encode_matrix(parts, fitted[1]).astype(np.float32, copy=False)
        batches = [self._encode_batch(parts, batch) for batch in _progress(_batches(items), len(items), show_progress)]
        return np.vstack(batches).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ properties & persistence
    def _require_fitted(self) -> dict[str, Any]:
        if self._parts is None:
            raise RuntimeError("TfidfSvdEncoder is not fitted: call fit(texts) first")
        return self._parts

    @property
    def is_fitted(self) -> bool:
        return self._parts is not None

    @property
    def dim(self) -> int:
        parts = self._require_fitted()
        return int(parts["base_dim"]) + int(parts.get("lda_dim", 0))

    @property
    def spec(self) -> str:
        return self.kind

    @property
    def name(self) -> str:
        extras = []
        if self.smoothing_neighbours and self.smoothing_weight:
            extras.append(f"smooth{self.smoothing_neighbours}")
        if self._parts is not None and self._parts.get("lda") is not None:
            extras.append("lda")
        return f"{self.kind}({', '.join([self.weighting, f'dim={self.dim_wanted}', *extras])})"

    def save(self, folder: str | Path) -> Path:
        parts = self._require_fitted()
        target = Path(folder)
        params = {**self.get_params(), "char_ngrams": list(self.char_ngrams)}
        write_manifest(target, self.kind, self.spec, self.dim, params)
        # uncompressed: loads ~4x faster at start-up, ~30 % larger, and `load` can memory-map the arrays
        joblib.dump(_shareable(parts), target / PARTS_FILE)
        return target

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        manifest = read_manifest(folder)
        if manifest["kind"] != cls.kind:
            raise ValueError(f"{folder}: manifest kind {manifest['kind']!r} is not {cls.kind!r}")
        params = dict(manifest["params"])
        params["char_ngrams"] = tuple(params["char_ngrams"])
        encoder = cls(**params)
        parts_path = Path(folder) / PARTS_FILE
        if not parts_path.is_file():
            raise FileNotFoundError(f"{parts_path} not found: the encoder folder is incomplete")
        # arrays memory-mapped read-only: worker processes share their page-cache pages (issue 8, target 7)
        encoder._parts = joblib.load(parts_path, mmap_mode="r")
        if encoder.dim != manifest["dim"]:
            raise ValueError(f"{folder}: manifest dim {manifest['dim']} != stored model dim {encoder.dim}")
        return encoder


def _shareable(parts: dict[str, Any]) -> dict[str, Any]:
    """The parts in the layout a memory-mapped load uses without private copies: SVD components
    Fortran-ordered (their transpose, which `_project` multiplies by, is then C-contiguous) and the smoothing
    memory as CSC (its transpose, which `_memory_by_term` needs, is then CSR). Same values; the live parts
    are left as they are."""
    shared = dict(parts)
    svd = parts.get("svd")
    if svd is not None and not svd.components_.flags.f_contiguous:
        shared["svd"] = copy.copy(svd)
        shared["svd"].components_ = np.asfortranarray(svd.components_)
    if parts.get("memory") is not None:
        memory_matrix, memory_dense = parts["memory"]
        shared["memory"] = (sp.csc_matrix(memory_matrix), memory_dense)
    return shared


def _batches(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _progress(batches: Iterator[list[str]], total: int, show: bool) -> Iterator[list[str]]:
    """Batches, with a rich progress bar counted in texts when `show` is set."""
    if not show:
        yield from batches
        return
    from rich.progress import Progress

    with Progress() as progress:
        task = progress.add_task("encoding", total=total)
        for batch in batches:
            yield batch
            progress.advance(task, len(batch))
