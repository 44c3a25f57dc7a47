"""Benchmark: the dashboard's `/v1/stats` aggregates on a store with ~1M events, against baselines in the same run.

    .venv/bin/python bench/stats_queries.py                      # SQLite, 1,000,000 events
    .venv/bin/python bench/stats_queries.py --quick              # 50,000 events (a CI-sized run)
    bash .ci/with-postgres.sh .venv/bin/python bench/stats_queries.py --postgres   # SQLite and PostgreSQL

Fills a fresh store with a 2,000-item catalog, 20,000 users and SYNTHETIC events spread over 60 days
(impressions, clicks, views; 10 % anonymous sessions, 20 % labelled with a two-variant experiment), then
times each stats query (median of `--repeat` runs) and prints:
- `sql`: what the dashboard runs (`content_catalog.store.stats`). Reach and top items read the daily
  roll-up of closed days (`stats_rollup`, warm: built once before timing) plus today's events live;
  the store clock is NOW (mid-day), so half a day is always counted live;
- `live`: reach and top items counted from the events alone (`reach_by_day_live`, the pre-roll-up
  path), with `live / sql` the roll-up's gain; `first build`: the one-off count of the 30 closed days;
  `1 dirty day`: the dashboard read right after a late event lands on a closed day (that day recounted);
- `no index`: the same SQL after dropping `ix_events_stats` / `ix_events_experiment_type` (the indexes'
  gain, measured on the live path for reach and top items; PostgreSQL still has the older single-column
  indexes to fall back on);
- `pandas`: the pre-dashboard way — `events_frame()` of the window into pandas and group there (what
  `GET /v1/experiments` does today through `variant_ctr`);
and the EXPLAIN plan of every query. Threads are pinned to one (numpy/pandas), the database runs as is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# This checkout's packages first (the shared venv's editable install may point at another worktree).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.experiments import variant_ctr  # noqa: E402
from content_catalog.schema import Event, Item  # noqa: E402
from content_catalog.store import Store  # noqa: E402
from content_catalog.store.models import EventRow, UserRow  # noqa: E402
from content_catalog.taxonomy import AUDIENCES, TOPICS  # noqa: E402

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
CHANNELS = ("web", "wechat", "kiosk")
VARIANTS = ["control", "diverse"]
DASHBOARD_INDEXES = ("ix_events_stats", "ix_events_experiment_type")
CHUNK = 20_000


def fill(store: Store, n_events: int, n_users: int, n_items: int, seed: int) -> None:
    """Catalog through the store's own upsert; users and events by bulk insert (a filler, not what is timed)."""
    rng = np.random.default_rng(seed)
    audiences, topics = list(AUDIENCES), list(TOPICS)
    items = [
        Item(
            id=f"it{i:05d}",
            title=f"科普内容 {i}",
            topics=[topics[i % len(topics)], topics[(i * 7) % len(topics)]],
            audiences=[audiences[i % len(audiences)]] if i % 10 else [],
            published_at=NOW - timedelta(days=200),
            expires_at=NOW + timedelta(days=int(i % 90) + 1) if i % 5 == 0 else None,
        )
        for i in range(n_items)
    ]
    store.upsert_items(items, actor="bench")
    user_rows = [
        {
            "id": f"u{u:06d}",
            "audiences": [audiences[u % len(audiences)]],
            "interests": [],
            "created_at": NOW,
            "updated_at": NOW,
        }
        for u in range(n_users)
    ]
    with store.engine.begin() as connection:
        connection.execute(insert(UserRow.__table__), user_rows)
    popularity = rng.zipf(1.3, size=n_events) % n_items
    users = rng.integers(0, n_users, size=n_events)
    anonymous = rng.random(n_events) < 0.10
    kinds = rng.choice(["impression", "click", "view"], size=n_events, p=[0.8, 0.1, 0.1])
    seconds = rng.uniform(0, 60 * 86_400, size=n_events)
    channels = rng.choice(CHANNELS, size=n_events)
    labelled = rng.random(n_events) < 0.20
    variants = rng.choice(VARIANTS, size=n_events)
    start = NOW - timedelta(days=60)
    for lo in range(0, n_events, CHUNK):
        rows = []
        for n in range(lo, min(lo + CHUNK, n_events)):
            user = None if anonymous[n] else f"u{users[n]:06d}"
            rows.append(
                {
                    "event_id": f"e{n}",
                    "user_id": user,
                    "session_id": f"s{users[n]}-{n % 50}",
                    "item_id": f"it{popularity[n]:05d}",
                    "type": str(kinds[n]),
                    "timestamp": start + timedelta(seconds=float(seconds[n])),
                    "channel": str(channels[n]),
                    "experiment": f"bench/{variants[n]}" if labelled[n] else None,
                    "received_at": NOW,
                }
            )
        insert_events(store, rows)
    analyze(store)


