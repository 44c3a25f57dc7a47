"""Benchmark: search quality on our judged query set and on CSL keyword → paper retrieval, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_quality.py --data-dir /work/shared/data [--json]
        [--encoders tfidf-svd,use-multilingual,hybrid,hybrid-tuned] [--skip-csl]

Demo catalog, bench/judged/search_queries.tsv (graded 0/1/2; see bench/judged/GUIDELINE.md): NDCG@10, MRR@10,
recall@10 over answerable queries, NDCG@10 per query kind, no-answer precision/recall (an empty list is the
right answer to an unanswerable query), mean latency per query. Systems, all on the same items: BM25 alone
(the baseline every ratio is against), dense alone per encoder, reciprocal rank fusion, and the shipped
fused search (`recommender.search.CatalogSearch`) with ablations. The fused search's `lexical_weight` and
`min_score` are chosen by a grid on this set; to show that choice is not just fitted noise the table also
gives a 2-fold cross-validated figure (fit on odd-numbered queries, score on even ones, and back).

CSL: 2,000 dev+test papers (title + abstract); each `kg` row's keywords are a query whose answer is its own
paper. MRR@10 for BM25, dense per encoder and the fusion.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from content_catalog.demo_catalog import load_demo_items
from content_catalog.encoders import DEFAULT_SPEC, TextEncoder, TfidfSvdEncoder, make_encoder
from content_catalog.encoders.hybrid import TUNED, HybridEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder
from content_catalog.vector_index import VectorIndex
from recommender.candidates import CatalogView
from recommender.evaluation.search_judgments import JudgedQuery, Summary, load_queries, summarize
from recommender.lexical import BM25Index, Glossary
from recommender.search import CatalogSearch, SearchFilters, SearchParams, ranked_rows

K = 10
RRF_K = 60
WEIGHT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
THRESHOLD_GRID = tuple(round(x, 3) for x in np.arange(0.10, 0.42, 0.02))
ITEM_RATIO_GRID = (0.0, 0.4, 0.6)


@dataclass
class Row:
    system: str
    ndcg: float
    ratio: float
    mrr: float
    recall: float
    by_kind: dict[str, float]
    no_answer_precision: float
    no_answer_recall: float
    ms_per_query: float


_USE = UseMultilingualEncoder()
"""One USE model for every row: its per-text cache lets hybrid reuse the use-multilingual vectors."""


def fitted_encoder(spec: str, texts: list[str]) -> TextEncoder:
    if spec == "use-multilingual":
        return _USE
    if spec == "hybrid":
        return HybridEncoder(tfidf=TfidfSvdEncoder(random_state=0), use=_USE).fit(texts)
    if spec == "hybrid-tuned":  # bench-only name: hybrid with the opt-in `TUNED` weight and post-processing
        return HybridEncoder(tfidf=TfidfSvdEncoder(random_state=0), use=_USE, **TUNED).fit(texts)
    kwargs = {"random_state": 0} if spec == "tfidf-svd" else {}
    return make_encoder(spec, **kwargs).fit(texts)


class Catalog:
    """The demo catalog with one vector index per encoder, and the judged queries' signals cached."""

    def __init__(self, encoders: Sequence[str]) -> None:
        self.items = sorted(load_demo_items(), key=lambda it: it.id)
        self.view = CatalogView.build(self.items)
        self.ids = [it.id for it in self.items]
        self.searches: dict[str, CatalogSearch] = {}
        for spec in encoders:
            encoder = fitted_encoder(spec, [it.text for it in self.items])
            index = VectorIndex(encoder.dim)
            index.add(self.ids, encoder.encode([it.text for it in self.items]))
            self.searches[spec] = CatalogSearch(self.view, encoder, index)


def ranked_ids(ids: list[str], scores: np.ndarray, mask: np.ndarray, k: int = K) -> list[str]:
    return [ids[r] for r in ranked_rows(scores, mask, k)] if mask.any() else []


