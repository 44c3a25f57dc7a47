"""How long `kepu train --model auto` takes on the demo store and on MovieLens-100k (issue 7: < 60 s).

Builds both stores in a temporary folder (the demo store with `api.demo.build_demo`; MovieLens-100k with
the `movielens-service` mapping: every movie, profile and rating), then runs the real command line
`kepu train --model auto` on each as a subprocess, `--repeat` times, and prints wall time, the CPU time
of the command, the load average around it (the machine is shared) and what `auto` chose.

Usage: PYTHONPATH=. .venv/bin/python bench/train_timing.py --data-dir ../shared/data [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _demo_store(root: Path) -> str:
    from api.demo import build_demo
    from content_catalog.settings import Settings
    from content_catalog.store import Store

    url = f"sqlite:///{root / 'demo.db'}"
    settings = Settings(store_url=url, var_dir=root / "demo-var")
    store = Store(url)
    try:
        build_demo(store, settings)
    finally:
        store.close()
    return url


def _movielens_store(root: Path, data_dir: str | None) -> str:
    from content_catalog.store import Store
    from recommender.evaluation.datasets import load_movielens_100k
    from recommender.evaluation.movielens_store import movie_items, movie_users, rating_events

    data = load_movielens_100k(Path(data_dir) if data_dir else None)
    url = f"sqlite:///{root / 'ml100k.db'}"
    store = Store(url)
    try:
        store.upsert_items(movie_items(data), actor="movielens")
        for user in movie_users(data):
            store.upsert_user(user)
        store.add_events(rating_events(data, range(len(data.ratings))))
    finally:
        store.close()
    return url


def _train(url: str, var_dir: Path) -> dict:
    """One `kepu train --model auto` run: wall and CPU seconds, load average, the manifest's choice."""
    env = {**os.environ, **THREADS, "KEPU_STORE_URL": url, "KEPU_VAR_DIR": str(var_dir)}
    kepu = Path(sys.executable).parent / "kepu"
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(kepu), "train", "--model", "auto"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"kepu train failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    manifests = sorted((var_dir / "models").glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads(manifests[-1].read_text(encoding="utf-8"))
    selection = manifest.get("selection", {})
    return {
        "wall": wall,
        "cpu": (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
        "load": (load_before, os.getloadavg()[0]),
        "train_seconds": manifest.get("train_seconds"),
        "model": selection.get("model"),
        "candidates": {
            name: (fig.get("served_ndcg@10"), fig.get("fit_seconds"), fig.get("seconds"))
            for name, fig in selection.get("candidates", {}).items()
        },
        "counts": manifest.get("data_counts", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("KEPU_DATA_DIR"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--stores", nargs="+", default=["demo", "movielens-100k"])
    args = parser.parse_args()
    os.environ.update(THREADS)
    with tempfile.TemporaryDirectory(prefix="kepu-train-timing-") as tmp:
        root = Path(tmp)
        builders = {"demo": lambda: _demo_store(root), "movielens-100k": lambda: _movielens_store(root, args.data_dir)}
        print(f"load average at start {os.getloadavg()[0]:.2f} (2 shared cores)")
        print("| store | events | model chosen | wall s | CPU s | load 1-min before → after | train s (manifest) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        details = []
        for name in args.stores:
            url = builders[name]()
            for run in range(args.repeat):
                r = _train(url, root / f"{name}-var-{run}")
                events = r["counts"].get("events", 0)
                print(
                    f"| {name} | {events:,} | {r['model']} | {r['wall']:.1f} | {r['cpu']:.1f} | "
                    f"{r['load'][0]:.1f} → {r['load'][1]:.1f} | {r['train_seconds']} |",
                    flush=True,
                )
                details.append((name, r["candidates"]))
        print("\ncandidates (served validation NDCG@10, fit s, validation s):")
        for name, candidates in details:
            print(f"  {name}: {candidates}")


if __name__ == "__main__":
    main()
