"""HTTP load at scale (issue 8, target 1): 2 uvicorn workers over 100k items and 1M users, `wrk` from a second
process over loopback, each endpoint run alternately with the `/healthz` baseline of the same run.

Endpoints (paths rotate through a wrk Lua script, so no response is a repeat of the last):
- `/healthz` — the framework's floor, measured before each endpoint;
- `/v1/recommendations` anonymous: rotating audiences and session ids;
- `/v1/recommendations` trained users: rotating users of the 1M (every one has a trained row);
- `/v1/items/{id}/similar`: rotating items;
- `/v1/search?q=…`: rotating Chinese queries.
Each wrk run is bounded (`--seconds`, default 10 s). Then "p99 at half the max rate": a paced, open-loop
Python client sends at half the rate wrk reached (latency counted from the scheduled send time, so a
stall is not hidden) for `--seconds`. Rate limits are off (KEPU_PUBLIC_READS_PER_MINUTE=0).

Targets: recommendations ≥ 500 req/s with p99 ≤ 30 ms at half that rate; /similar ≥ 1,000 req/s;
/search p50 ≤ 20 ms. The world (`bench/scale_world.py`) is built once and cached; `--world DIR` serves a
built world from any folder instead (a private copy: serving writes feed snapshots into its store).

Before/after in one run: `--server NAME=CHECKOUT[:KEY=VALUE,...]` (repeatable) starts one server per
variant on the same world, all up at once, and runs every endpoint on each in turn, `--rounds` times
(each with its own `/healthz` floor right before). Variant servers get the library thread defaults (no
OMP/OPENBLAS_NUM_THREADS in their environment), so the serving code's own pinning (`KEPU_COMPUTE_THREADS`)
is what is measured; without `--server`, this checkout is served with single-threaded BLAS by environment.

    PYTHONPATH=$PWD .venv/bin/python bench/http_scale.py --data-dir ../shared/data [--items 100000]
    PYTHONPATH=$PWD .venv/bin/python bench/http_scale.py --world COPY --server main=../main --server this=. \
        --server unpinned=.:KEPU_COMPUTE_THREADS=0 --only "recommendations (trained user)" --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scale_world import DEFAULT_CACHE, World, chosen_world, served_env, users_sample  # noqa: E402
from bench.serve_support import first_requests, loadavg, server, warm  # noqa: E402

AUDIENCES = ("public", "youth", "farmers", "workers", "seniors", "officials")
QUERIES = ("水稻病虫害", "高血压饮食", "人工智能", "空间站", "防诈骗", "机器人", "碳中和", "疫苗", "地震", "芯片")
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Variant:
    """One server of a before/after run: a checkout and extra KEPU_* settings."""

    name: str
    code: Path
    env: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """NAME=CHECKOUT[:KEY=VALUE,...]"""
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise argparse.ArgumentTypeError(f"--server {spec!r}: expected NAME=CHECKOUT[:KEY=VALUE,...]")
        code, _, settings = rest.partition(":")
        env = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
        folder = Path(code).resolve()
        if not (folder / "api" / "app.py").is_file():
            raise argparse.ArgumentTypeError(f"--server {spec!r}: {folder} is not a Kepu checkout")
        return cls(name, folder, env)


@dataclass
class Run:
    """One wrk run: requests/s, latency percentiles in ms, and non-2xx/3xx responses or socket errors."""

    name: str
    rps: float
    p50: float
    p99: float
    errors: int


def endpoint_paths(world: World, n: int = 200) -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    items = world.item_ids(world.n_items)
    users = [u.id for u in users_sample(world, n)]
    return {
        "/healthz": ["/healthz"],
        "recommendations (audience + session)": [
            f"/v1/recommendations?audience={AUDIENCES[i % len(AUDIENCES)]}&session_id=bench-s{i}&k=20" for i in range(n)
        ],
        "recommendations (trained user)": [f"/v1/recommendations?user_id={u}&k=20" for u in users],
        "/similar": [f"/v1/items/{items[int(i)]}/similar?k=10" for i in rng.integers(0, len(items), n)],
        "/search": [f"/v1/search?q={quote(QUERIES[i % len(QUERIES)])}&k=10" for i in range(n)],
    }


def lua_script(paths: Sequence[str], folder: Path, name: str) -> Path:
    body = ",\n".join(json.dumps(p) for p in paths)
    script = folder / f"{re.sub(r'[^a-z]+', '_', name)}.lua"
    script.write_text(
        "local paths = {\n" + body + "\n}\nlocal i = math.random(#paths)\n"
        "request = function()\n  i = (i % #paths) + 1\n  return wrk.format('GET', paths[i])\nend\n",
        encoding="utf-8",
    )
    return script


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(match.group(1)) * UNIT[match.group(2)]


def parse_wrk(name: str, out: str) -> Run:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(n) for n in socket.groups()) if socket else 0
    return Run(name, rps, p50, p99, errors)


def wrk(base: str, script: Path, name: str, seconds: float, connections: int, threads: int = 1) -> Run:
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s"]
    command += ["--latency", "--timeout", "10s"]
    out = subprocess.run([*command, "-s", str(script), base], capture_output=True, text=True, check=True).stdout
    return parse_wrk(name, out)


def paced(base: str, paths: Sequence[str], rate: float, seconds: float, threads: int = 8) -> tuple[float, float, int]:
    """Open-loop client: request k is due at start + k/rate; its latency counts from that due time.
    Returns (p50 ms, p99 ms, errors)."""
    total = max(1, int(rate * seconds))
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(total))
    start = time.perf_counter() + 0.2

    def worker() -> None:
        with httpx.Client(timeout=30) as client:
            for k in counter:
                due = start + k / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                try:
                    ok = client.get(f"{base}{paths[k % len(paths)]}").status_code == 200
                except httpx.TransportError:  # a timeout is an error of this run, not a crash of the client
                    ok = False
                elapsed = (time.perf_counter() - due) * 1e3
                with lock:
                    latencies.append(elapsed)
                    errors[0] += 0 if ok else 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)), errors[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--worker-healthcheck", type=int, default=None, help="uvicorn worker ping timeout, s")
    parser.add_argument("--only", default="", help="comma-separated endpoint names to run (default: all)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--world", type=Path, default=None, help="serve the built world in this folder")
    parser.add_argument("--server", type=Variant.parse, action="append", default=[], help="NAME=CHECKOUT[:K=V,...]")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the endpoints (and variants)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    world = chosen_world(args)
    endpoints = endpoint_paths(world)
    results: list[dict] = []
    variants = args.server or [Variant("this", ROOT, {})]
    env = served_env(world)
    if args.server:  # what the serving code does about threads is part of what is compared
        env = {k: v for k, v in env.items() if k not in THREAD_ENV}
    names = [n for n in endpoints if n != "/healthz" and (not args.only or n in args.only.split(","))]
    ready, first, running = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        for v in variants:  # all up at once (idle while another is measured), started one after another
            log = world.var_dir / f"http-scale-{args.items}-{v.name}.log"
            opts = {"healthcheck_timeout": args.worker_healthcheck, "code": v.code}
            running[v.name] = stack.enter_context(server({**env, **v.env}, args.workers, log, **opts))
            ready[v.name] = running[v.name].ready_seconds
        scripts = {name: lua_script(paths, Path(tmp), name) for name, paths in endpoints.items()}
        wanted = {n: p for n, p in endpoints.items() if n == "/healthz" or n in names}  # /search's first
        for v in variants:  # request builds its keyword index: only warm what is measured
            first[v.name] = first_requests(running[v.name].base, {n: p[-1] for n, p in wanted.items()})
            warm(running[v.name].base, [paths[0] for paths in wanted.values()])
        for round_ in range(1, args.rounds + 1):
            for name in names:
                for v in variants:
                    base = running[v.name].base
                    floor = wrk(base, scripts["/healthz"], "/healthz", args.seconds, args.connections)
                    run = wrk(base, scripts[name], name, args.seconds, args.connections)
                    half = max(run.rps / 2, 1.0)
                    h50, h99, herr = paced(base, endpoints[name], half, args.seconds)
                    results.append(
                        {"round": round_, "server": v.name, "endpoint": name, "healthz": vars(floor), "max": vars(run)}
                        | {"half_rate": half, "half_p50": h50, "half_p99": h99, "half_errors": herr}
                        | {"loadavg": os.getloadavg()}
                    )
    if args.json:
        summary = {"loadavg": os.getloadavg(), "ready_seconds": ready, "first_ms": first, "results": results}
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"HTTP at scale: {args.items:,} items, {args.users:,} users, {args.workers} workers, wrk -t1 -c"
        f"{args.connections} {args.seconds:.0f} s per run; {loadavg()}"
    )
    check = f"uvicorn worker health-check timeout {args.worker_healthcheck or 5} s"
    for v in variants:
        extra = f" ({v.code}{'; ' + ', '.join(f'{k}={x}' for k, x in v.env.items()) if v.env else ''})"
        print(f"{v.name}{extra if args.server else ''}: process start → /readyz OK in {ready[v.name]:.1f} s; {check}")
    print(world.stack)
    head = "| round | server | endpoint | first request ms | req/s | p50 ms | p99 ms | errors "
    print(head + "| /healthz req/s (same run) | ratio | p50/p99 at half rate | load (1 min) |")
    print("|" + " --- |" * 12)
    for r in results:
        m, h = r["max"], r["healthz"]
        print(
            f"| {r['round']} | {r['server']} | {r['endpoint']} | {first[r['server']][r['endpoint']]:,.0f} "
            f"| {m['rps']:,.1f} | {m['p50']:.1f} | {m['p99']:.1f} | {m['errors']} | {h['rps']:,.0f} "
            f"| {m['rps'] / h['rps']:.3f} | {r['half_p50']:.1f} / {r['half_p99']:.1f} @ {r['half_rate']:.1f}/s "
            f"| {r['loadavg'][0]:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