def run_system(
    name: str, queries: Sequence[JudgedQuery], rank: Callable[[str], list[str]], baseline: float | None
) -> Row:
    results, seconds = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(rank(query.text))
        seconds.append(time.perf_counter() - start)
    summary = summarize(queries, results, K)
    return make_row(name, summary, baseline, 1000 * statistics.mean(seconds))


def make_row(name: str, summary: Summary, baseline: float | None, ms: float) -> Row:
    return Row(
        name,
        summary.ndcg,
        summary.ndcg / baseline if baseline else 1.0,
        summary.mrr,
        summary.recall,
        summary.ndcg_by_kind,
        summary.no_answer_precision,
        summary.no_answer_recall,
        ms,
    )


def objective(summary: Summary) -> float:
    """What the grid maximises: answerable NDCG@10 plus the share of unanswerable queries left empty."""
    return summary.ndcg + 0.5 * summary.no_answer_recall


def gated(ids: list[str], fused: np.ndarray, threshold: float, ratio: float) -> list[str]:
    """What `CatalogSearch.search` returns (no filters): nothing below the gate, else items ≥ ratio × best."""
    top = float(fused.max()) if len(fused) else 0.0
    return [] if top < threshold else ranked_ids(ids, fused, fused >= ratio * top)


def choose_params(
    queries: Sequence[JudgedQuery], signals: dict[str, tuple[np.ndarray, np.ndarray]], ids: list[str]
) -> tuple[float, float, float]:
    """(lexical_weight, min_score, item_ratio) maximising `objective` on `queries` (ties: first in grid order)."""
    best, best_value = (0.5, 0.2, 0.5), -1.0
    for weight in WEIGHT_GRID:
        fused = {q.id: weight * signals[q.id][0] + (1 - weight) * signals[q.id][1] for q in queries}
        for threshold in THRESHOLD_GRID:
            for ratio in ITEM_RATIO_GRID:
                results = [gated(ids, fused[q.id], threshold, ratio) for q in queries]
                value = objective(summarize(queries, results, K))
                if value > best_value + 1e-9:
                    best, best_value = (weight, threshold, ratio), value
    return best


def cross_validated(
    queries: Sequence[JudgedQuery], signals: dict[str, tuple[np.ndarray, np.ndarray]], ids: list[str]
) -> Summary:
    """2-fold CV of `choose_params`: folds are alternate queries in file order."""
    folds = [list(queries[0::2]), list(queries[1::2])]
    ordered, results = [], []
    for fit, score in ((folds[0], folds[1]), (folds[1], folds[0])):
        weight, threshold, ratio = choose_params(fit, signals, ids)
        for q in score:
            fused = weight * signals[q.id][0] + (1 - weight) * signals[q.id][1]
            ordered.append(q)
            results.append(gated(ids, fused, threshold, ratio))
    return summarize(ordered, results, K)


