"""What grows with items, users and events (docs/scaling.md): measured points and a plot.

For each world (`bench/scale_world.py`, cached) it starts ONE uvicorn worker, warms it, and times sequential
requests (one client, so the numbers are service time, not queueing) for each endpoint, bounded by
`--requests` and `--seconds`, and reads the worker's RSS / PSS / USS. Training time per world is the
measured build step (LightFM, 1 epoch × 32 components, no validation: the cheap model of these worlds, so
the curve shows how the data pipeline grows, not what `--model auto` costs). Writes `docs/scaling.png`
(matplotlib, Agg) and prints a table (`--json` for machines).

    PYTHONPATH=$PWD .venv/bin/python bench/scaling_curves.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_scale import endpoint_paths  # noqa: E402
from bench.scale_world import DEFAULT_CACHE, World, build_world, served_env  # noqa: E402
from bench.serve_support import loadavg, memory, server, warm  # noqa: E402

WORLDS = "1000:100000:200000,10000:100000:200000,10000:100000:1000000,100000:1000000:2000000"
"""items:users:events per world: catalog size grows along the first two and the last; events along 2→3."""
ENDPOINTS = ("recommendations (audience + session)", "recommendations (trained user)", "/similar", "/search")


def timed(base: str, paths: Sequence[str], requests: int, seconds: float) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, n) of sequential GETs, stopping at `requests` or `seconds`."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    with httpx.Client(timeout=60) as client:
        for k in range(requests):
            start = time.perf_counter()
            response = client.get(f"{base}{paths[k % len(paths)]}")
            latencies.append((time.perf_counter() - start) * 1e3)
            if response.status_code != 200:
                raise SystemExit(f"{paths[k % len(paths)]} answered {response.status_code}: {response.text[:200]}")
            if time.perf_counter() > stop:
                break
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)), len(latencies)


def measure_world(world: World, requests: int, seconds: float, log_dir: Path) -> dict:
    paths = endpoint_paths(world, 100)
    log = log_dir / f"curves-{world.n_items}-{world.n_users}-{world.n_events}.log"
    started = time.perf_counter()
    with server(served_env(world), 1, log) as running:
        ready = time.perf_counter() - started
        warm(running.base, [p[0] for p in paths.values()], rounds=1, concurrency=1)
        latency = {name: timed(running.base, paths[name], requests, seconds) for name in ENDPOINTS}
        mem = memory(running.workers()[0], world.var_dir)
    return {
        "items": world.n_items,
        "users": world.n_users,
        "events": world.n_events,
        "ready_seconds": round(ready, 1),
        "train_seconds": world.build_seconds.get("train (lightfm, 1 epoch)"),
        "index_seconds": world.build_seconds.get("catalog index"),
        "latency": {k: {"p50": v[0], "p99": v[1], "n": v[2]} for k, v in latency.items()},
        "memory": vars(mem),
    }


def plot(points: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    by_items = sorted({p["items"]: p for p in points if p["events"] != 1_000_000}.values(), key=lambda p: p["items"])
    xs = [p["items"] for p in by_items]
    for name in ENDPOINTS:
        axes[0].plot(xs, [p["latency"][name]["p50"] for p in by_items], marker="o", label=f"{name} p50")
    axes[0].set(xscale="log", yscale="log", xlabel="items", ylabel="ms (one client, 1 worker)")
    axes[0].set_title("request latency vs catalog size")
    axes[0].legend(fontsize=7)
    axes[1].plot(xs, [p["memory"]["rss"] for p in by_items], marker="o", label="RSS")
    axes[1].plot(xs, [p["memory"]["uss"] for p in by_items], marker="o", label="USS (private)")
    axes[1].plot(xs, [p["memory"]["mapped_rss"] for p in by_items], marker="o", label="mapped bundle+index")
    axes[1].set(xscale="log", xlabel="items", ylabel="MB per worker")
    axes[1].set_title("worker memory vs catalog size")
    axes[1].legend(fontsize=7)
    by_events = sorted(points, key=lambda p: (p["events"], p["items"]))
    for p in by_events:
        axes[2].scatter(p["events"], p["train_seconds"], color="tab:blue")
        label = f"{p['items'] // 1000}k items, {p['users'] // 1000}k users"
        axes[2].annotate(label, (p["events"], p["train_seconds"]), fontsize=7)
    axes[2].set(xscale="log", xlabel="events", ylabel="seconds", ylim=(0, None))
    axes[2].set_title("training time (LightFM, 1 epoch) vs events")
    fig.suptitle(f"Kepu scaling, measured ({loadavg()})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--worlds", default=WORLDS, help="items:users:events,… (built and cached when missing)")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=20.0, help="bound per endpoint and world")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--replot", action="store_true", help="only redraw the plot from the last run's JSON")
    args = parser.parse_args(argv)
    if args.replot:
        plot(json.loads((args.cache / "scaling_curves.json").read_text(encoding="utf-8")), args.plot)
        return 0
    points = []
    for spec in args.worlds.split(","):
        n_items, n_users, n_events = (int(x) for x in spec.split(":"))
        world = build_world(args.data_dir, n_items, n_users, n_events, args.cache)
        points.append(measure_world(world, args.requests, args.seconds, args.cache))
    (args.cache / "scaling_curves.json").write_text(json.dumps(points, indent=2), encoding="utf-8")
    plot(points, args.plot)
    if args.json:
        print(json.dumps({"loadavg": os.getloadavg(), "points": points}, indent=2))
        return 0
    print(f"scaling curves, 1 worker, one sequential client; {loadavg()}; plot: {args.plot}")
    names = " | ".join(f"{n} p50/p99 ms" for n in ENDPOINTS)
    print(f"| items | users | events | {names} | RSS / USS / mapped MB | ready s | index s | train s |")
    print("|" + " --- |" * (3 + len(ENDPOINTS) + 4))
    for p in points:
        lat = " | ".join(f"{p['latency'][n]['p50']:.0f} / {p['latency'][n]['p99']:.0f}" for n in ENDPOINTS)
        m = p["memory"]
        print(
            f"| {p['items']:,} | {p['users']:,} | {p['events']:,} | {lat} | {m['rss']:.0f} / {m['uss']:.0f} / "
            f"{m['mapped_rss']:.0f} | {p['ready_seconds']} | {p['index_seconds']} | {p['train_seconds']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
