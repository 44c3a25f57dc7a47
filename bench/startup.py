"""Start-up at scale (issue 8, target 8): process start → `/readyz` OK, then the first request of each kind,
for this checkout and a baseline checkout served alternately over the same world, 1 and N workers.

Each run is a real `uvicorn --workers N` (factory mode, configured by KEPU_* as `kepu serve` runs it) over a
world folder (`bench/scale_world.py`; `--world-dir` serves a copy, so the cache is never written). Right after
`/readyz` says OK, every kind of request is sent once per worker at the same moment (N fresh connections:
the workers accept them side by side), and the slowest answer is the "first request" of that kind: a ready
server answers it about as fast as a warm one. Both checkouts get the same uvicorn worker health-check
timeout (`--worker-healthcheck`, the value `kepu serve` now uses), so neither is killed while warming up.

Runs (alternating, baseline first in each pair):
- `warm`: the keyword index saved by an earlier start of this checkout is there (a restart, a new worker);
- `--writes N`: also a run of this checkout after N items were edited straight in the store (a restart after
  an ingest: the saved keyword index is reused for every other item);
- `--cold`: also a run of this checkout after deleting its saved keyword index (the first start after
  installing, or after a catalog change made while no server ran: only changed texts are analysed then,
  everything when nothing is saved).

    PYTHONPATH=$PWD .venv/bin/python bench/startup.py --base ../boot-base --world-dir ../boot-world [--cold]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.http_protocol import WORKER_HEALTHCHECK_SECONDS  # noqa: E402
from bench.http_scale import endpoint_paths  # noqa: E402
from bench.scale_world import DEFAULT_CACHE, World, served_env, world_key  # noqa: E402
from bench.serve_support import loadavg, server  # noqa: E402
from content_catalog.store import Store  # noqa: E402
from recommender.search_cache import FOLDER as SEARCH_CACHE  # noqa: E402

KINDS = ("recommendations (audience + session)", "recommendations (trained user)", "/similar", "/search")


def first_per_worker(base: str, paths: dict[str, str], workers: int) -> dict[str, float]:
    """Milliseconds of the slowest of `workers` simultaneous first requests per kind (fresh connections)."""

    def one(path: str) -> float:
        clock = time.perf_counter()
        with httpx.Client(timeout=900) as client:
            client.get(f"{base}{path}").raise_for_status()
        return (time.perf_counter() - clock) * 1e3

    out: dict[str, float] = {}
    with ThreadPoolExecutor(workers) as pool:
        for name, path in paths.items():
            out[name] = max(pool.map(one, [path] * workers))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the server process and its workers so far (less load-dependent than
    wall time on a shared machine)."""
    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def run(world: World, code: Path, workers: int, healthcheck: int, log: Path) -> dict:
    paths = {name: p[-1] for name, p in endpoint_paths(world, 50).items() if name in KINDS}
    with server(served_env(world), workers, log, ready_timeout=1800, healthcheck_timeout=healthcheck, code=code) as s:
        cpu = cpu_seconds(s.process.pid)
        first = first_per_worker(s.base, paths, workers)
        return {"ready_s": s.ready_seconds, "cpu_s": cpu, "first_ms": first}


def write_while_down(world: World, n: int, round_: int) -> None:
    """Edit `n` items straight in the store (as `kepu catalog ingest` would while no server runs)."""
    store = Store(world.store_url)
    try:
        items = store.get_items(world.item_ids(n))
        edited = [it.model_copy(update={"title": f"{it.title}（修订{round_}）"}) for it in items]
        store.upsert_items(edited, actor="bench")
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="baseline checkout (e.g. a worktree of main)")
    parser.add_argument("--world-dir", type=Path, default=None, help="world folder (default: the cached one)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="also start this checkout with no saved keyword index")
    parser.add_argument("--writes", type=int, default=0, help="also start this branch after N items edited while down")
    parser.add_argument("--worker-healthcheck", type=int, default=WORKER_HEALTHCHECK_SECONDS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    folder = args.world_dir or DEFAULT_CACHE / world_key(args.items, args.users, args.events)
    meta = json.loads((folder / "world.json").read_text(encoding="utf-8"))
    world = World(folder, args.items, args.users, args.events, meta["build_seconds"], meta.get("stack", World.stack))
    header = f"start-up: {args.items:,} items, {args.users:,} users; {world.stack}; {loadavg()} at start"
    rows: list[dict] = []
    for round_ in range(args.rounds):
        for workers in [int(w) for w in args.workers.split(",")]:
            runs = [("baseline", args.base.resolve(), ""), ("this branch", ROOT, "")]
            if args.writes and round_ == 0:
                runs.append((f"this branch, {args.writes} items edited while down", ROOT, "writes"))
            if args.cold and round_ == 0:
                runs.append(("this branch, no saved keyword index", ROOT, "cold"))
            for label, code, before in runs:
                if before == "cold":
                    shutil.rmtree(folder / "cache" / SEARCH_CACHE, ignore_errors=True)
                if before == "writes":
                    write_while_down(world, args.writes, workers)
                log = folder / f"startup-{workers}w-{label.split(',')[0].replace(' ', '-')}.log"
                result = run(world, code, workers, args.worker_healthcheck, log)
                row = {"code": label, "workers": workers, "round": round_, "load": os.getloadavg()} | result
                rows.append(row)
                print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"header": header, "rows": rows}, ensure_ascii=False, indent=2))
        return 0
    print(header)
    print(f"uvicorn worker health-check timeout {args.worker_healthcheck} s for every run; first request = slowest")
    print("of one per worker sent together right after /readyz OK")
    head = "| code | workers | start → /readyz s | CPU s to ready (all processes) | "
    print(head + " | ".join(f"first {k} ms" for k in KINDS) + " | load (1 min) |")
    print("|" + " --- |" * (len(KINDS) + 5))
    for r in rows:
        firsts = " | ".join(f"{r['first_ms'][k]:,.0f}" for k in KINDS)
        cells = f"{r['ready_s']:.1f} | {r['cpu_s']:.1f} | {firsts} | {r['load'][0]:.1f}"
        print(f"| {r['code']} | {r['workers']} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