def judged_rows(catalog: Catalog, queries: list[JudgedQuery], default: str) -> tuple[list[Row], dict[str, object]]:
    ids, everything = catalog.ids, SearchFilters(include_hidden=True)
    titles, texts = [it.title for it in catalog.items], [it.text for it in catalog.items]
    plain = BM25Index(titles, texts, plain=True, title_boost=0.0)
    base = run_system(
        "plain jieba BM25 (baseline)", queries, lambda q: ranked_ids(ids, s := plain.scores(q), s > 0), None
    )
    rows = [base]
    for label, bm25 in (
        ("BM25 + glossary, synonyms, title boost", BM25Index(titles, texts)),
        ("  same without synonyms/concepts", BM25Index(titles, texts, synonym_weight=0.0, glossary=Glossary(()))),
    ):
        rows.append(run_system(label, queries, lambda q, b=bm25: ranked_ids(ids, s := b.scores(q), s > 0), base.ndcg))
    chosen: dict[str, object] = {}
    for spec, search in catalog.searches.items():
        rows.append(
            run_system(
                f"dense alone: {spec}",
                queries,
                lambda q, s=search: ranked_ids(ids, s.signals(q)[1], np.ones(len(ids), dtype=bool)),
                base.ndcg,
            )
        )
        signals = {q.id: search.signals(q.text) for q in queries}
        rows.append(run_system(f"RRF(BM25, {spec})", queries, lambda q, s=search: rrf(ids, *s.signals(q)), base.ndcg))
        weight, threshold, ratio = choose_params(queries, signals, ids)
        chosen[spec] = {"lexical_weight": weight, "min_score": threshold, "item_ratio": ratio}
        tuned = CatalogSearch(search.view, search.encoder, search.index, SearchParams(weight, threshold, ratio))
        label = f"fused: {spec} (w={weight}, t={threshold}, r={ratio})"
        rows.append(run_system(label, queries, lambda q, t=tuned: hit_ids(t, q, everything), base.ndcg))
        rows.append(
            make_row("  same, 2-fold cross-validated params", cross_validated(queries, signals, ids), base.ndcg, 0.0)
        )
        if spec == default:
            for label, params in (
                ("  shipped defaults: SearchParams()", SearchParams()),
                ("  no threshold", SearchParams(weight, 0.0, 0.0)),
                ("  no synonym groups", SearchParams(weight, threshold, ratio, synonym_weight=0.0)),
                ("  no title boost", SearchParams(weight, threshold, ratio, title_boost=0.0)),
            ):
                variant = CatalogSearch(search.view, search.encoder, search.index, params)
                rows.append(run_system(label, queries, lambda q, v=variant: hit_ids(v, q, everything), base.ndcg))
    return rows, chosen


def hit_ids(search: CatalogSearch, query: str, wanted: SearchFilters) -> list[str]:
    return [hit.item.id for hit in search.search(query, K, wanted).hits]


def rrf(ids: list[str], lexical: np.ndarray, dense: np.ndarray) -> list[str]:
    """Reciprocal rank fusion of the two rankings (items BM25 does not match get no lexical share)."""
    fused = np.zeros(len(ids))
    for scores, only_matches in ((lexical, True), (dense, False)):
        order = np.argsort(-scores, kind="stable")
        ranks = np.empty(len(ids))
        ranks[order] = np.arange(1, len(ids) + 1)
        contribution = 1.0 / (RRF_K + ranks)
        fused += np.where(scores > 0, contribution, 0.0) if only_matches else contribution
    return [ids[r] for r in ranked_rows(fused, np.ones(len(ids), dtype=bool), K)]


