"""Benchmark (issue 8, target 5): event ingest over HTTP batches and from a file, SQLite and PostgreSQL.

Rows, each on a fresh copy of a store holding the SYNTHETIC catalog (`bench/scale_data.py`):
- file: `kepu events ingest` (`ingest_event_files`, ids pseudonymised under a pepper as the CLI does) of
  a JSONL and a CSV file of `--events` events;
- file previous: the same files through the file path as of commit 9ca28c7 (`bench/ingest_previous.py`:
  stdlib json, datetime-building validator, one HMAC per event, one process);
- file baseline: the path before that on the first `--baseline-events` of the same rows (`json.loads` +
  `Event.model_validate` + the old ORM `add_events`, `bench/ingest_legacy.py`), in batches of the same
  size as the new path's (50k SQLite, 20k PostgreSQL);
- HTTP: `POST /v1/events` in batches of `--batch` from a second process over loopback to one uvicorn
  worker (keep-alive, one connection), new code vs the legacy `add_events` patched into the same app.
  The served catalog is the first `--http-items` items with the `tfidf-svd` encoder (100k-item start-up
  is target 8's problem, and a batch's cost does not depend on the catalog's size or the encoder); its
  events are drawn over those items.
Rows alternate baseline/contender per round. events/s is wall time; "CPU s" is the ingesting
process's CPU time plus its children's (the parser process of the new file path; the server's for
HTTP), so a loaded machine shows in the gap between the two. On PostgreSQL, "server CPU s" is the CPU
the PostgreSQL server processes (backends and background writers) used during a file row.
PostgreSQL rows run when KEPU_TEST_POSTGRES_URL is set (`bash .ci/with-postgres.sh python bench/ingest.py`).

    PYTHONPATH=$PWD .venv/bin/python bench/ingest.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.scale_data import scale_events, scale_items, scale_users  # noqa: E402
from content_catalog.event_ingest import BATCH_ROWS, ingest_event_files  # noqa: E402
from content_catalog.pseudonyms import ClientIds  # noqa: E402
from content_catalog.schema import Event, Item  # noqa: E402
from content_catalog.store import Store  # noqa: E402

INGEST_KEY = "bench-ingest-key"
PEPPER = "bench-pepper"  # the CLI pseudonymises ids when KEPU_ID_PEPPER is set, as deployments do
CSV_COLUMNS = ("event_id", "user_id", "item_id", "type", "timestamp")


@dataclass
class Row:
    backend: str
    path: str
    events: int
    seconds: float
    cpu_seconds: float
    events_per_s: float
    ratio: float | None = None
    server_cpu_seconds: float | None = None
    child_cpu_seconds: float | None = None


# ------------------------------------------------------------------------------------------------- data
def cached_items(cache: Path, data_dir: Path, n: int) -> list[Item]:
    path = cache / f"items_{n}.pkl"
    if not path.exists():
        items = scale_items(data_dir, n)
        path.write_bytes(pickle.dumps(items))
    return pickle.loads(path.read_bytes())


def event_files(cache: Path, items: list[Item], n: int, tag: str) -> tuple[Path, Path]:
    """JSONL and CSV files of `n` events over `items` (built once, then reused)."""
    jsonl, csv_path = cache / f"events_{tag}_{n}.jsonl", cache / f"events_{tag}_{n}.csv"
    if not jsonl.exists() or not csv_path.exists():
        events = scale_events(items, scale_users(200_000), n)
        events.write_jsonl(jsonl)
        with csv_path.open("w", encoding="utf-8") as handle:
            handle.write(",".join(CSV_COLUMNS) + "\n")
            for i in range(n):
                record = events.record(i)
                handle.write(",".join(str(record[c]) for c in CSV_COLUMNS) + "\n")
    return jsonl, csv_path


class Backend:
    """Fresh stores holding the catalog: SQLite file copies, or PostgreSQL databases from a template."""

    def __init__(self, name: str, items: list[Item], cache: Path, work: Path, pg_url: str | None) -> None:
        self.name, self.work, self.pg_url = name, work, pg_url
        self.template: str
        if name == "sqlite":
            self.template = str(cache / f"items_{len(items)}.db")
            if not Path(self.template).exists():
                _fill(f"sqlite:///{self.template}.tmp", items)
                Path(f"{self.template}.tmp").rename(self.template)
        else:
            self.template = f"kepu_bench_tpl_{uuid.uuid4().hex[:8]}"
            _admin(pg_url, f'CREATE DATABASE "{self.template}"')
            _fill(_database_url(pg_url, self.template), items)

    def fresh(self) -> str:
        if self.name == "sqlite":
            path = self.work / f"{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        name = f"kepu_bench_{uuid.uuid4().hex[:8]}"
        _admin(self.pg_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return _database_url(self.pg_url, name)


def _fill(url: str, items: list[Item]) -> None:
    with Store(url) as store:
        for lo in range(0, len(items), 20_000):
            store.upsert_items(items[lo : lo + 20_000], actor="bench")


def _admin(pg_url: str | None, sql: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


def _database_url(pg_url: str | None, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


# ------------------------------------------------------------------------------------------- measuring
def timed(work: Callable[[], int]) -> tuple[int, float, float]:
    """(count, wall s, CPU s of this process and of the children it waited for); the children's part
    is left in `timed.children` (the parser process of the new file path)."""
    wall, cpu, children = time.perf_counter(), _cpu(), _children_cpu()
    count = work()
    timed.children = _children_cpu() - children  # type: ignore[attr-defined]
    return count, time.perf_counter() - wall, _cpu() - cpu


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def file_ingest(url: str, path: Path, previous: bool = False) -> Callable[[], int]:
    def run() -> int:
        ingest = ingest_event_files
        if previous:
            from bench.ingest_previous import ingest_event_files as ingest  # type: ignore[assignment]
        with Store(url) as store:
            server = ServerCpu(store)
            report = ingest(store, [path], ids=ClientIds(PEPPER))
            server.stop()
        assert not report.rejected, report.rejected[:3]
        return report.accepted

    return run


class ServerCpu:
    """CPU seconds of the PostgreSQL server's processes (children of the postmaster serving `store`)."""

    last = 0.0

    def __init__(self, store: Store) -> None:
        self.processes: list[psutil.Process] = []
        if store.dialect == "postgresql":
            from sqlalchemy import text

            with store.engine.connect() as connection:
                backend = psutil.Process(int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one()))
            self.processes = backend.parent().children()
        self.before = self._total()

    def _total(self) -> float:
        total = 0.0
        for process in self.processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        ServerCpu.last = self._total() - self.before


