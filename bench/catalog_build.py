"""Benchmark (issue 8, target 6): catalog build = tagging + encoding + indexing, per stage, with peak RSS.

On `--items` SYNTHETIC items (`bench/scale_data.py`, real CSL text), default encoder `hybrid`
(tfidf-svd fitted on the catalog + USE multilingual): times the audience tagger (fit on the items'
labels + predict), the tfidf-svd fit and encode, the USE encode, and the vector index build (HNSW at
>= 100k items, as `CatalogIndex.build` does). The USE forward pass is by far the dearest stage
(~8 ms of CPU per text), so it runs on `--use-sample` texts and its whole-catalog time is extrapolated
(the row says so); `--use-sample 0` encodes everything. Baseline in the same run: a scikit-learn
character-bigram TF-IDF fit + transform of the same texts (the cheapest lexical encoder one could use).
BLAS/OpenMP threads pinned to `--threads`.

    PYTHONPATH=$PWD .venv/bin/python bench/catalog_build.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Stage:
    stage: str
    items: int
    seconds: float
    cpu_seconds: float
    per_item_ms: float
    note: str = ""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, n: int, work: Callable[[], Any], note: str = "") -> tuple[Stage, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label}: {n} items, {seconds:.1f} s, CPU {cpu_seconds:.1f} s", file=sys.stderr, flush=True)
    return Stage(label, n, round(seconds, 2), round(cpu_seconds, 2), round(1000 * cpu_seconds / n, 3), note), result


def main(argv: list[str] | None = None) -> list[Stage]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "/work/shared/data")))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--use-sample", type=int, default=2_000, help="texts USE encodes (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10k items, 500 USE texts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.use_sample = 10_000, 500
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import faiss
    from sklearn.feature_extraction.text import TfidfVectorizer
    from threadpoolctl import threadpool_limits

    from bench.scale_data import scale_items
    from content_catalog.audience.tagger import AudienceTagger
    from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
    from content_catalog.encoders.use_multilingual import UseMultilingualEncoder
    from content_catalog.vector_index import VectorIndex

    faiss.omp_set_num_threads(args.threads)
    threadpool_limits(args.threads)
    items = sorted(scale_items(args.data_dir, args.items), key=lambda it: it.id)
    texts = [it.text for it in items]
    n = len(texts)
    rows: list[Stage] = []

    def stage(label: str, count: int, work: Callable[[], Any], note: str = "") -> Any:
        row, result = timed(label, count, work, note)
        rows.append(row)
        return result

    stage(
        "baseline: char-bigram TF-IDF fit+transform",
        n,
        lambda: TfidfVectorizer(analyzer="char", ngram_range=(1, 2)).fit_transform(texts),
    )
    tagger = stage("tagging: AudienceTagger fit", n, lambda: AudienceTagger().fit(items))
    stage("tagging: AudienceTagger predict", n, lambda: tagger.predict(items))
    tfidf = TfidfSvdEncoder()
    stage("encoding: tfidf-svd fit", n, lambda: tfidf.fit(texts))
    lexical = stage("encoding: tfidf-svd encode", n, lambda: tfidf.encode(texts))
    sample = texts if args.use_sample <= 0 else texts[:: max(1, n // args.use_sample)][: args.use_sample]
    use = UseMultilingualEncoder(threads=args.threads)
    use.encode(sample[:4])  # load the weights outside the timer
    note = "" if len(sample) == n else f"on {len(sample)} texts; × {n / len(sample):.0f} for the catalog"
    neural = stage("encoding: USE multilingual encode", len(sample), lambda: use.encode(sample), note)
    dim = lexical.shape[1] + neural.shape[1]
    import numpy as np

    vectors = np.hstack([lexical, np.resize(neural, (n, neural.shape[1]))]).astype(np.float32)  # USE rows reused
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    index = VectorIndex(dim, hnsw_threshold=100_000)
    ids = [it.id for it in items]
    stage(f"indexing: VectorIndex.add ({'HNSW' if n >= 100_000 else 'exact'})", n, lambda: index.add(ids, vectors))
    total_cpu_ms = sum(r.per_item_ms for r in rows if not r.stage.startswith("baseline"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.json:
        print(json.dumps({"stages": [asdict(r) for r in rows], "peak_rss_mb": round(peak_rss_mb())}, indent=2))
        return rows
    print(f"\ncatalog build, {n:,} items, {args.threads} thread(s) (load average {load}; 2 cores)\n")
    print("| stage | items | seconds | CPU s | CPU ms / item | note |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r.stage} | {r.items:,} | {r.seconds} | {r.cpu_seconds} | {r.per_item_ms} | {r.note} |")
    baseline = rows[0].per_item_ms
    print(
        f"\nbuild CPU per item (tag + encode + index): {total_cpu_ms:.2f} ms → "
        f"{total_cpu_ms * n / 1000:,.0f} CPU s for {n:,} items ({total_cpu_ms / baseline:.0f}× the char TF-IDF "
        f"baseline); peak RSS {peak_rss_mb():,.0f} MB"
    )
    return rows


if __name__ == "__main__":
    main()