def print_table(title: str, rows: list[Row], kinds: list[str]) -> None:
    print(f"\n{title}")
    head = (
        f"{'system':<44} {'NDCG@10':>8} {'ratio':>6} {'MRR@10':>7} {'R@10':>6} "
        + " ".join(f"{k[:10]:>10}" for k in kinds)
        + f" {'noans P':>8} {'noans R':>8} {'ms/q':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.system:<44} {r.ndcg:8.3f} {r.ratio:5.2f}x {r.mrr:7.3f} {r.recall:6.3f} "
            + " ".join(f"{r.by_kind.get(k, 0.0):10.3f}" for k in kinds)
            + f" {r.no_answer_precision:8.2f} {r.no_answer_recall:8.2f} {r.ms_per_query:7.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("KEPU_DATA_DIR"))
    parser.add_argument("--encoders", default="tfidf-svd,use-multilingual,hybrid")
    parser.add_argument("--default", default=DEFAULT_SPEC, help="encoder whose fused search gets the ablation rows")
    parser.add_argument("--skip-csl", action="store_true")
    parser.add_argument("--csl-limit", type=int, default=0, help="only the first N CSL papers (CI)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    with threadpool_limits(1):
        queries = load_queries()
        catalog = Catalog(encoders)
        rows, chosen = judged_rows(catalog, queries, args.default)
        kinds = sorted({q.kind for q in queries if q.answerable})
        csl_rows = (
            [] if args.skip_csl or not args.data_dir else csl_mrr(Path(args.data_dir), encoders, chosen, args.csl_limit)
        )
    if args.json:
        json.dump(
            {"judged": [asdict(r) for r in rows], "chosen": chosen, "csl": csl_rows},
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        return 0
    n_unanswerable = sum(not q.answerable for q in queries)
    print_table(
        f"Demo catalog ({len(catalog.items)} items), {len(queries)} judged queries ({n_unanswerable} unanswerable); "
        "NDCG/MRR/recall over answerable queries; columns by kind are NDCG@10",
        rows,
        kinds,
    )
    print(f"chosen fusion params: {json.dumps(chosen)}")
    if csl_rows:
        print("\nCSL keyword → own paper among the papers, MRR@10")
        print(f"{'system':<44} {'MRR@10':>7} {'ratio':>6} {'ms/q':>7}")
        for r in csl_rows:
            print(f"{r['system']:<44} {r['mrr']:7.3f} {r['ratio']:5.2f}x {r['ms_per_query']:7.2f}")
    return 0


def csl_mrr(data_dir: Path, encoders: Sequence[str], chosen: dict[str, object], limit: int) -> list[dict[str, object]]:
    from content_catalog.encoders.evaluation import load_csl, resolve_csl_dir

    corpus = load_csl(data_dir)
    csl = resolve_csl_dir(data_dir)
    keywords = []
    for split in ("dev", "test"):
        for line in (csl / "kg" / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
            keywords.append(" ".join(line.split("\t")[2].split("_")))
    documents = corpus.documents
    if limit:
        documents, keywords, titles = documents[:limit], keywords[:limit], corpus.titles[:limit]
    else:
        titles = corpus.titles
    ids = [str(i) for i in range(len(documents))]
    plain = BM25Index(titles, documents, plain=True, title_boost=0.0)
    bm25 = BM25Index(titles, documents)
    rows: list[dict[str, object]] = []

    def mrr_of(rank: Callable[[str], list[str]]) -> tuple[float, float]:
        total, start = 0.0, time.perf_counter()
        for answer, query in enumerate(keywords):
            ranked = rank(query)
            total += next((1.0 / (r + 1) for r, i in enumerate(ranked) if i == str(answer)), 0.0)
        return total / len(keywords), 1000 * (time.perf_counter() - start) / len(keywords)

    everything = np.ones(len(ids), dtype=bool)
    base, ms = mrr_of(lambda q: ranked_ids(ids, plain.scores(q), everything))
    rows.append({"system": "plain jieba BM25 (baseline)", "mrr": base, "ratio": 1.0, "ms_per_query": ms})
    value, ms = mrr_of(lambda q: ranked_ids(ids, bm25.scores(q), everything))
    rows.append({"system": "BM25 + glossary, title boost", "mrr": value, "ratio": value / base, "ms_per_query": ms})
    for spec in encoders:
        encoder = fitted_encoder(spec, documents)
        vectors = encoder.encode(documents)
        weight = float(chosen.get(spec, {}).get("lexical_weight", 0.5))  # type: ignore[union-attr]

        def dense_scores(q: str, e: TextEncoder = encoder, v: np.ndarray = vectors) -> np.ndarray:
            return np.maximum(v @ e.encode_query([q])[0], 0.0)

        value, ms = mrr_of(lambda q, d=dense_scores: ranked_ids(ids, d(q), everything))
        rows.append({"system": f"dense alone: {spec}", "mrr": value, "ratio": value / base, "ms_per_query": ms})
        value, ms = mrr_of(
            lambda q, d=dense_scores, w=weight: ranked_ids(ids, w * bm25.scores(q) + (1 - w) * d(q), everything)
        )
        rows.append({"system": f"fused: {spec} (w={weight})", "mrr": value, "ratio": value / base, "ms_per_query": ms})
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