def legacy_ingest(url: str, path: Path, n: int) -> Callable[[], int]:
    from bench.ingest_legacy import legacy_add_events

    def run() -> int:
        accepted = 0
        with Store(url) as store, path.open(encoding="utf-8") as handle:
            batch: list[Event] = []
            for count, line in enumerate(handle, start=1):
                batch.append(Event.model_validate(json.loads(line)))
                if len(batch) == BATCH_ROWS[store.dialect] or count == n:
                    accepted += legacy_add_events(store, batch).accepted
                    batch = []
                if count == n:
                    break
        return accepted

    return run


@contextmanager
def server(url: str, legacy: bool, work: Path) -> Iterator[tuple[str, psutil.Process]]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KEPU_STORE_URL": url,
        "KEPU_VAR_DIR": str(work / f"var-{port}"),
        "KEPU_API_KEYS": json.dumps({INGEST_KEY: "ingest"}),
        "KEPU_ENCODER": "tfidf-svd",  # start-up embeds the catalog; events never touch the encoder
    }
    if legacy:
        command = [sys.executable, str(ROOT / "bench" / "ingest_legacy.py"), "--serve", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port)]
        command += ["--host", "127.0.0.1", "--log-level", "warning"]
    log = (work / f"server-{port}.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while not _answers(base + "/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start, see {log.name}")
            time.sleep(0.5)
        yield base, psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ingest(base: str, path: Path, n: int, batch: int) -> tuple[int, float]:
    """Run the client in a second process; returns (accepted, seconds)."""
    command = [sys.executable, __file__, "--client", base, str(path), str(n), str(batch)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ}).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return int(result["accepted"]), float(result["seconds"])


