"""Benchmark (issue 8, targets 3, 8, 9): catalog changes, index rebuilds, start-up and /similar.

    PYTHONPATH=$PWD .venv/bin/python bench/catalog_data.py --items 100000      # once: cached store + index + model
    PYTHONPATH=$PWD .venv/bin/python bench/catalog_changes.py --items 10000 100000 [--http] [--json]

(a) `RecommendationService.recommend` p50/p99 in windows without and with one item write per second
    (written as the API's PUT does: store upsert, then the provider applies it on the writer's thread),
    alternating, and the ratio (target: p99 with writes ≤ 2× without).
(b) After the PUT of one item: applying it incrementally (this branch) vs rebuilding the whole catalog
    state (the old path, still the fallback for bulk changes), each followed by one recommendation.
(c) With --http: process start → /readyz 200 and the first recommendation after it (uvicorn, 1 worker);
    then 20 items PUT over HTTP, and the restart again (the old server re-saved the whole index first).
(d) `/similar`: in-process p50/p99 (stored vectors, no encoding); with --http, `wrk` req/s on 2 workers.

Data: SYNTHETIC items of real CSL text (`bench/scale_data.py`), a TF-IDF+SVD encoder without neighbour
smoothing (cheap to build: the encoder is not what is measured) and a small LightFM model, cached by
`bench/catalog_data.py`. Every run works on a copy of the cached store. Threads are pinned to 1.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from api.service_provider import BundleServiceProvider  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from bench.catalog_data import ENCODER_DIM, ENCODER_SPEC, var_dir  # noqa: E402
from bench.http_scale import lua_script, wrk  # noqa: E402
from bench.serve_support import LOAD_TEST_SETTINGS  # noqa: E402
from content_catalog.schema import Item  # noqa: E402
from content_catalog.store import Store  # noqa: E402
from recommender.service import RecommendationRequest, RecommendationService  # noqa: E402

faiss.omp_set_num_threads(1)
AUDIENCES = ("public", "farmers", "seniors", "youth", "workers", "officials")
KEY = "bench-admin"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


def settings_for(work: Path) -> ApiSettings:
    return ApiSettings(
        var_dir=work / "var",
        store_url=f"sqlite:///{(work / 'kepu.db').as_posix()}",
        encoder=ENCODER_SPEC,
        encoder_dim=ENCODER_DIM,
        api_keys={KEY: "admin"},
        retention_interval_seconds=0,
        model_sync_seconds=3_600,
    )


def copy_store(cache: Path, n: int, work: Path) -> None:
    source = var_dir(cache, n)
    if not (source.parent / "DONE").is_file():
        sys.exit(f"{source}: not built; run bench/catalog_data.py --items {n} first")
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "kepu.db", work / "kepu.db")


def new_item(n: int) -> Item:
    return Item.model_validate(
        {
            "id": f"bench-new-{n:06d}",
            "title": f"稻飞虱绿色防控技术要点（第{n}期）",
            "summary": "识别稻飞虱、稻纵卷叶螟，生物防治与合理用药",
            "topics": ["agri_tech"],
            "format": "article",
            "audiences": ["farmers"],
            "published_at": datetime.now(UTC) - timedelta(hours=1),
        }
    )


def requests(n_users: int = 3_000) -> list[RecommendationRequest]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(400):
        if i % 2:
            out.append(RecommendationRequest(user_id=f"u{int(rng.integers(n_users)):07d}", k=20, explain=True))
        else:
            out.append(RecommendationRequest(audience=AUDIENCES[i % len(AUDIENCES)], k=20, explain=True))
    return out


def timed_window(service: RecommendationService, reqs: list[RecommendationRequest], seconds: float) -> list[float]:
    out, i, end = [], 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        service.recommend(reqs[i % len(reqs)])
        out.append(time.perf_counter() - started)
        i += 1
    return out


def writes_vs_reads(provider: BundleServiceProvider, store: Store, seconds: float, rounds: int) -> dict[str, Any]:
    """(a): alternate windows without / with one write per second (writer thread, as the PUT handler)."""
    service = provider.current()
    reqs = requests()
    timed_window(service, reqs, 2.0)  # warm caches
    quiet: list[float] = []
    busy: list[float] = []
    applies: list[float] = []
    counter = [0]
    for _ in range(rounds):
        quiet += timed_window(service, reqs, seconds)
        stop = threading.Event()

        def writer(stop: threading.Event = stop) -> None:
            while not stop.is_set():
                counter[0] += 1
                item = new_item(counter[0])
                started = time.perf_counter()
                store.upsert_items([item], actor="bench")
                provider.items_changed(store.get_items([item.id]))
                applies.append(time.perf_counter() - started)
                stop.wait(1.0)

        thread = threading.Thread(target=writer)
        thread.start()
        busy += timed_window(service, reqs, seconds)
        stop.set()
        thread.join()
    return {
        "no_writes_p50_ms": pct(quiet, 50),
        "no_writes_p99_ms": pct(quiet, 99),
        "writes_p50_ms": pct(busy, 50),
        "writes_p99_ms": pct(busy, 99),
        "p99_ratio": pct(busy, 99) / pct(quiet, 99),
        "requests": len(quiet) + len(busy),
        "writes": len(applies),
        "write_apply_p50_ms": pct(applies, 50),
        "write_apply_max_ms": pct(applies, 100),
    }


def first_after_put(provider: BundleServiceProvider, store: Store, repeats: int) -> dict[str, Any]:
    """(b): one PUT then one recommendation; incremental apply vs whole-state rebuild, alternately."""
    service = provider.current()
    request = RecommendationRequest(audience="farmers", k=20)
    incremental, full, plain = [], [], []
    for r in range(repeats):
        for mode in ("incremental", "full"):
            item = new_item(900_000 + 2 * r + (mode == "full"))
            store.upsert_items([item], actor="bench")
            started = time.perf_counter()
            if mode == "incremental":
                provider.items_changed(store.get_items([item.id]))
            else:  # the old path: reload every item, re-hash every text, rebuild view and matrix
                with service._lock:
                    service._cat = service._refresh(None, store.catalog_version())
            service.recommend(request)
            (incremental if mode == "incremental" else full).append(time.perf_counter() - started)
        started = time.perf_counter()
        service.recommend(request)
        plain.append(time.perf_counter() - started)
    return {
        "incremental_ms": pct(incremental, 50),
        "full_rebuild_ms": pct(full, 50),
        "no_write_request_ms": pct(plain, 50),
        "speedup": pct(full, 50) / pct(incremental, 50),
    }


def version_cost(store: Store, calls: int = 300) -> dict[str, float]:
    """`catalog_version()` per call vs the old whole-table COUNT/MAX/SUM, alternately."""
    from sqlalchemy import func, select

    from content_catalog.store.models import ItemRow

    old_query = select(func.count(), func.max(ItemRow.updated_at), func.sum(ItemRow.row_version))
    new, old = [], []
    for _ in range(calls):
        started = time.perf_counter()
        store.catalog_version()
        new.append(time.perf_counter() - started)
        started = time.perf_counter()
        with store._read() as session:
            session.execute(old_query).one()
        old.append(time.perf_counter() - started)
    return {"catalog_version_ms": pct(new, 50), "old_version_query_ms": pct(old, 50)}


def similar_in_process(service: RecommendationService, n: int) -> dict[str, Any]:
    view, _, _ = service._catalog()
    rng = np.random.default_rng(2)
    ids = [view.items[int(r)].id for r in rng.integers(view.size, size=n)]
    for item_id in ids[:20]:
        service.similar(item_id)
    times = []
    for item_id in ids:
        started = time.perf_counter()
        service.similar(item_id)
        times.append(time.perf_counter() - started)
    encode = []
    for item_id in ids[:50]:
        started = time.perf_counter()
        service.encoder.encode([view.items[view.ids.get(item_id)].text])
        encode.append(time.perf_counter() - started)
    return {"similar_p50_ms": pct(times, 50), "similar_p99_ms": pct(times, 99), "encode_one_p50_ms": pct(encode, 50)}


# ------------------------------------------------------------------------------------------------ HTTP
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    """KEPU_* of the benchmark's servers: the cached catalog's encoder, an admin key, the load-test settings."""
    return {
        "KEPU_ENCODER": ENCODER_SPEC,
        "KEPU_ENCODER_DIM": str(ENCODER_DIM),
        "KEPU_API_KEYS": json.dumps({KEY: "admin"}),
        **LOAD_TEST_SETTINGS,
    }


def start_server(work: Path, workers: int) -> tuple[subprocess.Popen, str, float]:
    """Start `kepu serve`; returns (process, base url, seconds from spawn to /readyz 200)."""
    port = free_port()
    settings = settings_for(work)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **server_env()}
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers)]
    command += ["--store-url", settings.resolved_store_url, "--var-dir", str(settings.var_dir)]
    log = open(work / f"server-{port}.log", "w")  # noqa: SIM115  # lives as long as the server
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < 600:
        if process.poll() is not None:
            sys.exit(f"server exited: see {log.name}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    sys.exit("server never became ready")


def stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(60)


def startup(work: Path) -> dict[str, Any]:
    """(c): start → ready → first request; 20 PUTs; restart → ready → first request."""
    out: dict[str, Any] = {}
    for phase in ("start", "restart_after_writes"):
        process, base, ready = start_server(work, 1)
        started = time.perf_counter()
        httpx.get(f"{base}/v1/recommendations", params={"audience": "farmers", "k": 20}, timeout=600)
        first = time.perf_counter() - started
        started = time.perf_counter()
        httpx.get(f"{base}/v1/recommendations", params={"audience": "seniors", "k": 20}, timeout=600)
        second = time.perf_counter() - started
        out[phase] = {"ready_s": ready, "first_request_ms": first * 1000, "second_request_ms": second * 1000}
        if phase == "start":
            for n in range(20):
                body = new_item(500_000 + n).model_dump(mode="json")
                httpx.put(f"{base}/v1/items/{body['id']}", json=body, headers={"X-API-Key": KEY}, timeout=600)
        stop_server(process)
    return out


def wrk_similar(work: Path, ids: list[str], seconds: int) -> dict[str, Any]:
    """(d) over HTTP: `wrk` on /similar, 2 workers, 8 connections, rotating item ids."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not installed"}
    process, base, _ = start_server(work, 2)
    try:
        paths = [f"/v1/items/{i}/similar?k=10" for i in ids]
        for path in paths[:50]:  # each worker's first requests warm nothing now, but keep the run fair
            httpx.get(f"{base}{path}", timeout=60)
        runs = {
            name: wrk(base, lua_script(rotation, work, name), name, seconds, connections=8, threads=2)
            for name, rotation in (("similar", paths), ("healthz", ["/healthz"]))
        }
    finally:
        stop_server(process)
    for run in runs.values():
        if run.errors:  # a rate of error answers is not a figure
            raise SystemExit(f"wrk {run.name}: {run.errors} non-2xx answers or socket errors; see {work}/server-*.log")
    similar, health = runs["similar"], runs["healthz"]
    return {
        "similar_req_s": similar.rps,
        "similar_p50_ms": similar.p50,
        "similar_p99_ms": similar.p99,
        "healthz_req_s": health.rps,
    }


