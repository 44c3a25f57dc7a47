"""Precomputed neighbour lists vs searching the index per request (issue 8 target 1, `/similar` and content
candidates), in process on a saved catalog index, one thread, alternating in one run.

    PYTHONPATH=$PWD .venv/bin/python bench/neighbour_lists.py <var>/index/tfidf-svd/<version>/index [--hnsw]

Rows: building the lists (one exact batch pass), a lookup of 100 neighbours (`/similar`'s pool) and of 50
with 20 exclusions (content candidates) vs `VectorIndex.search` with the item's vector (what the request
paid before), agreement of the two answers, and the cost of one added item (a catalog write). `--hnsw`
adds the approximate alternative: an HNSW index over the same vectors, its build time, per-query p50 and
recall@20 / @100 against exact search. The index folder is only read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from content_catalog.vector_index import VectorIndex  # noqa: E402


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="a saved VectorIndex folder (index.faiss + index.json)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--hnsw", action="store_true", help="also build HNSW and measure its recall")
    args = parser.parse_args(argv)
    index = VectorIndex.load(args.index)
    rng = np.random.default_rng(0)
    ids = index.ids
    print(f"neighbour lists: {len(ids):,} items, dim {index.dim}, 1 thread; load average {os.getloadavg()}")
    start = time.perf_counter()
    index.build_neighbours()
    build = time.perf_counter() - start
    table = index._neighbours
    assert table is not None
    size_mb = (table.keys.nbytes + table.scores.nbytes) / 2**20
    print(f"build: {build:.1f} s (width {table.width}, {size_mb:.0f} MB)")
    picks = [str(i) for i in rng.choice(ids, args.queries, replace=False)]
    rows = []
    for label, k, n_exclude in (("/similar pool: 100", 100, 0), ("content candidates: 50, 20 excluded", 50, 20)):
        listed, searched, same = [], [], 0
        for n, item in enumerate(picks):
            exclude = {str(i) for i in rng.choice(ids, n_exclude, replace=False)}
            vector = index.vector(item)[None, :]
            order = (0, 1) if n % 2 == 0 else (1, 0)
            for which in order:
                t = time.perf_counter()
                if which == 0:
                    got = index.neighbours(item, k, exclude)
                    listed.append(time.perf_counter() - t)
                else:
                    want = index.search(vector, k, exclude=exclude | {item})[0][0]
                    searched.append(time.perf_counter() - t)
            same += got is not None and got[0] == want
        rows.append((label, p50_ms(listed), p50_ms(searched), same / len(picks)))
    print("| lookup | lists p50 ms | exact search p50 ms (same run) | speed-up | identical answers |")
    print("| --- | --- | --- | --- | --- |")
    for label, a, b, agree in rows:
        print(f"| {label} | {a:.3f} | {b:.3f} | {b / a:.0f}× | {agree:.1%} |")
    writes = []
    for n in range(20):
        vector = index.vector(picks[n])[None, :] * 0.98
        t = time.perf_counter()
        index.add([f"bench-new-{n}"], vector)
        writes.append(time.perf_counter() - t)
    print(f"one added item (lists kept exact): p50 {p50_ms(writes):.1f} ms")
    if args.hnsw:
        hnsw_recall(index, picks)
    return 0


def hnsw_recall(exact: VectorIndex, picks: list[str]) -> None:
    """HNSW over the same vectors (the index's own parameters): build, p50, recall@20/@100 vs exact."""
    keys, vectors, live = exact._live_matrix()
    ids = [exact._id_of[int(k)] for k in keys[live]]
    hnsw = VectorIndex(exact.dim, hnsw_threshold=1)
    start = time.perf_counter()
    hnsw.add(ids, np.array(vectors[live]))
    build = time.perf_counter() - start
    for k in (20, 100):
        found, truth, hnsw_s, exact_s = [], [], [], []
        for item in picks:
            vector = exact.vector(item)[None, :]
            t = time.perf_counter()
            truth.append(set(exact.search(vector, k)[0][0]))
            exact_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            found.append(set(hnsw.search(vector, k)[0][0]))
            hnsw_s.append(time.perf_counter() - t)
        recall = float(np.mean([len(a & b) / k for a, b in zip(found, truth, strict=True)]))
        print(
            f"HNSW (M={hnsw.hnsw_m}, efC={hnsw.ef_construction}, efSearch={hnsw.ef_search}; build {build:.0f} s): "
            f"k={k} recall {recall:.3f}, p50 {p50_ms(hnsw_s):.3f} ms vs exact {p50_ms(exact_s):.3f} ms"
        )


if __name__ == "__main__":
    raise SystemExit(main())