EVENT_FIELDS = (
    "event_id",
    "user_id",
    "session_id",
    "item_id",
    "type",
    "timestamp",
    "channel",
    "experiment",
    "received_at",
)


def insert_events(store: Store, rows: list[dict[str, Any]]) -> None:
    """Bulk insert: COPY on PostgreSQL (executemany there would take minutes for a million rows)."""
    if store.dialect != "postgresql":
        with store.engine.begin() as connection:
            connection.execute(insert(EventRow.__table__), rows)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["" if row[f] is None else _copy_value(row[f]) for f in EVENT_FIELDS])
    buffer.seek(0)
    raw = store.engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(f"COPY events ({', '.join(EVENT_FIELDS)}) FROM STDIN WITH (FORMAT csv)", buffer)
        raw.commit()
    finally:
        raw.close()


def _copy_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def analyze(store: Store) -> None:
    """Fresh planner statistics (PostgreSQL: also the visibility map that index-only scans need)."""
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE events"))
            connection.execute(text("VACUUM ANALYZE users"))
    else:
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def drop_dashboard_indexes(store: Store) -> None:
    with store.engine.begin() as connection:
        for name in DASHBOARD_INDEXES:
            connection.execute(text(f"DROP INDEX {name}"))
    analyze(store)


def timed(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pandas_reach(store: Store) -> pd.DataFrame:
    frame = store.events_frame(since=NOW - WINDOW, until=NOW)
    frame = frame[frame["type"].isin(["impression", "click"])]
    frame = frame.assign(day=frame["timestamp"].dt.strftime("%Y-%m-%d"))
    per_user = frame.groupby(["day", "channel", "user_id", "type"], dropna=False).size().reset_index(name="n")
    audiences = pd.DataFrame([(u.id, ",".join(u.audiences)) for u in _users(store)], columns=["user_id", "audiences"])
    joined = per_user.merge(audiences, on="user_id", how="left")
    return joined.groupby(["day", "audiences", "channel", "type"], dropna=False)["n"].sum()


def pandas_top(store: Store) -> pd.Series:
    frame = store.events_frame(since=NOW - WINDOW, until=NOW)
    frame = frame[frame["type"].isin(["impression", "click"])]
    return frame.groupby(["user_id", "item_id", "type"], dropna=False).size()


def _users(store: Store) -> list[UserRow]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(store.engine) as session:
        return list(session.scalars(select(UserRow)))


def queries(store: Store) -> dict[str, Callable[[], Any]]:
    since = NOW - WINDOW
    return {
        "coverage (heatmap + review lists)": lambda: store.catalog_coverage(at=NOW),
        "reach per day × audience × channel": lambda: store.reach_by_day(since, NOW),
        "top items per audience": lambda: store.top_items_by_audience(since, NOW, k=5),
        "experiment CTR per variant": lambda: store.experiment_counts("bench", VARIANTS, since=since),
    }


BASELINES: dict[str, Callable[[Store], Any]] = {
    "reach per day × audience × channel": pandas_reach,
    "top items per audience": pandas_top,
    "experiment CTR per variant": lambda s: variant_ctr(s.events_frame(since=NOW - WINDOW), "bench", VARIANTS),
}


LIVE: dict[str, Callable[[Store], Any]] = {
    "reach per day × audience × channel": lambda s: s.reach_by_day_live(NOW - WINDOW, NOW),
    "top items per audience": lambda s: s.top_items_by_audience_live(NOW - WINDOW, NOW, k=5),
}


def late_event_then(store: Store, run: Callable[[], Any]) -> Callable[[], Any]:
    """A dashboard read right after one late click lands on a closed day (that day must be recounted)."""
    counter = iter(range(10**9))

    def go() -> Any:
        n = next(counter)
        at = NOW - timedelta(days=2 + n % 20, hours=3)
        store.add_events([Event(event_id=f"late{n}", user_id="u000001", item_id="it00001", type="click", timestamp=at)])
        return run()

    return go


def timed_inline(run: Callable[[], Any]) -> float:
    """Milliseconds of one run."""
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


def plans(store: Store) -> dict[str, list[str]]:
    since = NOW - WINDOW
    return {
        "reach": store.explain(store.reach_query(since, NOW)),
        "top items": store.explain(store.top_items_query(since, NOW)),
        "experiment": store.explain(store.experiment_query([f"bench/{v}" for v in VARIANTS], since)),
    }


def run_backend(url: str, args: argparse.Namespace) -> dict[str, Any]:
    store = Store(url, clock=lambda: NOW)
    try:
        started = time.perf_counter()
        fill(store, args.events, args.users, args.items, args.seed)
        fill_seconds = time.perf_counter() - started
        build_ms = timed_inline(lambda: store.refresh_stats_rollup(NOW - WINDOW, NOW))
        in_window = store.reach_by_day(NOW - WINDOW, NOW)
        assert in_window == store.reach_by_day_live(NOW - WINDOW, NOW), "roll-up and live query disagree"
        top = store.top_items_by_audience(NOW - WINDOW, NOW, k=5)
        assert top == store.top_items_by_audience_live(NOW - WINDOW, NOW, k=5), "roll-up and live query disagree"
        result: dict[str, Any] = {
            "backend": store.dialect,
            "events": store.count_events(),
            "reach_events_in_window": sum(r.impressions + r.clicks for r in in_window),
            "fill_seconds": round(fill_seconds, 1),
            "rollup_build_ms": build_ms,
            "plans": plans(store),
            "rows": {},
        }
        for name, run in queries(store).items():
            result["rows"][name] = {"sql_ms": timed(run, args.repeat)}
        for name, live in LIVE.items():
            result["rows"][name]["live_ms"] = timed(lambda b=live: b(store), args.repeat)
            dashboard = queries(store)[name]
            result["rows"][name]["dirty_ms"] = timed(late_event_then(store, dashboard), args.repeat)
        for name, baseline in BASELINES.items():
            result["rows"][name]["pandas_ms"] = timed(lambda b=baseline: b(store), max(1, args.repeat // 2))
        drop_dashboard_indexes(store)
        for name, run in queries(store).items():
            slow = LIVE.get(name)
            run = (lambda b=slow: b(store)) if slow else run
            result["rows"][name]["no_index_ms"] = timed(run, max(1, args.repeat // 2) if slow else args.repeat)
        return result
    finally:
        store.close()


def postgres_url() -> tuple[str, Callable[[], None]]:
    """A fresh database on KEPU_TEST_POSTGRES_URL's server, and how to drop it."""
    raw = os.environ.get("KEPU_TEST_POSTGRES_URL")
    if not raw:
        raise SystemExit("--postgres needs KEPU_TEST_POSTGRES_URL (run under .ci/with-postgres.sh)")
    base = make_url(raw)
    name = f"kepu_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\n## {result['backend']}: {result['events']:,} events, {result['reach_events_in_window']:,} impressions"
        f"+clicks in the 30-day window (filled in {result['fill_seconds']} s; first roll-up build of the 30 "
        f"closed days {result['rollup_build_ms'] / 1000:,.1f} s)\n"
    )
    print(
        "| query | sql (ms) | live query, pre-roll-up (ms) | live / sql | after a late event: 1 dirty day (ms) "
        "| no dashboard index (ms) | pandas over events_frame (ms) | vs pandas |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in result["rows"].items():
        sql, no_index, pandas_ms = row["sql_ms"], row["no_index_ms"], row.get("pandas_ms")
        live, dirty = row.get("live_ms"), row.get("dirty_ms")
        vs = f"{pandas_ms / sql:.1f}×" if pandas_ms else "–"
        pandas_text = f"{pandas_ms:,.0f}" if pandas_ms else "–"
        live_text, gain = (f"{live:,.1f}", f"{live / sql:.0f}×") if live else ("–", "–")
        dirty_text = f"{dirty:,.1f}" if dirty else "–"
        print(f"| {name} | {sql:,.1f} | {live_text} | {gain} | {dirty_text} | {no_index:,.1f} | {pandas_text} | {vs} |")
    for name, plan in result["plans"].items():
        print(f"\nEXPLAIN {name} ({result['backend']}):")
        print("\n".join(f"    {line}" for line in plan))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="50,000 events, 2,000 users, 3 repeats")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (KEPU_TEST_POSTGRES_URL)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.users, args.repeat = 50_000, 2_000, 3
    results = []
    with tempfile.TemporaryDirectory(prefix="kepu-bench-stats-") as folder:
        results.append(run_backend(f"sqlite:///{Path(folder) / 'bench.db'}", args))
    if args.postgres:
        url, drop = postgres_url()
        try:
            results.append(run_backend(url, args))
        finally:
            drop()
    for result in results:
        print_table(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