# ------------------------------------------------------------------------------------------------ micro
def micro(n: int, data_dir: Path, repeats: int = 5) -> dict[str, Any]:
    """(e) No store, no model: the catalog view after one write (item by item vs whole build) and the
    100,001st item crossing the HNSW threshold (the `add` call with the rebuild behind vs inside it)."""
    from bench.scale_data import scale_items
    from content_catalog.vector_index import VectorIndex
    from recommender.candidates import CatalogView

    items = scale_items(data_dir, n)
    view = CatalogView.build(items)
    build, change = [], []
    for r in range(repeats):
        started = time.perf_counter()
        CatalogView.build([*items, new_item(r)])
        build.append(time.perf_counter() - started)
        started = time.perf_counter()
        view.with_changes([new_item(r)])
        change.append(time.perf_counter() - started)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n + 1, ENCODER_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out: dict[str, Any] = {"view_build_ms": pct(build, 50), "view_change_ms": pct(change, 50)}
    for behind in (True, False):
        index = VectorIndex(ENCODER_DIM, hnsw_threshold=n, ef_construction=100)
        index.add([f"i{k}" for k in range(n)], vectors[:n])
        index.background_rebuilds = behind
        started = time.perf_counter()
        index.add([f"i{n}"], vectors[n:])
        call = time.perf_counter() - started
        searches = []
        while index._rebuilder is not None:  # searches keep being served by the exact index meanwhile
            started = time.perf_counter()
            index.search(vectors[len(searches) % n][None, :], 10)
            searches.append(time.perf_counter() - started)
        index.wait_for_rebuild()
        key = "behind" if behind else "inline"
        out[f"hnsw_add_call_{key}_ms"] = call * 1000
        out[f"hnsw_is_hnsw_after_{key}"] = index.is_hnsw
        if behind:
            out["searches_during_rebuild"] = len(searches)
            out["search_during_rebuild_p99_ms"] = pct(searches, 99)
    return out


