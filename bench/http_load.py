"""Benchmark: HTTP throughput of `/v1/recommendations` against the framework's floor (`/healthz`), same run.

    .venv/bin/python bench/http_load.py [--var-dir DIR] [--duration 8] [--rounds 3] [--quick] [--json]

Starts a real `kepu serve` (one uvicorn worker, a separate process) on the demo deployment (built by
`api.demo.build_demo` into `--var-dir` on the first run, reused after), with public reads and no rate
limit (`KEPU_PUBLIC_READS_PER_MINUTE=0`), then runs Debian's `wrk` over loopback with 4 connections,
bounded in time, alternately: `/healthz`, then recommendations for rotating audiences and sessions
(anonymous visitors, no history), then recommendations for the simulator's trained users (`sim-…`,
history and a trained vector). Each round measures every endpoint once; the table reports the median
round and each endpoint's req/s as a ratio of the `/healthz` req/s **of the same round**.

Events are SIMULATED (the demo's `sim-…` users): they shape the ranking, not the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUDIENCES = ("public", "youth", "farmers", "workers", "seniors", "officials")

LUA_ANONYMOUS = """
local audiences = {%(audiences)s}
local n = 0
request = function()
  n = n + 1
  local a = audiences[(n %% #audiences) + 1]
  return wrk.format("GET", string.format("/v1/recommendations?audience=%%s&session_id=wrk-%%d&k=10", a, n %% 5000))
end
"""

LUA_USERS = """
local users = {%(users)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/recommendations?k=10&user_id=" .. users[(n %% #users) + 1])
end
"""


@dataclass
class Run:
    endpoint: str
    round: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    """(req/s, p50 ms, p99 ms, non-2xx responses, socket errors) from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return rps, p50, p99, int(non_2xx.group(1)) if non_2xx else 0, sum(map(int, errors.groups())) if errors else 0


def build(var_dir: Path) -> str:
    """Build the demo deployment once (reused when already built); returns the served model version."""
    from api.demo import build_demo
    from content_catalog.settings import Settings
    from content_catalog.store import Store

    settings = Settings(var_dir=var_dir)
    store = Store(settings.resolved_store_url)
    try:
        return build_demo(store, settings).model_version or "-"
    finally:
        store.close()


def trained_users(var_dir: Path, n: int = 40) -> list[str]:
    from sqlalchemy import select

    from content_catalog.settings import Settings
    from content_catalog.store import Store
    from content_catalog.store.models import UserRow

    store = Store(Settings(var_dir=var_dir).resolved_store_url)
    try:
        with store.engine.connect() as connection:
            return list(connection.scalars(select(UserRow.id).order_by(UserRow.id).limit(n)))
    finally:
        store.close()


def serve(var_dir: Path, port: int, code: Path = ROOT) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "KEPU_VAR_DIR": str(var_dir),
        "KEPU_PUBLIC_READS": "true",
        "KEPU_PUBLIC_READS_PER_MINUTE": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    kepu = Path(sys.executable).with_name("kepu")
    command = [str(kepu), "serve", "--port", str(port), "--var-dir", str(var_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kepu serve exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if json.loads(answer.read()).get("status") == "ok":
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("kepu serve did not become ready within 120 s")


def wrk(url: str, duration: int, connections: int, script: Path | None) -> tuple[float, float, float, int, int]:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--latency", "--timeout", "5s"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=duration + 30, check=True)
    return parse_wrk(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--var-dir", type=Path, default=None, help="demo deployment folder (built when missing)")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="3 s runs, 2 rounds")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout to serve (before/after comparisons)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    if args.quick:
        args.duration, args.rounds = 3, 2
    temp = None
    if args.var_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="kepu-http-load-")
        args.var_dir = Path(temp.name)
    var_dir = args.var_dir.resolve()
    version = build(var_dir)
    users = trained_users(var_dir)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scripts:
        anonymous, known = Path(scripts, "anonymous.lua"), Path(scripts, "users.lua")
        anonymous.write_text(LUA_ANONYMOUS % {"audiences": ", ".join(f'"{a}"' for a in AUDIENCES)})
        known.write_text(LUA_USERS % {"users": ", ".join(f'"{u}"' for u in users)})
        endpoints: list[tuple[str, str, Path | None]] = [
            ("/healthz", f"{base}/healthz", None),
            ("recommendations (audience+session)", base, anonymous),
        ]
        if users:
            endpoints.append(("recommendations (trained user)", base, known))
        server = serve(var_dir, port, args.code.resolve())
        runs: list[Run] = []
        try:
            for _, url, script in endpoints:  # warm-up: first requests build caches
                wrk(url, 1, args.connections, script)
            for r in range(args.rounds):
                for name, url, script in endpoints:
                    runs.append(Run(name, r, *wrk(url, args.duration, args.connections, script)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    if temp is not None:
        temp.cleanup()
    report(runs, args, version)
    return 0


def report(runs: list[Run], args: argparse.Namespace, version: str) -> None:
    floor = {run.round: run.requests_per_s for run in runs if run.endpoint == "/healthz"}
    rows = []
    for name in dict.fromkeys(run.endpoint for run in runs):
        mine = [run for run in runs if run.endpoint == name]
        ratios = [run.requests_per_s / floor[run.round] for run in mine]
        rows.append(
            {
                "endpoint": name,
                "req_per_s": statistics.median(run.requests_per_s for run in mine),
                "p50_ms": statistics.median(run.p50_ms for run in mine),
                "p99_ms": statistics.median(run.p99_ms for run in mine),
                "ratio_to_healthz": statistics.median(ratios),
                "non_2xx": sum(run.non_2xx for run in mine),
                "socket_errors": sum(run.errors for run in mine),
            }
        )
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load_avg": load, "model_version": version, "rows": rows, "runs": [asdict(r) for r in runs]}))
        return
    print(
        f"demo catalog, 1 uvicorn worker, wrk -c{args.connections} over loopback, {args.rounds} rounds x "
        f"{args.duration} s per endpoint, alternating; load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print("| endpoint | req/s | p50 ms | p99 ms | ratio to /healthz (same round) | non-2xx |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['endpoint']} | {row['req_per_s']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['ratio_to_healthz']:.3f}x | {row['non_2xx'] + row['socket_errors']} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
