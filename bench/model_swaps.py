"""Drill: model swaps under load. Hammer clients request recommendations from a real uvicorn process while an
admin cycles through activations: good (v2, v1) and bad (a corrupt copy, a bundle of another catalog).

    .venv/bin/python bench/model_swaps.py [--clients 4] [--rounds 10] [--json]

Prints one row per activation target: attempts, answers (200 / 409), and for the whole run the number of
recommendation requests, how many failed (must be 0) and which versions were served (only good ones).
Exit code 1 when a request failed, a bad version was accepted or served. The reduced CI version is
tests/test_model_swaps.py. BLAS/OpenMP pools pinned to one thread.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from content_catalog.store import Store  # noqa: E402
from tests.test_api_support import ADMIN, READER, api_settings, uvicorn_server  # noqa: E402
from tests.test_model_swaps import corrupt_copy, foreign_catalog_version  # noqa: E402

TARGETS = ("v2", "v3-corrupt", "v4-foreign", "v1")
GOOD = {"v1", "v2"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10, help="cycles through the four activation targets")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kepu-swaps-") as folder:
        work = Path(folder)
        with uvicorn_server(work, KEPU_MODEL_SYNC_SECONDS="0") as base:
            store = Store(f"sqlite:///{(work / 'served.db').as_posix()}")
            try:
                corrupt_copy(store, "v2", "v3-corrupt", work)
                foreign_catalog_version(store, "v4-foreign", work, api_settings(work))
            finally:
                store.close()
            answers: Counter[tuple[int, str | None]] = Counter()
            lock = threading.Lock()
            stop = threading.Event()

            def hammer(index: int) -> None:
                with httpx.Client(base_url=base, headers=READER, timeout=60) as http:
                    n = 0
                    while not stop.is_set():
                        params = {"session_id": f"b{index}-{n % 11}", "audience": "seniors", "k": 3}
                        response = http.get("/v1/recommendations", params=params)
                        version = response.json().get("model_version") if response.status_code == 200 else None
                        with lock:
                            answers[(response.status_code, version)] += 1
                        n += 1

            threads = [threading.Thread(target=hammer, args=(i,)) for i in range(args.clients)]
            for thread in threads:
                thread.start()
            activations: Counter[tuple[str, int]] = Counter()
            try:
                with httpx.Client(base_url=base, headers=ADMIN, timeout=120) as admin:
                    for _ in range(args.rounds):
                        for target in TARGETS:
                            activations[(target, admin.post(f"/v1/models/{target}:activate").status_code)] += 1
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
    rows = [
        {
            "target": t,
            "attempts": sum(c for (x, _), c in activations.items() if x == t),
            "200": activations[(t, 200)],
            "409": activations[(t, 409)],
        }
        for t in TARGETS
    ]
    total = sum(answers.values())
    failed = sum(c for (status, _), c in answers.items() if status != 200)
    served = sorted({v for (status, v), _ in answers.items() if status == 200 and v})
    summary = {"clients": args.clients, "requests": total, "failed": failed, "versions served": served}
    if args.json:
        print(json.dumps({"activations": rows, "load": summary}, indent=2))
    else:
        print(f"{'target':>12}  {'attempts':>8}  {'200':>5}  {'409':>5}")
        for row in rows:
            print(f"{row['target']:>12}  {row['attempts']:>8}  {row['200']:>5}  {row['409']:>5}")
        print(f"recommendation requests: {total}, failed: {failed}, versions served: {served}")
    bad_accepted = any(r["200"] for r in rows if r["target"] not in GOOD)
    return 1 if failed or bad_accepted or not set(served) <= GOOD else 0


if __name__ == "__main__":
    raise SystemExit(main())
