"""Benchmark/drill: no acknowledged event lost, none doubled, across SIGKILLs of the server.

    .venv/bin/python bench/durability.py [--clients 16] [--events 50000] [--kills 3] [--postgres-url URL] [--json]
    bash .ci/with-postgres.sh .venv/bin/python bench/durability.py   # PostgreSQL too (KEPU_TEST_POSTGRES_URL)

`--clients` threads post batches of 25 events (10% repeats of earlier events, some in-batch doubles, 10% replays
of acknowledged batches) to a real `uvicorn api.app:create_app --factory` process on a fresh store holding the
test catalog; the process is SIGKILLed `--kills` times at even points of the run and restarted on the same
store, and every client re-sends a batch until it is answered 200. Prints one row per store: events sent,
POSTs (with retries), acknowledged, stored, lost, doubled. Lost and doubled must be 0 (exit code 1 otherwise).
The reduced CI version is tests/test_durability.py. Threads: BLAS/OpenMP pools pinned to 1 in the server.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from content_catalog.store import Store  # noqa: E402
from tests.durability_drill import DrillResult, run_drill  # noqa: E402
from tests.test_api_support import catalog_items  # noqa: E402

BATCH_SIZE = 25


def fresh_store(url: str) -> str:
    store = Store(url)
    store.upsert_items(catalog_items(), actor="bench")
    store.close()
    return url


def postgres_database(server_url: str) -> tuple[str, object]:
    """A new database on the server; returns its URL and a function dropping it."""
    base = make_url(server_url)
    name = f"kepu_drill_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def print_table(results: list[DrillResult]) -> None:
    rows = [r.as_row() for r in results]
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).rjust(w) for c, w in zip(columns, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--events", type=int, default=50_000, help="events to generate (before replays)")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--postgres-url", default=os.environ.get("KEPU_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    batches = max(1, args.events // (args.clients * BATCH_SIZE))
    results: list[DrillResult] = []
    with tempfile.TemporaryDirectory(prefix="kepu-drill-") as folder:
        work = Path(folder)
        url = fresh_store(f"sqlite:///{(work / 'drill.db').as_posix()}")
        results.append(
            run_drill(
                url,
                work / "sqlite",
                backend="sqlite",
                clients=args.clients,
                batches_per_client=batches,
                batch_size=BATCH_SIZE,
                kills=args.kills,
            )
        )
        if args.postgres_url:
            url, drop = postgres_database(args.postgres_url)
            try:
                fresh_store(url)
                results.append(
                    run_drill(
                        url,
                        work / "postgres",
                        backend="postgres",
                        clients=args.clients,
                        batches_per_client=batches,
                        batch_size=BATCH_SIZE,
                        kills=args.kills,
                    )
                )
            finally:
                drop()  # type: ignore[operator]
        else:
            print("PostgreSQL skipped: set KEPU_TEST_POSTGRES_URL or --postgres-url", file=sys.stderr)
    if args.json:
        print(json.dumps([r.as_row() for r in results], indent=2))
    else:
        print_table(results)
    broken = [r for r in results if r.lost or r.doubled or r.unacknowledged_stored or r.acknowledged != r.stored]
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
