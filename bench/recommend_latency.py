"""Benchmark: `RecommendationService.recommend` in process at 100k items vs a bare numpy top-20, same run.

    .venv/bin/python bench/recommend_latency.py [--data-dir /work/shared/data] [--cache-dir DIR]
        [--items 100000] [--requests 400] [--quick] [--json]

Contender: `recommend(k=20)` with every filter, the blend, freshness, MMR, editor rules, reasons and the
paging snapshot, on a SQLite store, for a rotation of requesters (trained users, audience + anonymous
session, and cursor pages of earlier feeds). Baseline: the bare numpy floor on THE SAME vectors the
service scores with: `U[u] @ I.T` (the service's catalog item matrix, float32) + `argpartition` top-20.
The two are called alternately, one request each, so machine noise hits both alike; the table gives
p50/p99 of each and the ratio of the medians, wall clock and the calling thread's CPU (`thread_time`: what
a loaded shared machine distorts least; it leaves out the snapshot writer thread, which works off the
request path).

Data (built once, cached in `--cache-dir`, default a temporary folder): `bench/scale_data.py` items from
real CSL text (SYNTHETIC metadata), SYNTHETIC users and events, a cheap encoder
(`TfidfSvdEncoder(smoothing_neighbours=0)`: the encoder is not what is measured), the exact vector index,
and a LightFM bundle trained for a few epochs (its quality is irrelevant here, its shapes are not).
Every BLAS/OpenMP pool and faiss use one thread.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy / faiss load their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale_data import scale_events, scale_items, scale_users  # noqa: E402
from content_catalog.encoders.evaluation import resolve_csl_dir  # noqa: E402
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder  # noqa: E402
from content_catalog.store import Store  # noqa: E402
from content_catalog.vector_index import VectorIndex  # noqa: E402
from recommender.registry import Bundle, load_bundle  # noqa: E402
from recommender.service import RecommendationRequest, RecommendationService  # noqa: E402
from recommender.train import TrainParams, train_bundle  # noqa: E402

AUDIENCES = ("public", "youth", "farmers", "workers", "seniors", "officials")


def build(data_dir: Path, folder: Path, n_items: int, n_users: int, n_events: int) -> tuple[Store, Bundle, Any]:
    """Store, bundle and (encoder, index) for `n_items`, built once under `folder` and reused after."""
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{folder / 'kepu.db'}")
    done = folder / "built.json"
    if not done.exists():
        started = time.perf_counter()
        items = scale_items(data_dir, n_items)
        store.upsert_items(items)
        users = scale_users(n_users)
        for batch in users.batches():
            for user in batch:
                store.upsert_user(user)
        for batch in scale_events(items, users, n_events).batches():
            store.add_events(batch)
        texts = [it.text for it in items]
        encoder = TfidfSvdEncoder(dim=64, smoothing_neighbours=0).fit(texts[:20_000])
        index = VectorIndex(encoder.dim)
        index.add([it.id for it in items], encoder.encode(texts))
        encoder.save(folder / "encoder")
        index.save(folder / "index")
        params = TrainParams(epochs=3, no_components=32, max_validation_users=20)
        bundle = train_bundle(store, encoder, folder / "models", seed=0, params=params, model="lightfm")
        done.write_text(json.dumps({"bundle": str(bundle.path), "seconds": time.perf_counter() - started}))
    info = json.loads(done.read_text())
    encoder = TfidfSvdEncoder.load(folder / "encoder")
    index = VectorIndex.load(folder / "index")
    return store, load_bundle(info["bundle"]), (encoder, index)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep the built data here between runs")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="150 requests")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 150
    if resolve_csl_dir(args.data_dir) is None:
        parser.error(f"CSL not found under {args.data_dir} (pass --data-dir or set KEPU_DATA_DIR)")
    temp = None
    if args.cache_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="kepu-recommend-latency-")
        args.cache_dir = Path(temp.name)
    folder = args.cache_dir / f"items{args.items}-users{args.users}-events{args.events}"
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        store, bundle, (encoder, index) = build(args.data_dir, folder, args.items, args.users, args.events)
        rows = measure(store, bundle, encoder, index, args)
    store.close()
    report(rows, args)
    if temp is not None:
        temp.cleanup()
    return 0


def measure(store: Store, bundle: Bundle, encoder: Any, index: Any, args: argparse.Namespace) -> dict[str, Any]:
    service = RecommendationService(store, bundle, encoder, index)
    view, matrix, _ = service._catalog()  # the catalog view is built once per catalog version (not measured)
    assert matrix is not None
    users = bundle.user_map.to_list()[:200]  # trained users: history + trained vector
    user_vectors = np.stack([bundle.user_vector(u, []) for u in users]).astype(np.float32)
    item_matrix = np.ascontiguousarray(matrix, dtype=np.float32)

    cursors: list[tuple[RecommendationRequest, str]] = []

    def request(n: int) -> RecommendationRequest:
        kind = n % 3
        if kind == 2 and cursors:
            first, cursor = cursors.pop(0)
            return first.model_copy(update={"cursor": cursor})
        if kind == 1:
            return RecommendationRequest(audience=AUDIENCES[n % len(AUDIENCES)], session_id=f"bench-{n}", k=20)
        return RecommendationRequest(user_id=users[n % len(users)], k=20)

    def contender(n: int) -> None:
        wanted = request(n)
        page = service.recommend(wanted)
        assert len(page.items) == 20, len(page.items)
        if page.next_cursor and wanted.cursor is None:
            cursors.append((wanted, page.next_cursor))

    def baseline(n: int) -> None:
        scores = item_matrix @ user_vectors[n % len(users)]
        top = np.argpartition(-scores, 19)[:20]
        top[np.argsort(-scores[top])]

    for n in range(30):  # warm-up: caches, first snapshot writes, BLAS
        contender(n)
        baseline(n)
    timings: dict[str, list[float]] = {"recommend": [], "numpy": [], "recommend_cpu": [], "numpy_cpu": []}
    calls: list[tuple[str, Callable[[int], None]]] = [("recommend", contender), ("numpy", baseline)]
    for n in range(args.requests):
        for name, call in calls if n % 2 == 0 else calls[::-1]:
            started, cpu = time.perf_counter(), time.thread_time()
            call(n)
            timings[f"{name}_cpu"].append((time.thread_time() - cpu) * 1e3)  # this thread's CPU: robust under load
            timings[name].append((time.perf_counter() - started) * 1e3)
    flush = getattr(service.snapshots, "flush", None)
    if callable(flush):
        flush()
    out: dict[str, Any] = {"items": view.size, "dim": int(item_matrix.shape[1]), "requests": args.requests}
    for name, values in timings.items():
        out[name] = {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}
    out["ratio_p50"] = out["recommend"]["p50_ms"] / out["numpy"]["p50_ms"]
    out["ratio_cpu_p50"] = out["recommend_cpu"]["p50_ms"] / out["numpy_cpu"]["p50_ms"]
    out["head_found_by"] = dict(sorted(getattr(service, "pool_rounds", {}).items()))  # candidate pool vs full pass
    return out


def report(rows: dict[str, Any], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    rows["load_avg"] = load
    if args.json:
        print(json.dumps(rows))
        return
    print(
        f"{rows['items']:,} items (dim {rows['dim']}), {rows['requests']} requests each, alternating, 1 thread; "
        f"load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("| path | p50 ms | p99 ms |")
    print("| --- | --- | --- |")
    print(
        f"| recommend k=20 (filters, blend, MMR, rules, reasons, snapshot) | "
        f"{rows['recommend']['p50_ms']:.2f} | {rows['recommend']['p99_ms']:.2f} |"
    )
    print(
        f"| numpy `I @ u` + argpartition top-20 (same vectors) | "
        f"{rows['numpy']['p50_ms']:.2f} | {rows['numpy']['p99_ms']:.2f} |"
    )
    print(f"| ratio of medians | {rows['ratio_p50']:.2f}x | |")
    print(
        f"| request thread's CPU (thread_time): recommend / numpy | {rows['recommend_cpu']['p50_ms']:.2f} / "
        f"{rows['numpy_cpu']['p50_ms']:.2f} = {rows['ratio_cpu_p50']:.2f}x | "
        f"{rows['recommend_cpu']['p99_ms']:.2f} / {rows['numpy_cpu']['p99_ms']:.2f} |"
    )
    if rows.get("head_found_by"):
        print("rankings by how the blend's head was found:", rows["head_found_by"])


if __name__ == "__main__":
    raise SystemExit(main())
