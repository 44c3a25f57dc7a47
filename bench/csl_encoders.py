"""Benchmark: text encoders on CSL Chinese science papers, 10-NN discipline agreement vs a char TF-IDF baseline.

    .venv/bin/python bench/csl_encoders.py --data-dir /work/shared/data [--json] [--supervised-cv]
        [--background] [--st sentence-transformers:/path/to/model] [--dims 64,128]
        [--hybrid-weights 0.3,0.5,0.7] [--tuned] [--two-fold] [--no-neural]

Every row is measured in the same run as the baseline (sparse character 1–2-gram TF-IDF, no SVD) on
the same texts; `ratio` is agreement / baseline agreement. Corpus: CSL dev+test (2,000 papers).
`--two-fold` also fits and scores every encoder on each half of the documented split
(`fold_assignments(2000, 2, seed=1)`), as production would on a 1,000-item catalog: settings are chosen
on fold 0 and reported on fold 1 and on the full 2,000.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from content_catalog.encoders import TfidfSvdEncoder, make_encoder
from content_catalog.encoders.evaluation import (
    CslCorpus,
    char_tfidf_baseline,
    cross_validated_agreement,
    fold_assignments,
    load_csl,
    neighbour_agreement,
)
from content_catalog.encoders.hybrid import TUNED, HybridEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder


@dataclass
class Row:
    """One benchmark line."""

    corpus: str
    encoder: str
    agreement: float
    ratio: float
    seconds: float


Build = Callable[[list[str]], np.ndarray | sp.spmatrix]
"""Fits an encoder on the texts (the 'catalog') and returns their vectors."""


def timed(build: Build, texts: list[str]) -> tuple[np.ndarray | sp.spmatrix, float]:
    start = time.perf_counter()
    vectors = build(texts)
    return vectors, time.perf_counter() - start


def scopes(n: int, two_fold: bool) -> list[tuple[str, np.ndarray]]:
    """The full corpus, plus each half of the documented two-fold split when asked."""
    full = [("", np.arange(n))]
    if not two_fold:
        return full
    fold = fold_assignments(n, 2, seed=1)
    return [(" [fold 0]", np.flatnonzero(fold == 0)), (" [fold 1]", np.flatnonzero(fold == 1)), *full]


def run_corpus(
    name: str, texts: list[str], labels: list[str], contenders: dict[str, Build], k: int, two_fold: bool = False
) -> list[Row]:
    """Per scope: baseline first, then each contender fitted and scored on the same texts."""
    rows: list[Row] = []
    for suffix, rows_in in scopes(len(texts), two_fold):
        part = [texts[i] for i in rows_in]
        part_labels = [labels[i] for i in rows_in]
        baseline_vectors, baseline_seconds = timed(char_tfidf_baseline, part)
        baseline = neighbour_agreement(baseline_vectors, part_labels, k)
        rows.append(Row(name + suffix, "char-tfidf 1-2 (baseline)", baseline, 1.0, baseline_seconds))
        for label, build in contenders.items():
            vectors, seconds = timed(build, part)
            score = neighbour_agreement(vectors, part_labels, k)
            rows.append(Row(name + suffix, label, score, score / baseline, seconds))
            print(f"  {name + suffix:<20} {label:<44} {score:.4f}", file=sys.stderr, flush=True)
    return rows


def default_contenders(corpus: CslCorpus, args: argparse.Namespace) -> dict[str, Build]:
    contenders: dict[str, Build] = {"tfidf-svd (default)": lambda texts: TfidfSvdEncoder().fit_transform(texts)}
    for dim in args.dims:
        contenders[f"tfidf-svd dim={dim}"] = lambda texts, dim=dim: TfidfSvdEncoder(dim=dim).fit_transform(texts)
    if args.ablations:
        contenders["tfidf-svd no smoothing"] = lambda texts: TfidfSvdEncoder(smoothing_neighbours=0).fit_transform(
            texts
        )
        contenders["plain LSA (tfidf, 0.5 chars, no smoothing)"] = lambda texts: (
            TfidfSvdEncoder(weighting="tfidf", char_weight=0.5, smoothing_neighbours=0).fit(texts).encode(texts)
        )
    if args.background:
        contenders["tfidf-svd + 8k train titles background"] = lambda texts: TfidfSvdEncoder().fit_transform(
            texts, background=corpus.background_titles
        )
    if args.st:
        contenders[args.st] = lambda texts: make_encoder(args.st).encode(texts, show_progress=False)
    contenders.update(neural_contenders(args))
    return contenders


def neural_contenders(args: argparse.Namespace) -> dict[str, Build]:
    """USE multilingual alone, `hybrid` at each `--hybrid-weights` (tfidf-svd share of the cosine) and, with
    `--tuned`, hybrid with the weight and catalog-fitted post-processing `TUNED` chosen on fold 0."""
    if args.no_neural:
        return {}
    use = UseMultilingualEncoder()  # one instance: its text cache makes the hybrid rows pay for tfidf-svd only
    contenders: dict[str, Build] = {"use-multilingual": lambda texts: use.encode(texts)}
    for weight in args.hybrid_weights:
        contenders[f"hybrid tfidf_weight={weight}"] = lambda texts, weight=weight: (
            HybridEncoder(weight, TfidfSvdEncoder(), use).fit(texts).encode(texts)
        )
    if args.tuned:
        contenders["hybrid tuned (0.2 + post-processing)"] = lambda texts: (
            HybridEncoder(tfidf=TfidfSvdEncoder(), use=use, **TUNED).fit(texts).encode(texts)
        )
    return contenders


def supervised_rows(corpus: CslCorpus, k: int, folds: int) -> list[Row]:
    """Held-out evaluation of the optional supervised (LDA) part: fit on train folds only."""
    texts, labels = corpus.documents, corpus.labels

    def baseline(train: list[str], _labels: list[str], held: list[str]) -> np.ndarray:
        return char_tfidf_baseline(held)

    def unsupervised(train: list[str], _labels: list[str], held: list[str]) -> np.ndarray:
        return TfidfSvdEncoder().fit(train).encode(held)

    def supervised(train: list[str], train_labels: list[str], held: list[str]) -> np.ndarray:
        return TfidfSvdEncoder().fit(train, y=train_labels).encode(held)

    rows: list[Row] = []
    reference = 0.0
    for label, fold_fn in (
        ("char-tfidf 1-2 (baseline, held-out only)", baseline),
        ("tfidf-svd fit on train folds", unsupervised),
        ("tfidf-svd + LDA on train-fold labels", supervised),
    ):
        score, seconds = timed(
            lambda _texts, fold_fn=fold_fn: cross_validated_agreement(fold_fn, texts, labels, folds, k), texts
        )
        reference = reference or score
        rows.append(Row(f"{folds}-fold CV", label, float(score), float(score) / reference, seconds))
        print(f"  {folds}-fold CV  {label:<44} {score:.4f}", file=sys.stderr, flush=True)
    return rows


def print_table(rows: list[Row], k: int) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"CSL dev+test, {k}-NN discipline agreement (cosine, self excluded); load average {load}")
    print(f"{'corpus':<20} {'encoder':<46} {'agreement':>9} {'ratio':>6} {'fit+encode s':>13}")
    for row in rows:
        print(f"{row.corpus:<20} {row.encoder:<46} {row.agreement:>9.4f} {row.ratio:>6.3f} {row.seconds:>13.1f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("KEPU_DATA_DIR"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--dims", default="", help="extra tfidf-svd dimensions to try, e.g. 64,128")
    parser.add_argument("--ablations", action="store_true", help="also run without smoothing / plain LSA")
    parser.add_argument("--background", action="store_true", help="also fit with CSL train titles as background")
    parser.add_argument("--supervised-cv", action="store_true", help="5-fold CV of the supervised LDA part")
    parser.add_argument("--no-titles", action="store_true", help="skip the titles-only corpus")
    parser.add_argument("--no-neural", action="store_true", help="skip use-multilingual and hybrid rows")
    parser.add_argument("--hybrid-weights", default="0.5", help="tfidf-svd shares for hybrid rows, e.g. 0.3,0.5")
    parser.add_argument("--tuned", action="store_true", help="also run hybrid with TUNED (weight + post-processing)")
    parser.add_argument("--two-fold", action="store_true", help="also fit and score on each half of the split")
    parser.add_argument("--st", default="", help="also run a 'sentence-transformers:<path-or-name>' encoder")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("give --data-dir (the shared data root or its csl/ folder) or set KEPU_DATA_DIR")
    args.dims = [int(part) for part in args.dims.split(",") if part.strip()]
    args.hybrid_weights = [float(part) for part in args.hybrid_weights.split(",") if part.strip()]
    return args


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    faiss.omp_set_num_threads(1)
    with threadpool_limits(limits=1):
        return run(args)


def run(args: argparse.Namespace) -> list[Row]:
    corpus = load_csl(args.data_dir)
    documents = corpus.documents
    contenders = default_contenders(corpus, args)
    rows = run_corpus("abstracts", documents, corpus.labels, contenders, args.k, args.two_fold)
    if not args.no_titles:
        title_contenders: dict[str, Build] = {
            "tfidf-svd (default)": lambda texts: TfidfSvdEncoder().fit_transform(texts)
        }
        title_contenders.update(neural_contenders(args))
        if args.background:
            title_contenders["tfidf-svd + 8k train titles background"] = lambda texts: TfidfSvdEncoder().fit_transform(
                texts, background=corpus.background_titles
            )
        rows += run_corpus("titles", corpus.titles, corpus.labels, title_contenders, args.k, args.two_fold)
    if args.supervised_cv:
        rows += supervised_rows(corpus, args.k, folds=5)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], ensure_ascii=False, indent=2))
    else:
        print_table(rows, args.k)
    return rows


if __name__ == "__main__":
    main()
