"""HNSW at catalog scale (issue 8 target 2): recall@20 and latency of the served `VectorIndex` at 1M items.

    PYTHONPATH=$PWD .venv/bin/python bench/hnsw_scale.py [--items 1000000] [--queries 1000] \
        [--ef-search 32,64,128,256] [--threads 1] [--encode-workers 1] [--build-only] [--json]

Vectors are REAL: the texts of `bench/scale_data.py::scale_items` (real CSL text recombined) embedded exactly as
the catalog index embeds an item (`Item.text`) by the SAME fitted tfidf-svd encoder the 100k-item world serves
(`--encoder`, read-only). Encoding costs ~3.5 ms of one core per text (1M ≈ 1 h), so vectors are cached per
chunk of `CHUNK` items under `--cache-dir` and a run resumes where the last one stopped (`--encode-workers 2`
halves the wall time on an idle machine). Chunks the served 100k index already holds are copied from it (after
checking a sample re-encodes to the same vectors).

The index is built as the service builds it: `VectorIndex(dim, hnsw_threshold=<settings default>)` fed through
its public `add` in batches, so it starts exact and switches itself to HNSW (`IndexHNSWFlat`, M=32,
efConstruction=200) when it crosses the threshold; it is saved under `--cache-dir` and loaded by later runs.

Queries: (a) `--queries` held-out items (the next items of `scale_items`, not in the index), (b) the judged demo
search queries (`bench/judged/search_queries.tsv`) through `encoder.encode_query`. Per query, alternately (the
order rotates): `VectorIndex.search(k=20)` as the service calls it, the raw faiss HNSW search underneath (the
saved `index.faiss` read with faiss, `SearchParametersHNSW`), and the baseline, an exact `IndexFlatIP` over the
same vectors, whose top-20 is also the ground truth of recall@20.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from content_catalog.settings import Settings  # noqa: E402
from content_catalog.vector_index import INDEX_FILE, VectorIndex  # noqa: E402

# The text side (scale_data, encoders: scikit-learn, jieba) is imported where used, so the index parts load
# in a fraction of a second (tests/test_bench_hnsw_scale.py).

CHUNK = 10_000
"""Items per cached vector file (~35 s of encoding); chunk b always holds items [b, b + CHUNK)."""
ADD_BATCH = 10_000
K = 20
DEFAULT_ENCODER = Path("/work/cache/replicas/items100000-users1000000-events10000000/index/tfidf-svd")
DEFAULT_CACHE = Path("/work/cache/hnsw")
SAMPLE_CHECK = 32


def item_id(position: int) -> str:
    """The id `scale_items` gives the item at `position`."""
    return f"scale-{position:06d}"


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resolve_encoder(path: Path) -> Path:
    """The encoder folder: `path` itself, `path/encoder`, or the newest `path/<version>/encoder`."""
    for candidate in (path, path / "encoder"):
        if (candidate / "encoder.json").is_file():
            return candidate
    versions = sorted(path.glob("*/encoder/encoder.json"), key=lambda p: p.stat().st_mtime)
    if versions:
        return versions[-1].parent
    raise SystemExit(
        f"--encoder {path}: no fitted encoder (encoder.json) there, in {path}/encoder or in {path}/<version>/encoder;"
        " build the 100k world first (bench/scale_world.py) or pass the encoder folder of a saved catalog index"
    )


def _encode_chunk(encoder_dir: str, texts: list[str]) -> np.ndarray:
    """Worker: one chunk's vectors (the encoder is loaded once per worker process and kept)."""
    global _WORKER_ENCODER
    from content_catalog.encoders import load_encoder

    if _WORKER_ENCODER is None or _WORKER_ENCODER[0] != encoder_dir:
        _WORKER_ENCODER = (encoder_dir, load_encoder(encoder_dir))
    return _WORKER_ENCODER[1].encode(texts)


_WORKER_ENCODER = None


def served_chunks(encoder_dir: Path, encoder, texts: list[str], begins: list[int]) -> dict[int, np.ndarray]:
    """Chunks the served index next to the encoder (`<version>/index`) holds in full, verified on a sample."""
    folder = encoder_dir.parent / "index"
    if not (folder / "index.json").is_file():
        return {}
    served = VectorIndex.load(folder)
    out: dict[int, np.ndarray] = {}
    for begin in begins:
        ids = [item_id(i) for i in range(begin, begin + CHUNK)]
        if all(i in served for i in ids):
            out[begin] = np.vstack([served.vector(i) for i in ids])
    if out:
        sample = np.random.default_rng(0).choice(sorted(out), size=min(4, len(out)), replace=False)
        for begin in sample.tolist():
            rows = range(begin, begin + SAMPLE_CHECK)
            fresh = encoder.encode([texts[i] for i in rows])
            if not np.allclose(fresh, out[begin][:SAMPLE_CHECK], atol=1e-5):
                print(f"served vectors of {folder} differ from a re-encode: encoding everything", flush=True)
                return {}
    return out


