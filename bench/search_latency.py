"""Benchmark: `GET /v1/search` latency over loopback, one uvicorn worker, demo catalog, default encoder.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_latency.py [--rounds 3]
    OMP_NUM_THREADS=1 .venv/bin/python bench/search_latency.py --scale 100000   # in process, bench/search_scale.py

Builds a throwaway SQLite store with the 457 demo items, embeds it (`embed_catalog`, the server then loads
that index), starts `uvicorn api.app:create_app --factory` on 127.0.0.1 with one worker and BLAS threads 1, and
times every judged query of bench/judged/search_queries.tsv once when new (the USE part encodes it) and then
`--rounds` times more (USE answers from its per-text cache; the tfidf-svd part is computed every time), each as
one HTTP request. Baseline measured in the same run: `GET /healthz` (the HTTP + framework floor). Bounded: a
fixed number of requests to the local server only; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from content_catalog.catalog_index import embed_catalog
from content_catalog.demo_catalog import load_demo_items
from content_catalog.settings import Settings
from content_catalog.store import Store
from recommender.evaluation.search_judgments import load_queries

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=0, help="time CatalogSearch in process over N synthetic items")
    args, rest = parser.parse_known_args(argv)
    if args.scale:
        sys.path.insert(0, str(ROOT / "bench"))
        from search_scale import main as scale_main

        return scale_main(["--scale", str(args.scale), "--rounds", str(args.rounds), *rest])
    queries = [q.text for q in load_queries()]
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        env = {**os.environ, "KEPU_VAR_DIR": str(var), "KEPU_STORE_URL": f"sqlite:///{var / 'kepu.db'}"}
        env.update({"KEPU_PUBLIC_READS": "true", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        env.update({"MKL_NUM_THREADS": "1", "KEPU_PUBLIC_READS_PER_MINUTE": "0"})  # a load test, not abuse
        settings = Settings(var_dir=var, store_url=env["KEPU_STORE_URL"])
        store = Store(settings.resolved_store_url)
        try:
            store.upsert_items(load_demo_items())
            embed_catalog(store, settings)
        finally:
            store.close()
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--workers", "1"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                deadline = time.monotonic() + 300
                while True:
                    try:
                        client.get("/healthz").raise_for_status()
                        break
                    except httpx.HTTPError:
                        if process.poll() is not None or time.monotonic() > deadline:
                            raise SystemExit("the server did not start") from None
                        time.sleep(0.5)
                # warm-up (catalog view, BM25 index, models loaded): slow on a loaded machine, so a long timeout
                client.get("/v1/search", params={"q": "预热"}, timeout=600).raise_for_status()
                first = [timed(client, "/v1/search", {"q": q}) for q in queries]  # USE has not seen the text
                search = [timed(client, "/v1/search", {"q": q}) for _ in range(args.rounds) for q in queries]
                health = [timed(client, "/healthz") for _ in range(args.rounds) for _ in queries]
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    rows = [
        ("GET /healthz (baseline)", health),
        ("GET /v1/search, first time per query", first),
        ("GET /v1/search, repeated queries", search),
    ]
    print(f"loopback, 1 uvicorn worker, {len(queries)} judged queries × {args.rounds} rounds")
    print(f"{'request':<40} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10}")
    base = statistics.median(health)
    for name, values in rows:
        p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
        print(f"{name:<40} {len(values):>5} {1000 * p50:8.2f} {1000 * p95:8.2f} {p50 / base:9.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
