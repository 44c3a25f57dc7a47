"""Benchmark: similar items on the demo catalog — same-topic share of the top 10 and the judged pairs.

    OMP_NUM_THREADS=1 .venv/bin/python bench/similar_items.py [--encoders tfidf-svd,use-multilingual,hybrid]
    (also the bench-only name hybrid-tuned: hybrid with the opt-in `TUNED` post-processing)

For every demo item, its 10 similar items as `RecommendationService.similar` ranks them
(`recommender.similar.rerank_similar` over the encoder's top `pool` neighbours), with and without the
topic/audience terms: the share that shares at least one topic with the anchor (averaged over items), and on
bench/judged/similar_pairs.tsv the NDCG@10 of each judged anchor's list and how many pairs judged off-topic
(grade 0) still appear in a top 10. Text-only cosine with the same encoder is the baseline of each block.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from content_catalog.demo_catalog import load_demo_items
from content_catalog.encoders import TextEncoder, make_encoder
from content_catalog.encoders.hybrid import TUNED
from recommender.candidates import CatalogView
from recommender.evaluation.search_judgments import load_pairs, ndcg_at
from recommender.similar import SimilarParams, rerank_similar

K = 10


@dataclass
class Row:
    encoder: str
    variant: str
    same_topic: float
    judged_ndcg: float
    judged_off_topic_in_top10: int
    ms_per_item: float


def evaluate(
    view: CatalogView, vectors: np.ndarray, params: SimilarParams, pairs: dict[str, dict[str, int]]
) -> tuple[float, float, int, float]:
    sims = vectors @ vectors.T
    allowed = np.ones(view.size, dtype=bool)
    topic_sets = [set(it.topics) for it in view.items]
    shares, lists, seconds = [], {}, []
    for anchor in range(view.size):
        start = time.perf_counter()
        pool = np.argsort(-sims[anchor], kind="stable")[: params.pool + 1]
        ranked = rerank_similar(view, anchor, [(int(r), float(sims[anchor, r])) for r in pool], allowed, K, params)
        seconds.append(time.perf_counter() - start)
        rows = [r for r, _ in ranked]
        shares.append(np.mean([bool(topic_sets[r] & topic_sets[anchor]) for r in rows]) if rows else 0.0)
        lists[view.items[anchor].id] = [view.items[r].id for r in rows]
    ndcg = statistics.mean(ndcg_at(lists[a], grades, K) for a, grades in pairs.items())
    off = sum(1 for a, grades in pairs.items() for i, g in grades.items() if g == 0 and i in lists[a])
    return float(np.mean(shares)), ndcg, off, 1000 * statistics.mean(seconds)


def encoder_for(spec: str) -> TextEncoder:
    """`make_encoder(spec)`, plus the bench-only name 'hybrid-tuned' (hybrid with the opt-in `TUNED`)."""
    if spec == "hybrid-tuned":
        return make_encoder("hybrid", random_state=0, **TUNED)
    return make_encoder(spec, **({"random_state": 0} if spec in ("tfidf-svd", "hybrid") else {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="tfidf-svd,use-multilingual,hybrid")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    items = sorted(load_demo_items(), key=lambda it: it.id)
    view = CatalogView.build(items)
    pairs = load_pairs()
    rows: list[Row] = []
    variants = {
        "text cosine only (baseline)": SimilarParams(topic_weight=0.0, audience_weight=0.0, cf_weight=0.0),
        "+ topic agreement": SimilarParams(audience_weight=0.0, cf_weight=0.0),
        "+ topic + audience (shipped)": SimilarParams(),
    }
    with threadpool_limits(1):
        for spec in [e.strip() for e in args.encoders.split(",") if e.strip()]:
            texts = [it.text for it in items]
            vectors = encoder_for(spec).fit(texts).encode(texts)
            for variant, params in variants.items():
                rows.append(Row(spec, variant, *evaluate(view, vectors, params, pairs)))
    if args.json:
        json.dump([asdict(r) for r in rows], sys.stdout, ensure_ascii=False, indent=2)
        return 0
    print(f"Demo catalog ({len(items)} items), similar items top {K}; judged pairs: {len(pairs)} anchors")
    print(
        f"{'encoder':<18} {'variant':<30} {'same-topic@10':>13} {'judged NDCG@10':>15} "
        f"{'off-topic hits':>15} {'ms/item':>8}"
    )
    for r in rows:
        print(
            f"{r.encoder:<18} {r.variant:<30} {r.same_topic:13.3f} {r.judged_ndcg:15.3f} "
            f"{r.judged_off_topic_in_top10:15d} {r.ms_per_item:8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