def ensure_vectors(data_dir: Path, encoder_dir: Path, chunks: Path, end: int, workers: int) -> np.ndarray:
    """Vectors of items [0, end) (rounded up to whole chunks), encoding and caching the missing chunks."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scale_data import scale_items

    from content_catalog.encoders import load_encoder

    chunks.mkdir(parents=True, exist_ok=True)
    begins = list(range(0, end, CHUNK))
    missing = [b for b in begins if not (chunks / f"{b:07d}.npy").is_file()]
    if missing:
        start = time.perf_counter()
        texts = [it.text for it in scale_items(data_dir, begins[-1] + CHUNK)]  # what the catalog index embeds
        print(f"texts of {len(texts):,} items in {time.perf_counter() - start:.0f} s", flush=True)
        encoder = load_encoder(encoder_dir)
        for begin, vectors in served_chunks(encoder_dir, encoder, texts, missing).items():
            _save_chunk(chunks, begin, vectors)
            print(f"chunk {begin:,}: copied from the served index", flush=True)
        missing = [b for b in missing if not (chunks / f"{b:07d}.npy").is_file()]
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            jobs = [(b, pool.submit(_encode_chunk, str(encoder_dir), texts[b : b + CHUNK])) for b in missing]
            for done, (begin, job) in enumerate(jobs, start=1):
                _save_chunk(chunks, begin, job.result())
                per_text = (time.perf_counter() - start) / (done * CHUNK) * 1000 * workers
                print(f"chunk {begin:,} encoded ({done}/{len(jobs)}, {per_text:.2f} ms/text/worker)", flush=True)
        del texts
    return np.vstack([np.load(chunks / f"{b:07d}.npy") for b in begins])


def _save_chunk(chunks: Path, begin: int, vectors: np.ndarray) -> None:
    """Write atomically, so an interrupted run never leaves a short chunk behind."""
    if vectors.shape[0] != CHUNK:
        raise ValueError(f"chunk {begin}: {vectors.shape[0]} vectors, expected {CHUNK}")
    partial = chunks / f"{begin:07d}.partial.npy"
    np.save(partial, np.ascontiguousarray(vectors, dtype=np.float32))
    os.replace(partial, chunks / f"{begin:07d}.npy")


def build_or_load(
    vectors: np.ndarray, folder: Path, threshold: int, probes: np.ndarray, every: int
) -> tuple[VectorIndex, dict]:
    """The served index over `vectors` (ids `scale-…` in order): loaded if saved, else built through `add`.

    While building, every `every` items (once HNSW) the recall@K of the served search for `probes` (held-out
    vectors) is measured against exact search over the items added so far: recall against catalog size from
    one build, to see the trend beyond the largest size measured. Checkpoint time is not build time."""
    if (folder / "index.json").is_file():
        start = time.perf_counter()
        index = VectorIndex.load(folder)
        if len(index) != vectors.shape[0]:
            raise SystemExit(f"{folder}: holds {len(index)} items, expected {vectors.shape[0]}; delete it")
        return index, {"load_s": time.perf_counter() - start}
    rss_before = rss_mb()
    checkpoint_s, curve = 0.0, []
    start, cpu = time.perf_counter(), time.process_time()
    index = VectorIndex(vectors.shape[1], hnsw_threshold=threshold)
    for begin in range(0, vectors.shape[0], ADD_BATCH):
        stop = min(begin + ADD_BATCH, vectors.shape[0])
        index.add([item_id(i) for i in range(begin, stop)], vectors[begin:stop])
        if index.is_hnsw and (stop % every == 0 or stop == vectors.shape[0]):
            paused = time.perf_counter()
            curve.append({"items": stop, "recall_mean": prefix_recall(index, vectors[:stop], probes)})
            checkpoint_s += time.perf_counter() - paused
            elapsed = time.perf_counter() - start - checkpoint_s
            print(f"added {stop:,} (HNSW) {elapsed:.0f} s, recall@{K} {curve[-1]['recall_mean']:.4f}", flush=True)
    stats = {
        "build_wall_s": time.perf_counter() - start - checkpoint_s,
        "build_cpu_s": time.process_time() - cpu - checkpoint_s,  # checkpoints run on this thread: ~CPU too
        "rss_before_build_mb": rss_before,
        "rss_after_build_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "ef_search": index.ef_search,
        "recall_by_size": curve,
    }
    start = time.perf_counter()
    index.save(folder)
    stats["save_s"] = time.perf_counter() - start
    (folder / "build.json").write_text(json.dumps(stats), encoding="utf-8")
    return index, stats


def prefix_recall(index: VectorIndex, vectors: np.ndarray, probes: np.ndarray) -> float:
    """Mean recall@K of the served search against exact search over `vectors` (all the index holds)."""
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth, found = exact.search(probes, K)[1], index.search(probes, K)[0]
    return float(np.mean([recall(t, [position(i) for i in f]) for t, f in zip(truth, found, strict=True)]))


def position(item: str) -> int:
    """The `scale_items` position of an id (= its faiss key here: items are added in order)."""
    return int(item.rsplit("-", 1)[1])


def recall(truth: np.ndarray, found: list[int]) -> float:
    """Share of the exact top-K (positions; -1 pads a short answer) that the approximate search found."""
    wanted = {int(x) for x in truth if x >= 0}
    return len(wanted.intersection(found)) / max(len(wanted), 1)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(index: VectorIndex, raw, exact, queries: np.ndarray, ef: int, fetch: int = K) -> dict[str, float]:
    """Time the three searches per query, alternately (rotating which goes first); recall@K against exact.

    `fetch` is how many results each search asks for: K for item neighbours, `SearchParams.dense_pool` for
    the dense pool of `/search` (faiss then searches with efSearch = max(ef, fetch), as `VectorIndex` does);
    recall@K is that of the first K, and the pool's own recall@fetch is reported beside it."""
    index.ef_search = ef  # the served setting (`VectorIndex(ef_search=…)`), read per search
    params = faiss.SearchParametersHNSW()
    params.efSearch = max(ef, fetch)  # what `VectorIndex` passes for k=fetch without tombstones or exclusions
    runs: dict[str, Callable[[np.ndarray], object]] = {
        "vi": lambda q: index.search(q, fetch)[0][0],
        "raw": lambda q: raw.search(q, fetch, params=params)[1][0],
        "exact": lambda q: exact.search(q, fetch)[1][0],
    }
    order = list(runs)
    for q in queries[:20]:  # warm-up
        for name in order:
            runs[name](q[None, :])
    times: dict[str, list[float]] = {name: [] for name in order}
    recall_vi, recall_raw, recall_pool = [], [], []
    for row, q in enumerate(queries):
        found = {}
        for name in order[row % 3 :] + order[: row % 3]:
            seconds, found[name] = timed(lambda name=name, q=q: runs[name](q[None, :]))
            times[name].append(seconds)
        served = [position(i) for i in found["vi"]]
        recall_vi.append(recall(found["exact"][:K], served[:K]))
        recall_raw.append(recall(found["exact"][:K], found["raw"][:K].tolist()))
        recall_pool.append(recall(found["exact"], served))
    out = {"ef": ef, "n": len(queries), "fetch": fetch}
    for name, values in times.items():
        out[f"{name}_p50_ms"] = 1000 * statistics.median(values)
        out[f"{name}_p99_ms"] = 1000 * float(np.percentile(values, 99))
    out["ratio_p50"] = out["vi_p50_ms"] / out["exact_p50_ms"]
    out["recall_mean"], out["recall_p5"] = float(np.mean(recall_vi)), float(np.percentile(recall_vi, 5))
    out["raw_recall_mean"] = float(np.mean(recall_raw))
    out["pool_recall_mean"] = float(np.mean(recall_pool))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000, help="held-out items used as queries")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--encoder", type=Path, default=DEFAULT_ENCODER, help="fitted tfidf-svd (read-only)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "/work/shared/data")))
    parser.add_argument("--ef-search", default="128", help="comma list; 128 = the served default")
    parser.add_argument("--threads", type=int, default=1, help="faiss threads (build and search)")
    parser.add_argument("--encode-workers", type=int, default=1, help="processes encoding missing chunks")
    parser.add_argument("--hnsw-threshold", type=int, default=None, help="default: the settings default (served)")
    parser.add_argument("--curve-every", type=int, default=50_000, help="recall checkpoint spacing while building")
    parser.add_argument(
        "--search-fetch",
        type=int,
        default=None,
        help="results the judged queries also ask for (default: /search's dense pool, SearchParams; 0 = skip)",
    )
    parser.add_argument("--build-only", action="store_true", help="encode and build/save the index, time nothing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    ef_values = [int(v) for v in args.ef_search.split(",") if v.strip()]
    if args.items < 1 or args.queries < 1 or not ef_values or min(ef_values) < 1:
        parser.error("--items, --queries and every --ef-search value must be positive")
    faiss.omp_set_num_threads(args.threads)
    encoder_dir = resolve_encoder(args.encoder)
    version = f"{encoder_dir.parent.parent.name}-{encoder_dir.parent.name}"
    print(f"encoder {encoder_dir}", flush=True)

    all_vectors = ensure_vectors(
        args.data_dir,
        encoder_dir,
        args.cache_dir / f"vectors-{version}",
        args.items + args.queries,
        args.encode_workers,
    )
    vectors = np.ascontiguousarray(all_vectors[: args.items])
    held_out = np.ascontiguousarray(all_vectors[args.items : args.items + args.queries])
    del all_vectors
    threshold = args.hnsw_threshold or Settings.model_fields["hnsw_threshold"].default
    folder = args.cache_dir / f"index-{version}-n{args.items}-t{threshold}"
    index, build = build_or_load(vectors, folder, threshold, held_out, args.curve_every)
    if not (folder / "build.json").is_file():
        raise SystemExit(f"{folder}: no build.json (an older cache?); delete the folder to rebuild")
    build_stats = json.loads((folder / "build.json").read_text(encoding="utf-8"))
    if args.build_only:
        print(json.dumps(build_stats | build))
        return 0

    raw = faiss.read_index(str(folder / INDEX_FILE))  # the same graph, searched with faiss directly
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    from content_catalog.encoders import load_encoder
    from recommender.evaluation.search_judgments import load_queries
    from recommender.search import SearchParams

    search_fetch = SearchParams().dense_pool if args.search_fetch is None else args.search_fetch

    encoder = load_encoder(encoder_dir)
    judged = np.ascontiguousarray(encoder.encode_query([q.text for q in load_queries()]), dtype=np.float32)
    judged = judged[np.linalg.norm(judged, axis=1) > 0]  # a query with no known term has no vector to search

    rows = []
    for ef in ef_values:
        rows.append({"queries": "held-out items"} | measure(index, raw, exact, held_out, ef))
        rows.append({"queries": "judged demo queries"} | measure(index, raw, exact, judged, ef))
        if search_fetch > K:
            label = f"judged demo queries, k={search_fetch} as /search"
            rows.append({"queries": label} | measure(index, raw, exact, judged, ef, search_fetch))
    load = os.getloadavg()
    print(
        f"\n{len(index):,} items ({'HNSW' if index.is_hnsw else 'exact'}, M={index.hnsw_m}, efConstruction="
        f"{index.ef_construction}), dim {index.dim}, k={K}, {args.threads} thread(s), load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, RSS {rss_mb():,.0f} MB (peak {peak_rss_mb():,.0f} MB)"
    )
    print(
        f"build: {build_stats['build_wall_s']:.0f} s wall, {build_stats['build_cpu_s']:.0f} s CPU, RSS "
        f"{build_stats['rss_before_build_mb']:,.0f} → {build_stats['rss_after_build_mb']:,.0f} MB (peak "
        f"{build_stats['peak_rss_mb']:,.0f} MB)"
        + (f"; this run loaded it in {build['load_s']:.1f} s" if "load_s" in build else "")
    )
    print(
        "| queries | efSearch | n | VectorIndex.search p50 / p99 ms | raw faiss HNSW p50 / p99 ms "
        "| exact flat p50 / p99 ms | p50 ratio | recall@20 mean / p5 | recall@k of all k |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['queries']} | {r['ef']} | {r['n']} | {r['vi_p50_ms']:.2f} / {r['vi_p99_ms']:.2f} "
            f"| {r['raw_p50_ms']:.2f} / {r['raw_p99_ms']:.2f} | {r['exact_p50_ms']:.2f} / {r['exact_p99_ms']:.2f} "
            f"| {r['ratio_p50']:.3f}× | {r['recall_mean']:.3f} / {r['recall_p5']:.3f} "
            f"| {r['pool_recall_mean']:.3f} |"
        )
    if args.json:
        print(json.dumps({"items": len(index), "load": load, "build": build_stats, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
