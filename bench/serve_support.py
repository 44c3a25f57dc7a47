"""Start a real API server for a benchmark (uvicorn factory mode, N worker processes, configured only by
KEPU_* variables, exactly as `kepu serve --workers N` runs it), wait until it is ready, warm every worker,
and read per-process memory (RSS, PSS, USS, and what is mapped from the bundle and index files)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
LOAD_TEST_SETTINGS = {
    "KEPU_PUBLIC_READS": "true",
    # a load test, not abuse: with the default limit (600 anonymous reads per minute and client) a wrk run's
    # answers are mostly 429s (bench/catalog_changes.py once reported such a rate for /similar)
    "KEPU_PUBLIC_READS_PER_MINUTE": "0",
    "KEPU_RETENTION_INTERVAL_SECONDS": "0",
}
"""KEPU_* every benchmark server shares: anonymous reads on and unlimited, no retention purge mid-run."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    ready_seconds: float = 0.0  # process start → first `/readyz` 200 (target 8)

    def workers(self) -> list[psutil.Process]:
        """The worker processes (uvicorn's children with --workers > 1, else the process itself)."""
        parent = psutil.Process(self.process.pid)
        children = [c for c in parent.children(recursive=False) if "spawn_main" in " ".join(c.cmdline())]
        return children or [parent]


@contextmanager
def server(
    env: dict[str, str],
    workers: int = 1,
    log: Path | None = None,
    ready_timeout: float = 600,
    healthcheck_timeout: int | None = None,
    code: Path = ROOT,
) -> Iterator[Server]:
    """A uvicorn server over `env` with `workers` processes; stopped (SIGINT, then kill) afterwards.

    `healthcheck_timeout`: uvicorn's `--timeout-worker-healthcheck` (default 5 s, as `kepu serve`): the
    supervisor kills a worker that has not answered its ping for that long, which a 100k-item worker
    building its catalog state on a loaded machine can miss. `code`: the checkout to serve (a baseline's
    worktree for before/after runs)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "info", "--no-access-log"]
    if healthcheck_timeout is not None:
        command += ["--timeout-worker-healthcheck", str(healthcheck_timeout)]
    full_env = {**os.environ, "PYTHONPATH": str(code), **env}
    out = log.open("w") if log else subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=code, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited with {process.returncode} (log: {log})")
            try:
                if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server not ready within {ready_timeout:.0f} s (log: {log})")
            time.sleep(0.1)
        yield Server(base, process, time.perf_counter() - started)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def first_requests(base: str, paths: dict[str, str]) -> dict[str, float]:
    """Milliseconds of one request per kind, sent one after another right after `/readyz` said OK: a ready
    server answers them about as fast as warm ones (issue 8, target 8)."""
    seconds: dict[str, float] = {}
    with httpx.Client(timeout=600) as client:
        for name, path in paths.items():
            clock = time.perf_counter()
            client.get(f"{base}{path}").raise_for_status()
            seconds[name] = (time.perf_counter() - clock) * 1e3
    return seconds


def warm(base: str, paths: Sequence[str], rounds: int = 2, concurrency: int = 4) -> None:
    """Send every path `rounds` times from `concurrency` threads, so every worker answers each kind of
    request at least once (the kernel spreads connections over the workers)."""
    with httpx.Client(timeout=600) as client, ThreadPoolExecutor(concurrency) as pool:
        for _ in range(rounds):
            list(pool.map(lambda p: client.get(f"{base}{p}").status_code, list(paths) * concurrency))


@dataclass(frozen=True)
class Memory:
    """One process's memory in MB: resident, proportional (shared pages split among their users), unique,
    and the resident / proportional part mapped from files under `mapped_root` (bundle, index)."""

    pid: int
    rss: float
    pss: float
    uss: float
    mapped_rss: float
    mapped_pss: float
    mapped_size: float


def memory(process: psutil.Process, mapped_root: Path) -> Memory:
    info = process.memory_full_info()
    mapped_rss = mapped_pss = mapped_size = 0
    root = str(mapped_root.resolve())
    for region in process.memory_maps(grouped=True):
        if region.path.startswith(root):
            mapped_rss += region.rss
            mapped_pss += region.pss
            mapped_size += region.size
    mapped = (mapped_rss / MB, mapped_pss / MB, mapped_size / MB)
    return Memory(process.pid, info.rss / MB, info.pss / MB, info.uss / MB, *mapped)


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (2 cores)"
