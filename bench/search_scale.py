"""Search at catalog scale (issue 8): build (once, cached) and time `CatalogSearch` over N synthetic items.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_scale.py --scale 100000 [--build-only]

The catalog comes from `bench/scale_data.py` (real CSL text recombined; SYNTHETIC metadata). The default
encoder is fitted on all N texts and every item is embedded for real; the artefacts (encoder, vectors in
chunks, faiss index) are cached under `--cache-dir` (default /work/cache/search/scale-N) so a re-run only
times queries. Building is resumable: vectors are written per chunk of `CHUNK` items.

Timed in process, one thread, per query (the judged demo queries, new then repeated):
- the full `CatalogSearch.search` (what `/v1/search` calls),
- its parts: query encode, BM25 scores, faiss search of the query vector;
- baseline in the same run, alternately: a bare faiss search of a precomputed query vector (the floor any
  dense search pays).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import scale_items  # noqa: E402

from content_catalog.encoders import load_encoder, make_encoder  # noqa: E402
from content_catalog.encoders.base import TextEncoder  # noqa: E402
from content_catalog.vector_index import VectorIndex  # noqa: E402
from recommender.candidates import CatalogView  # noqa: E402
from recommender.evaluation.search_judgments import load_queries  # noqa: E402
from recommender.search import CatalogSearch  # noqa: E402

CHUNK = 4096
DEFAULT_CACHE = Path("/work/cache/search")


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def stand_in_vectors(n: int, dim: int, clusters: int = 500, seed: int = 0) -> np.ndarray:
    """SYNTHETIC unit vectors in `clusters` seeded clusters (like topics), for the faiss index only.

    Why: embedding 100k texts with the default encoder takes tens of minutes on the shared 2-core machine
    (issue 8's catalog-build target); the per-query cost of an HNSW search depends on the size, the dimension
    and the clustering of the vectors, not on which text each came from."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(clusters, size=n)] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build_or_load(
    data_dir: Path, n: int, cache: Path, hnsw_threshold: int, real_vectors: bool = False, log: bool = True
) -> tuple[list, TextEncoder, VectorIndex, dict[str, float]]:
    """(items, fitted default encoder, vector index of every item, build seconds per stage)."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    items = scale_items(data_dir, n)
    timings["items"] = time.perf_counter() - start
    texts = [it.text for it in items]
    cache.mkdir(parents=True, exist_ok=True)
    encoder_dir = cache / "encoder"
    start = time.perf_counter()
    if (encoder_dir / "encoder.json").is_file():
        encoder = load_encoder(encoder_dir)
    else:
        encoder = make_encoder("hybrid").fit(texts)
        encoder.save(encoder_dir)
    timings["encoder fit/load"] = time.perf_counter() - start
    index_dir = cache / ("index" if real_vectors else "index-stand-in")
    start = time.perf_counter()
    if (index_dir / "index.json").is_file():
        index = VectorIndex.load(index_dir)
        timings["index load"] = time.perf_counter() - start
        return items, encoder, index, timings
    if not real_vectors:
        vectors = stand_in_vectors(n, encoder.dim)
        return items, encoder, _indexed(items, vectors, encoder.dim, hnsw_threshold, index_dir, timings), timings
    chunks = cache / "vectors"
    chunks.mkdir(exist_ok=True)
    for begin in range(0, n, CHUNK):
        path = chunks / f"{begin:07d}.npy"
        if not path.is_file():
            t = time.perf_counter()
            np.save(path, encoder.encode(texts[begin : begin + CHUNK]))
            if log:
                print(f"encoded {begin + CHUNK:>7}/{n} in {time.perf_counter() - t:.1f} s", flush=True)
    vectors = np.vstack([np.load(chunks / f"{b:07d}.npy") for b in range(0, n, CHUNK)])
    timings["encode"] = time.perf_counter() - start
    return items, encoder, _indexed(items, vectors, encoder.dim, hnsw_threshold, index_dir, timings), timings


def _indexed(
    items: list, vectors: np.ndarray, dim: int, hnsw_threshold: int, folder: Path, timings: dict[str, float]
) -> VectorIndex:
    start = time.perf_counter()
    index = VectorIndex(dim, hnsw_threshold=hnsw_threshold)
    index.add([it.id for it in items], vectors)
    index.save(folder)
    timings["index build"] = time.perf_counter() - start
    return index


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "/work/shared/data")))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--hnsw-threshold", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--real-vectors", action="store_true", help="embed every item with the encoder (slow) instead of stand-ins"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cache = args.cache_dir or DEFAULT_CACHE / f"scale-{args.scale}"
    items, encoder, index, timings = build_or_load(
        args.data_dir, args.scale, cache, args.hnsw_threshold, args.real_vectors
    )
    if args.build_only:
        print(json.dumps(timings))
        return 0
    start = time.perf_counter()
    bm25_path = cache / "bm25.pickle"
    lexical = pickle.loads(bm25_path.read_bytes()) if bm25_path.is_file() else None
    search = CatalogSearch(CatalogView.build(items), encoder, index, lexical=lexical)
    if lexical is None:
        bm25_path.write_bytes(pickle.dumps(search.lexical, protocol=pickle.HIGHEST_PROTOCOL))
    timings["search build (view + BM25 built or loaded)"] = time.perf_counter() - start
    gc.collect()
    queries = [q.text for q in load_queries()]
    search.search("预热")
    probe = np.asarray(encoder.encode(["水稻病虫害"]), dtype=np.float32)
    rows: dict[str, list[float]] = {"faiss search, precomputed vector (baseline)": []}
    first = [timed(search.search, q) for q in queries]
    for _ in range(args.rounds):
        for q in queries:  # baseline and contender alternately
            rows["faiss search, precomputed vector (baseline)"].append(timed(index.search, probe, 200))
            rows.setdefault("CatalogSearch.search, repeated query", []).append(timed(search.search, q))
            rows.setdefault("  part: query encode (cached)", []).append(timed(encoder.encode, [q]))
            rows.setdefault("  part: BM25 scores", []).append(timed(search.lexical.scores, q))
    rows["CatalogSearch.search, new query"] = first
    load = os.getloadavg()
    print(
        f"in process, 1 thread, {len(items)} items ({'HNSW' if index.is_hnsw else 'exact'} faiss), "
        f"{'real' if args.real_vectors else 'SYNTHETIC stand-in'} item vectors, "
        f"{len(queries)} queries, load average {load[0]:.1f}, RSS {rss_mb():.0f} MB"
    )
    print("build s: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    base = statistics.median(rows["faiss search, precomputed vector (baseline)"])
    print("| timed | n | p50 ms | p95 ms | p50 ratio |\n| --- | --- | --- | --- | --- |")
    out = {}
    for name, values in rows.items():
        p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
        out[name] = {"n": len(values), "p50_ms": 1000 * p50, "p95_ms": 1000 * p95}
        print(f"| {name} | {len(values)} | {1000 * p50:.2f} | {1000 * p95:.2f} | {p50 / base:.1f}× |")
    if args.json:
        print(json.dumps({"items": len(items), "timings_s": timings, "rows": out, "load": load[0]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