def client(base: str, path: Path, n: int, batch: int) -> None:
    """POST the first `n` events of `path` in batches over one keep-alive connection; prints JSON."""
    import http.client
    from urllib.parse import urlsplit

    with path.open(encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for _, line in zip(range(n), handle, strict=False)]
    bodies = [f'{{"events":[{",".join(lines[lo : lo + batch])}]}}'.encode() for lo in range(0, len(lines), batch)]
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Content-Type": "application/json", "X-API-Key": INGEST_KEY}
    accepted = 0
    started = time.perf_counter()
    for body in bodies:
        connection.request("POST", "/v1/events", body=body, headers=headers)
        response = connection.getresponse()
        payload = json.loads(response.read())
        if response.status != 200 or payload["rejected"]:
            raise SystemExit(f"HTTP {response.status}: {str(payload)[:300]}")
        accepted += payload["accepted"]
    print(json.dumps({"accepted": accepted, "seconds": time.perf_counter() - started}))


# ------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "/work/shared/data")))
    parser.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("KEPU_BENCH_CACHE", "var/bench-cache")))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000, help="events per file-ingest row")
    parser.add_argument("--baseline-events", type=int, default=30_000)
    parser.add_argument("--http-items", type=int, default=500)
    parser.add_argument("--http-events", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="20k items, 50k events, 1 round")
    parser.add_argument("--backends", default="sqlite,postgresql", help="postgresql needs KEPU_TEST_POSTGRES_URL")
    parser.add_argument("--only", default="", help="comma-separated row prefixes to run, e.g. 'file JSONL,HTTP'")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.events, args.baseline_events, args.http_events = 20_000, 50_000, 20_000, 20_000
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    items = cached_items(args.cache_dir, args.data_dir, args.items)
    jsonl, csv_path = event_files(args.cache_dir, items, args.events, f"i{args.items}")
    http_items = items[: args.http_items]
    http_jsonl, _ = event_files(args.cache_dir, http_items, args.http_events, f"i{args.http_items}")
    pg_url = os.environ.get("KEPU_TEST_POSTGRES_URL")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kepu-bench-ingest-") as tmp:
        work = Path(tmp)
        for name in args.backends.split(","):
            if name == "postgresql" and not pg_url:
                print("skipping postgresql: KEPU_TEST_POSTGRES_URL is unset", file=sys.stderr)
                continue
            store_backend = Backend(name, items, args.cache_dir, work, pg_url)
            http_backend = Backend(name, http_items, args.cache_dir, work, pg_url)
            rows += _rounds(args, store_backend, http_backend, jsonl, csv_path, http_jsonl, work)
    _print(rows, args.json)
    return rows