# ------------------------------------------------------------------------------------------------ main
def run(n: int, cache: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"kepu-catalog-{n}-") as tmp:
        work = Path(tmp)
        copy_store(cache, n, work)
        result: dict[str, Any] = {"items": n}
        store = Store(settings_for(work).resolved_store_url)
        started = time.perf_counter()
        provider = BundleServiceProvider(store, settings_for(work))
        provider.warm_up()
        result["in_process_warm_up_s"] = time.perf_counter() - started
        service = provider.current()
        result.update(version_cost(store))
        result["similar"] = similar_in_process(service, args.similar_requests)
        result["writes"] = writes_vs_reads(provider, store, args.window, args.rounds)
        result["first_after_put"] = first_after_put(provider, store, args.repeats)
        view, _, _ = service._catalog()
        similar_ids = [view.items[int(r)].id for r in np.random.default_rng(3).integers(view.size, size=200)]
        provider.close()
        store.close()
        if args.http:
            result["startup"] = startup(work)
            result["wrk"] = wrk_similar(work, similar_ids, args.wrk_seconds)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/catalog"))
    parser.add_argument("--window", type=float, default=8.0, help="seconds per read window")
    parser.add_argument("--rounds", type=int, default=3, help="quiet/write window pairs")
    parser.add_argument("--repeats", type=int, default=5, help="PUT-then-recommend repeats per mode")
    parser.add_argument("--similar-requests", type=int, default=500)
    parser.add_argument("--http", action="store_true", help="also start servers: start-up, restart, wrk")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--micro", type=int, nargs="*", default=[], help="also run (e) at these item counts")
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    micros = [{"items": n, **micro(n, args.data_dir)} for n in args.micro]
    results = [run(n, args.cache, args) for n in args.items]
    if args.json:
        print(json.dumps({"runs": results, "micro": micros}, indent=2))
        return
    print_micro(micros)
    print(f"# catalog changes — load average {os.getloadavg()[0]:.2f}, 1 thread per process")
    for r in results:
        w, b, s = r["writes"], r["first_after_put"], r["similar"]
        print(f"\n## {r['items']:,} items (in-process warm-up {r['in_process_warm_up_s']:.1f} s)")
        print("| measure | value |\n| --- | --- |")
        print(
            f"| catalog_version() p50: indexed / old COUNT-MAX-SUM | {r['catalog_version_ms']:.2f} / "
            f"{r['old_version_query_ms']:.2f} ms |"
        )
        print(f"| recommend p50 / p99, no writes | {w['no_writes_p50_ms']:.1f} / {w['no_writes_p99_ms']:.1f} ms |")
        print(f"| recommend p50 / p99, 1 write/s | {w['writes_p50_ms']:.1f} / {w['writes_p99_ms']:.1f} ms |")
        print(f"| p99 ratio writes / no writes (target ≤ 2) | {w['p99_ratio']:.2f} |")
        print(
            f"| write applied (writer thread) p50 / max | {w['write_apply_p50_ms']:.1f} / "
            f"{w['write_apply_max_ms']:.1f} ms |"
        )
        print(
            f"| first recommendation after PUT: incremental / full rebuild / no write | "
            f"{b['incremental_ms']:.0f} / {b['full_rebuild_ms']:.0f} / {b['no_write_request_ms']:.0f} ms "
            f"({b['speedup']:.0f}×) |"
        )
        print(
            f"| /similar in process p50 / p99 (encode one text p50) | {s['similar_p50_ms']:.2f} / "
            f"{s['similar_p99_ms']:.2f} ms ({s['encode_one_p50_ms']:.1f} ms) |"
        )
        for phase, v in r.get("startup", {}).items():
            print(
                f"| {phase}: spawn → /readyz, first / second request | {v['ready_s']:.1f} s, "
                f"{v['first_request_ms']:.0f} / {v['second_request_ms']:.0f} ms |"
            )
        if "wrk" in r and "similar_req_s" in r["wrk"]:
            k = r["wrk"]
            print(
                f"| /similar over HTTP, 2 workers, wrk 8 conns | {k['similar_req_s']:.0f} req/s "
                f"(p50 / p99 {k['similar_p50_ms']:.1f} / {k['similar_p99_ms']:.1f} ms); "
                f"/healthz {k['healthz_req_s']:.0f} req/s |"
            )


def print_micro(micros: list[dict[str, Any]]) -> None:
    if not micros:
        return
    print(f"# (e) catalog view and HNSW switch, no store — load average {os.getloadavg()[0]:.2f}")
    print(
        "| items | view after one write: with_changes / build | 100,001st add: rebuild behind / inline | "
        "searches during the rebuild (p99) |"
    )
    print("| --- | --- | --- | --- |")
    for m in micros:
        print(
            f"| {m['items']:,} | {m['view_change_ms']:.1f} / {m['view_build_ms']:.0f} ms | "
            f"{m['hnsw_add_call_behind_ms']:.1f} / {m['hnsw_add_call_inline_ms']:.0f} ms | "
            f"{m['searches_during_rebuild']} ({m['search_during_rebuild_p99_ms']:.1f} ms) |"
        )


if __name__ == "__main__":
    main()
