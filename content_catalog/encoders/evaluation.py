"""Measuring text encoders on real Chinese science text (CSL), shared by the benchmark and the tests.

Metric: nearest-neighbour discipline agreement — for every paper, the share of its k nearest
neighbours (cosine, itself excluded) from the same discipline, averaged over papers. It asks the
question the recommender asks of an encoder: are an item's content neighbours on the same subject?
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from content_catalog.text import analyzer_chars_1_2

CSL_SPLITS: tuple[str, ...] = ("dev", "test")
"""CSL splits with abstracts (`ts/`) row-aligned with discipline labels (`cls_ctg/`)."""


@dataclass(frozen=True)
class CslCorpus:
    """CSL dev+test papers (title, abstract, discipline) plus the disjoint train titles as background."""

    titles: list[str]
    abstracts: list[str]
    labels: list[str]
    background_titles: list[str]

    @property
    def documents(self) -> list[str]:
        """Title and abstract joined, the text an item card would be encoded from."""
        return [f"{title}。{abstract}" for title, abstract in zip(self.titles, self.abstracts, strict=True)]

    def __len__(self) -> int:
        return len(self.titles)


def resolve_csl_dir(data_dir: str | Path) -> Path:
    """Accept the data root (containing `csl/`) or the `csl/` folder itself; clear error otherwise."""
    root = Path(data_dir).expanduser()
    for candidate in (root / "csl", root):
        if (candidate / "cls_ctg").is_dir() and (candidate / "ts").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no CSL data under {root}: expected {root}/csl/cls_ctg and {root}/csl/ts "
        "(pass --data-dir pointing at the shared data root or at its csl/ folder)"
    )


def _read_tsv(path: Path, columns: int) -> list[list[str]]:
    """Rows of a TSV with exactly `columns` fields; errors name the file and line."""
    if not path.is_file():
        raise FileNotFoundError(f"missing CSL file {path}")
    rows: list[list[str]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for line_no, row in enumerate(reader, start=1):
            if len(row) != columns:
                raise ValueError(f"{path}:{line_no}: expected {columns} tab-separated fields, got {len(row)}")
            rows.append(row)
    return rows


def load_csl(data_dir: str | Path, splits: Sequence[str] = CSL_SPLITS) -> CslCorpus:
    """Load CSL titles, abstracts and disciplines for `splits`, checking `ts/` and `cls_ctg/` are aligned."""
    csl = resolve_csl_dir(data_dir)
    titles: list[str] = []
    abstracts: list[str] = []
    labels: list[str] = []
    for split in splits:
        labelled = _read_tsv(csl / "cls_ctg" / f"{split}.tsv", 3)  # task, title, discipline
        summaries = _read_tsv(csl / "ts" / f"{split}.tsv", 3)  # task, abstract, title
        if len(labelled) != len(summaries):
            raise ValueError(
                f"{csl}/ts/{split}.tsv has {len(summaries)} rows but cls_ctg/{split}.tsv has {len(labelled)}"
            )
        for line_no, (label_row, summary_row) in enumerate(zip(labelled, summaries, strict=True), start=1):
            if label_row[1].strip() != summary_row[2].strip():
                raise ValueError(f"{csl}/ts/{split}.tsv:{line_no}: title differs from cls_ctg/{split}.tsv")
            titles.append(label_row[1].strip())
            abstracts.append(summary_row[1].strip())
            labels.append(label_row[2].strip())
    background = [row[1].strip() for row in _read_tsv(csl / "cls_ctg" / "train.tsv", 3)]
    return CslCorpus(titles=titles, abstracts=abstracts, labels=labels, background_titles=background)


def nearest_neighbours(vectors: np.ndarray | sp.spmatrix, k: int = 10, block: int = 1024) -> np.ndarray:
    """Indices (n, k) of each row's k most cosine-similar other rows, best first (dense or sparse input)."""
    matrix = sp.csr_matrix(vectors, dtype=np.float32) if sp.issparse(vectors) else np.asarray(vectors, np.float32)
    n = matrix.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k must be in 1..{n - 1} for {n} vectors, got {k}")
    norms = (
        np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        if sp.issparse(matrix)
        else (np.linalg.norm(matrix, axis=1))
    )
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    unit = sp.diags(scale) @ matrix if sp.issparse(matrix) else matrix * scale[:, None]
    result = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = unit[start:stop] @ unit.T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        result[start:stop] = np.take_along_axis(top, order, axis=1)
    return result


def neighbour_agreement(vectors: np.ndarray | sp.spmatrix, labels: Sequence[str], k: int = 10) -> float:
    """Mean share of each row's k nearest neighbours (cosine, itself excluded) carrying the same label."""
    label_array = np.asarray(labels)
    if label_array.shape[0] != vectors.shape[0]:
        raise ValueError(f"{vectors.shape[0]} vectors but {label_array.shape[0]} labels")
    neighbours = nearest_neighbours(vectors, k)
    return float((label_array[neighbours] == label_array[:, None]).mean())


def char_tfidf_baseline(texts: Sequence[str]) -> sp.csr_matrix:
    """The reference point every encoder must beat: sparse TF-IDF over character 1–2-grams, no SVD."""
    vectorizer = TfidfVectorizer(analyzer=analyzer_chars_1_2, sublinear_tf=True)
    return vectorizer.fit_transform(list(texts)).tocsr()


def fold_assignments(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """A seeded fold number (0..folds-1) per row, folds as equal as possible."""
    if not 2 <= folds <= n:
        raise ValueError(f"folds must be within 2..{n}, got {folds}")
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def cross_validated_agreement(
    encode_fold: Callable[[list[str], list[str], list[str]], np.ndarray],
    texts: Sequence[str],
    labels: Sequence[str],
    folds: int = 5,
    k: int = 10,
    seed: int = 0,
) -> float:
    """Neighbour agreement measured on held-out folds only, averaged over folds.

    `encode_fold(train_texts, train_labels, held_out_texts)` must fit on the training folds alone
    and return vectors for the held-out texts; neighbours are searched among the held-out texts, so
    labels of the evaluated papers never reach the encoder.
    """
    assignment = fold_assignments(len(texts), folds, seed)
    text_array, label_array = np.asarray(texts, dtype=object), np.asarray(labels, dtype=object)
    scores = []
    for fold in range(folds):
        held, train = assignment == fold, assignment != fold
        vectors = encode_fold(list(text_array[train]), list(label_array[train]), list(text_array[held]))
        scores.append(neighbour_agreement(vectors, list(label_array[held]), k))
    return float(np.mean(scores))