def _rounds(
    args: argparse.Namespace,
    backend: Backend,
    http_backend: Backend,
    jsonl: Path,
    csv_path: Path,
    http_jsonl: Path,
    work: Path,
) -> list[Row]:
    measured: dict[str, list[tuple[int, float, float]]] = {}
    server_cpu: dict[str, list[float]] = {}
    child_cpu: dict[str, list[float]] = {}

    def add(label: str, result: tuple[int, float, float]) -> None:
        measured.setdefault(label, []).append(result)

    http_args = (http_jsonl, args, work)
    for round_no in range(args.rounds):
        batch = args.batch

        def legacy_file() -> tuple[int, float, float]:
            return timed(legacy_ingest(backend.fresh(), jsonl, args.baseline_events))

        def file_row(path: Path, previous: bool) -> tuple[int, float, float]:
            result = timed(file_ingest(backend.fresh(), path, previous))
            server_cpu.setdefault(label_of(path, previous), []).append(ServerCpu.last)
            child_cpu.setdefault(label_of(path, previous), []).append(timed.children)  # type: ignore[attr-defined]
            return result

        def label_of(path: Path, previous: bool) -> str:
            kind = "JSONL" if path.suffix == ".jsonl" else "CSV"
            return f"file {kind} previous: 9ca28c7 path" if previous else f"file {kind}: kepu events ingest"

        steps: list[tuple[str, Callable[[], tuple[int, float, float]]]] = [
            ("file baseline: json + Event + old add_events", legacy_file),
            (label_of(jsonl, True), lambda: file_row(jsonl, True)),
            (label_of(jsonl, False), lambda: file_row(jsonl, False)),
            (label_of(csv_path, True), lambda: file_row(csv_path, True)),
            (label_of(csv_path, False), lambda: file_row(csv_path, False)),
            (f"HTTP baseline: old add_events, batches of {batch}", lambda: _http(http_backend, True, *http_args)),
            (f"HTTP: POST /v1/events, batches of {batch}", lambda: _http(http_backend, False, *http_args)),
        ]
        if args.only:
            steps = [step for step in steps if step[0].startswith(tuple(args.only.split(",")))]
        if round_no % 2:
            steps.reverse()
        for label, step in steps:
            add(label, step())
            count, seconds, cpu = measured[label][-1]
            print(f"  {backend.name} round {round_no}: {label}: {count} events, {seconds:.1f} s, CPU {cpu:.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    rows = []
    for label, results in measured.items():
        events = results[0][0]
        seconds = sorted(r[1] for r in results)[len(results) // 2]
        cpu = sorted(r[2] for r in results)[len(results) // 2]
        rows.append(Row(backend.name, label, events, round(seconds, 2), round(cpu, 2), round(events / seconds)))
        if label in child_cpu:
            rows[-1].child_cpu_seconds = round(sorted(child_cpu[label])[len(child_cpu[label]) // 2], 2)
        if backend.name == "postgresql" and label in server_cpu:
            rows[-1].server_cpu_seconds = round(sorted(server_cpu[label])[len(server_cpu[label]) // 2], 2)
    by_label = {r.path: r for r in rows}
    for row in rows:
        base = _baseline_of(row.path)
        if base in by_label:
            row.ratio = round(row.events_per_s / by_label[base].events_per_s, 1)
    return rows


def _baseline_of(label: str) -> str:
    """The row a row is compared with: the new file path with the previous one, the rest with the baseline."""
    if "baseline" in label:
        return ""
    if label.endswith(": kepu events ingest"):
        return label.replace(": kepu events ingest", " previous: 9ca28c7 path")
    if label.startswith("file ") and "previous" in label:
        return "file baseline: json + Event + old add_events"
    return label.replace("HTTP: POST /v1/events", "HTTP baseline: old add_events")


def _http(backend: Backend, legacy: bool, path: Path, args: argparse.Namespace, work: Path) -> tuple[int, float, float]:
    with server(backend.fresh(), legacy, work) as (base, process):
        before = process.cpu_times()
        accepted, seconds = http_ingest(base, path, args.http_events, args.batch)
        after = process.cpu_times()
    return accepted, seconds, (after.user - before.user) + (after.system - before.system)


def _print(rows: list[Row], as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nevent ingest (load average {load}; 2 cores; one process / one uvicorn worker)\n")
    print(
        "| backend | path | events | seconds | CPU s | events/s | events per CPU s | × baseline "
        "| parser / writer CPU s | events per busier-process CPU s | server CPU s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        per_cpu = f"{r.events / r.cpu_seconds:,.0f}" if r.cpu_seconds else "–"
        ratio = f"{r.ratio}×" if r.ratio is not None else "–"
        server = "–" if r.server_cpu_seconds is None else r.server_cpu_seconds
        split, busier = "–", "–"
        if r.child_cpu_seconds is not None and r.path.startswith("file"):
            writer = r.cpu_seconds - r.child_cpu_seconds
            split = f"{r.child_cpu_seconds:.2f} / {writer:.2f}"
            busier = f"{r.events / max(writer, r.child_cpu_seconds):,.0f}"
        print(
            f"| {r.backend} | {r.path} | {r.events:,} | {r.seconds} | {r.cpu_seconds} | {r.events_per_s:,} "
            f"| {per_cpu} | {ratio} | {split} | {busier} | {server} |"
        )
    print(
        "\n× baseline: the new file rows against the 9ca28c7 path; the rest against the baseline row above them."
        "\nparser / writer: CPU of the forked parser process and of the writing process (one process: 0 / all);"
        " the busier one bounds the rate on two free cores."
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        client(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
