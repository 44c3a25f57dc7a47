"""Benchmark (issue 8, target 6): catalog build = tagging + encoding + indexing, per stage, with peak RSS.

On `--items` SYNTHETIC items (`bench/scale_data.py`, real CSL text), default encoder `hybrid`
(tfidf-svd fitted on the catalog + USE multilingual): times the audience tagger (fit on the items'
labels + predict), the tfidf-svd fit and encode, the USE encode, and the vector index build (HNSW at
>= 100k items, as `CatalogIndex.build` does). The USE forward pass is by far the dearest stage
(~8 ms of CPU per text), so it runs on `--use-sample` texts and its whole-catalog time is extrapolated
(the row says so); `--use-sample 0` encodes everything. Baseline in the same run: a scikit-learn
character-bigram TF-IDF fit + transform of the same texts (the cheapest lexical encoder one could use).
BLAS/OpenMP threads pinned to `--threads`; USE encodes over `--threads` worker processes (it starts them
only for >= 4,000 new texts, so use `--use-sample 4000` or more to measure them). `--previous` adds the
tfidf-svd rows of the code before this workstream (float64 SVD; the encode tokenises the catalog again),
run in the same process, so the ratio is measured under the same load. "peak RSS" is this process's
high-water mark after the stage (it never goes down), "workers" the largest USE worker process.

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
    peak_rss_mb: float = 0.0
    note: str = ""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def timed(label: str, n: int, work: Callable[[], Any], note: str = "") -> tuple[Stage, Any]:
    wall, cpu = time.perf_counter(), _cpu()
    result = work()
    seconds, cpu_seconds = time.perf_counter() - wall, _cpu() - cpu
    print(f"  {label}: {n} items, {seconds:.1f} s, CPU {cpu_seconds:.1f} s", file=sys.stderr, flush=True)
    per_item = round(1000 * cpu_seconds / n, 3)
    return Stage(label, n, round(seconds, 2), round(cpu_seconds, 2), per_item, round(peak_rss_mb()), note), result


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the USE worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> list[Stage]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "/work/shared/data")))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--use-sample", type=int, default=2_000, help="texts USE encodes (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10k items, 500 USE texts")
    parser.add_argument("--previous", action="store_true", help="also time the previous tfidf-svd fit and encode")
    parser.add_argument("--no-tagger", action="store_true", help="skip the tagging rows (encoding and indexing only)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.use_sample = 10_000, 500
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import faiss
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from threadpoolctl import threadpool_limits

    from bench.scale_data import scale_items
    from content_catalog.audience.tagger import AudienceTagger
    from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
    from content_catalog.encoders.use_multilingual import UseMultilingualEncoder
    from content_catalog.vector_index import VectorIndex

    class PreviousTfidfSvd(TfidfSvdEncoder):
        """tfidf-svd as before this workstream: float64 SVD, and `encode` tokenises the fitted texts again."""

        def _fit_svd(self, matrix: Any) -> Any:
            return super()._fit_svd(_Float64Only(matrix))

        def encode(self, texts: Any, *, show_progress: bool = False) -> np.ndarray:
            self._fitted_rows = None
            return super().encode(texts, show_progress=show_progress)

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
    if not args.no_tagger:
        tagger = stage("tagging: AudienceTagger fit", n, lambda: AudienceTagger().fit(items))
        stage("tagging: AudienceTagger predict", n, lambda: tagger.predict(items))
    if args.previous:
        previous = PreviousTfidfSvd()
        stage("previous: tfidf-svd fit (float64 SVD)", n, lambda: previous.fit(texts))
        old_lexical = stage("previous: tfidf-svd encode (tokenises again)", n, lambda: previous.encode(texts))
    tfidf = TfidfSvdEncoder()
    stage("encoding: tfidf-svd fit", n, lambda: tfidf.fit(texts))
    lexical = stage("encoding: tfidf-svd encode", n, lambda: tfidf.encode(texts))
    if args.previous:
        cosine = np.sum(lexical * old_lexical, axis=1)[np.linalg.norm(lexical, axis=1) > 0]
        print(f"  tfidf-svd vectors vs previous: cosine min {cosine.min():.7f}", file=sys.stderr)
    sample = texts if args.use_sample <= 0 else texts[:: max(1, n // args.use_sample)][: args.use_sample]
    use = UseMultilingualEncoder(threads=1, processes=args.threads)
    use.encode(["预热"])  # load the weights outside the timer (a text outside the sample: it stays uncached)
    note = "" if len(sample) == n else f"on {len(sample)} texts; × {n / len(sample):.0f} for the catalog"
    neural = stage("encoding: USE multilingual encode", len(sample), lambda: use.encode(sample), note)
    dim = lexical.shape[1] + neural.shape[1]
    vectors = np.hstack([lexical, np.resize(neural, (n, neural.shape[1]))]).astype(np.float32)  # USE rows reused
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    index = VectorIndex(dim, hnsw_threshold=100_000)
    ids = [it.id for it in items]
    stage(f"indexing: VectorIndex.add ({'HNSW' if n >= 100_000 else 'exact'})", n, lambda: index.add(ids, vectors))
    total_cpu_ms = sum(r.per_item_ms for r in rows if not r.stage.startswith(("baseline", "previous")))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.json:
        memory = {"peak_rss_mb": round(peak_rss_mb()), "worker_rss_mb": round(worker_rss_mb())}
        print(json.dumps({"stages": [asdict(r) for r in rows], **memory}, indent=2))
        return rows
    print(f"\ncatalog build, {n:,} items, {args.threads} thread(s) (load average {load}; 2 cores)\n")
    print("| stage | items | seconds | CPU s | CPU ms / item | peak RSS MB | note |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r.stage} | {r.items:,} | {r.seconds} | {r.cpu_seconds} | {r.per_item_ms} | {r.peak_rss_mb:,.0f} "
            f"| {r.note} |"
        )
    baseline = rows[0].per_item_ms
    print(
        f"\nbuild CPU per item (tag + encode + index): {total_cpu_ms:.2f} ms → "
        f"{total_cpu_ms * n / 1000:,.0f} CPU s for {n:,} items ({total_cpu_ms / baseline:.0f}× the char TF-IDF "
        f"baseline); peak RSS {peak_rss_mb():,.0f} MB, largest USE worker {worker_rss_mb():,.0f} MB"
    )
    if args.previous:
        old = {r.stage.split(": ")[1].split(" (")[0]: r.per_item_ms for r in rows if r.stage.startswith("previous")}
        new = {r.stage.split(": ")[1]: r.per_item_ms for r in rows if r.stage.startswith("encoding: tfidf")}
        for part, ms in new.items():
            print(f"{part}: {old[part] / ms:.1f}× less CPU than the previous code in this run")
    return rows


class _Float64Only:
    """Wraps a sparse matrix so that `.astype(np.float32)` keeps float64: the previous SVD precision."""

    def __init__(self, matrix: Any) -> None:
        self.matrix = matrix
        self.shape = matrix.shape

    def astype(self, dtype: Any) -> Any:
        return self.matrix


if __name__ == "__main__":
    main()
