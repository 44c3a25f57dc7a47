"""Benchmark: what the personal-information machinery costs, each as a ratio against a baseline measured
in the same run (SQLite store under a temp folder, demo catalog, simulated events).

    .venv/bin/python bench/privacy_costs.py [--quick]

1. `RecommendationService.recommend` for known users (first page, k=10) with the erasure checks
   (`recommender.forgetting`: one tombstone look-up before ranking, one after paging) vs the same service
   with them switched off.
2. `Store.add_events` (batches of 500 events of 50 users) with the tombstone filter vs the bare insert,
   with 0 and 10,000 tombstones in `erasures`.
3. `Store.erase_user` for a user with 1,000 events and 2 sessions (one erasure's wall time).
4. `Store.purge_before` of 20,000 old events: batches of 1,000 rows vs one single transaction.

Threads pinned to one (set before numpy loads). Events are SIMULATED: they shape the model, not the timings.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy loads its thread pools

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from content_catalog.demo_catalog import load_demo_items  # noqa: E402
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder  # noqa: E402
from content_catalog.schema import Event, User  # noqa: E402
from content_catalog.store import Store  # noqa: E402
from content_catalog.store.models import ErasureRow  # noqa: E402
from content_catalog.vector_index import VectorIndex  # noqa: E402
from features.simulator import simulate  # noqa: E402
from recommender.forgetting import Forgetting  # noqa: E402
from recommender.service import RecommendationRequest, RecommendationService  # noqa: E402
from recommender.train import TrainParams, train_bundle  # noqa: E402

DIM = 64
T_OLD = datetime(2024, 1, 1, tzinfo=UTC)


def clock(call: Callable[[], object], repeats: int) -> np.ndarray:
    """Wall time of each call, in milliseconds."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1e3)
    return np.asarray(out)


def paired(
    baseline: Callable[[], object], measured: Callable[[], object], repeats: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both calls timed alternately (load on a shared machine hits both alike): (baseline, measured) ms."""
    pairs = [(clock(baseline, 1)[0], clock(measured, 1)[0]) for _ in range(repeats)]
    return np.asarray([a for a, _ in pairs]), np.asarray([b for _, b in pairs])


def row(name: str, measured: np.ndarray, baseline: np.ndarray | None = None) -> None:
    p50 = float(np.median(measured))
    ratio = "" if baseline is None else f"{p50 / float(np.median(baseline)):.2f}x"
    print(f"| {name} | {p50:.3f} | {float(np.percentile(measured, 95)):.3f} | {ratio} |")


def events(prefix: str, users: list[str], per_user: int, at: datetime, item_id: str) -> list[Event]:
    """`per_user` view events of each user, all at `at`."""
    return [
        Event.model_validate(
            {"event_id": f"{prefix}-{u}-{i}", "user_id": u, "item_id": item_id, "type": "view", "timestamp": at}
        )
        for u in users
        for i in range(per_user)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (CI smoke run)")
    args = parser.parse_args()
    repeats = 10 if args.quick else 60
    root = Path(tempfile.mkdtemp(prefix="kepu-bench-privacy-"))
    store = Store(f"sqlite:///{root / 'kepu.db'}")
    items = load_demo_items()
    item = items[0].id
    store.upsert_items(items)
    users, simulated = simulate(items, n_users_per_audience=5, days=14, seed=1)
    for user in users:
        store.upsert_user(user)
    store.add_events(simulated)
    now = max(e.timestamp for e in simulated) + timedelta(hours=1)
    encoder = TfidfSvdEncoder(dim=DIM, smoothing_neighbours=0).fit([it.text for it in items])
    params = TrainParams(no_components=16, epochs=5, n_text_clusters=8, holdout_fraction=0.0)
    bundle = train_bundle(store, encoder, root / "models", seed=1, params=params, version="bench")
    index = VectorIndex(DIM)
    index.add([it.id for it in items], encoder.encode([it.text for it in items]))

    print("| what | p50 ms | p95 ms | vs baseline |")
    print("| --- | --- | --- | --- |")
    # 1. recommend with and without the erasure checks
    checked = RecommendationService(store, bundle, encoder, index)
    unchecked = RecommendationService(store, bundle, encoder, index)
    unchecked._forgetting = Forgetting(None)  # baseline: no tombstone look-ups
    known = [u.id for u in users]

    def ask(service: RecommendationService) -> Callable[[], object]:
        counter = iter(range(10**9))
        return lambda: service.recommend(
            RecommendationRequest(user_id=known[next(counter) % len(known)], k=10, now=now)
        )

    for service in (checked, unchecked):  # warm both (catalog view, caches)
        clock(ask(service), 3)
    base, measured = paired(ask(unchecked), ask(checked), repeats)
    row("recommend, known user: without erasure checks (baseline)", base)
    row("recommend, known user: with erasure checks", measured, base)

    # 2. add_events with the tombstone filter vs the bare insert
    batch_users = [f"bench-u{i}" for i in range(50)]
    counter = iter(range(10**9))

    def add(target: Store) -> Callable[[], object]:
        return lambda: target.add_events(events(f"b{next(counter)}", batch_users, 10, now, item))

    bare = Store(store.url)
    bare._without_erased = lambda _session, rows: rows  # type: ignore[method-assign]  # baseline
    base, measured = paired(add(bare), add(store), repeats // 2)
    row("add_events 500: bare insert (baseline)", base)
    row("add_events 500: with the tombstone filter, 0 tombstones", measured, base)
    with store.engine.begin() as connection:  # 10,000 tombstones of other people (random-looking hashes)
        connection.execute(
            ErasureRow.__table__.insert(), [{"subject": f"{n:064x}", "erased_at": now} for n in range(10_000)]
        )
    base, measured = paired(add(bare), add(store), repeats // 2)
    row("add_events 500: with the tombstone filter, 10,000 tombstones", measured, base)

    # 3. one erasure of a user with 1,000 events and 2 sessions
    def erase_one() -> Callable[[], object]:
        names = iter(range(10**9))

        def run() -> None:
            user = f"erase-{next(names)}"
            store.upsert_user(User(id=user, sessions=[f"{user}-a", f"{user}-b"]))
            store.add_events(events(user, [user], 1_000, now, item))
            start = time.perf_counter()
            store.erase_user(user, actor="bench")
            timings.append((time.perf_counter() - start) * 1e3)

        return run

    timings: list[float] = []
    for _ in range(max(3, repeats // 10)):
        erase_one()()
    row("erase_user, 1,000 events + 2 sessions", np.asarray(timings))

    # 4. purge 20,000 old events: batches of 1,000 vs one transaction
    def purge(batch: int) -> np.ndarray:
        out = []
        for attempt in range(3):
            store.add_events(events(f"old{batch}-{attempt}", [f"old-u{i}" for i in range(20)], 1_000, T_OLD, item))
            start = time.perf_counter()
            store.purge_before(T_OLD + timedelta(days=1), batch_size=batch, now=now)
            out.append((time.perf_counter() - start) * 1e3)
        return np.asarray(out)

    base = purge(20_000)
    row("purge 20,000 events: one transaction (baseline)", base)
    row("purge 20,000 events: batches of 1,000", purge(1_000), base)
    store.close()
    bare.close()


if __name__ == "__main__":
    main()
