"""Where a request's time goes at scale: one uvicorn worker over a cached world (`bench/scale_world.py`), `wrk`
on one endpoint while `py-spy` samples the worker, then the top frames of the request threads (inclusive
share, and the leaf frames by own share).

    PYTHONPATH=$PWD .venv/bin/python bench/scale_profile.py --items 100000 --users 1000000 --events 10000000 \
        [--endpoints "recommendations (trained user),/similar"] [--seconds 12] [--world COPY] [--env K=V,...]
        [--code CHECKOUT]

`--world DIR` serves a built world from any folder (a private copy: serving writes feed snapshots into its
store); `--env` adds KEPU_* settings to the server (e.g. KEPU_COMPUTE_THREADS=0); `--code` serves another
checkout (a baseline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_scale import endpoint_paths, lua_script  # noqa: E402
from bench.scale_world import DEFAULT_CACHE, chosen_world, served_env  # noqa: E402
from bench.serve_support import loadavg, server, warm  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def top_frames(raw: Path, n: int = 15) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(samples in request threads, top frames by inclusive share, top leaf frames by own share)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("WorkerThread.run" in f for f in frames):  # request threads only (FastAPI's sync endpoints)
            continue
        weight = int(count)
        total += weight
        names = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")" for f in frames]
        for name in set(names):
            inclusive[name] += weight
        own[names[-1]] += weight
    share = [(name, 100 * v / max(total, 1)) for name, v in inclusive.most_common(n)]
    leaves = [(name, 100 * v / max(total, 1)) for name, v in own.most_common(n)]
    return total, share, leaves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--endpoints", default="recommendations (trained user),recommendations (audience + session)")
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--worker-healthcheck", type=int, default=120, help="uvicorn worker ping timeout, s")
    parser.add_argument("--world", type=Path, default=None, help="serve the built world in this folder")
    parser.add_argument("--env", default="", help="extra server settings, KEY=VALUE,...")
    parser.add_argument("--code", type=Path, default=ROOT, help="serve another checkout (a baseline)")
    args = parser.parse_args(argv)
    world = chosen_world(args)
    endpoints = endpoint_paths(world)
    log = world.var_dir / f"profile-{args.items}.log"
    env = served_env(world, **dict(kv.split("=", 1) for kv in args.env.split(",") if kv))
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(env, 1, log, healthcheck_timeout=args.worker_healthcheck, code=args.code) as running,
    ):
        print(f"profile: {args.items:,} items, {args.users:,} users, 1 worker; ready in {running.ready_seconds:.0f} s")
        for name in args.endpoints.split(","):
            script = lua_script(endpoints[name], Path(tmp), name)
            warm(running.base, endpoints[name][:8])
            raw = Path(tmp) / "profile.raw"
            spy = [str(PY_SPY), "record", "--pid", str(running.workers()[0].pid), "-d", str(args.seconds)]
            sampler = subprocess.Popen([*spy, "-r", "50", "-f", "raw", "-o", str(raw), "--nonblocking"])
            command = ["wrk", "-t1", "-c4", f"-d{args.seconds}s", "--latency", "-s", str(script), running.base]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            sampler.wait()
            rate = next((line.split()[-1] for line in out.splitlines() if "Requests/sec" in line), "?")
            total, share, leaves = top_frames(raw)
            print(f"\n{name}: {rate} req/s under wrk -c4; {total} samples in request threads; {loadavg()}")
            print("inclusive: " + "; ".join(f"{n} {v:.0f} %" for n, v in share))
            print("own: " + "; ".join(f"{n} {v:.0f} %" for n, v in leaves))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
