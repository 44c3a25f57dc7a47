"""SET-UP for `bench/train_scale.py` (never measured): SQLite stores holding 100k items, N users and N events
from `bench/scale_data.py`, bulk-loaded and cached under `--cache` (default /work/cache/trainscale, outside
the repo).

Why a bulk loader: `Store.add_events` validates, de-duplicates and checks erasures per batch (~20 s per
100k events), which would make a 10M-event store take over half an hour. The benchmark measures *training*,
so the rows are written straight into the store's tables with sqlite3 `executemany` (the schema and
indexes come from the store's migrations; the secondary indexes are re-created after the load). Items still go through
`Store.upsert_items` (it derives their search columns), once, into a base file that each size copies.
Timestamps are written the way `UTCDateTime` writes them on SQLite (naive UTC wall time).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.scale_data import (
    EVENT_TYPES,
    USER_AUDIENCES,
    ScaleEvents,
    ScaleUsers,
    scale_events,
    scale_items,
    scale_users,
)
from content_catalog.store import Store

CHUNK = 200_000
STAMP = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy's SQLite DATETIME writes a naive UTC value (what `UTCDateTime` stores)."""


def _items_store(cache: Path, data_dir: Path, n_items: int) -> Path:
    path = cache / f"items-{n_items}.sqlite"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    items = scale_items(data_dir, n_items)
    with Store(f"sqlite:///{tmp}") as store:
        for lo in range(0, len(items), 5_000):
            store.upsert_items(items[lo : lo + 5_000])
    tmp.rename(path)
    return path


def _bulk_users(conn: sqlite3.Connection, users: ScaleUsers) -> None:
    now = datetime.now(UTC).strftime(STAMP)
    for lo in range(0, users.n, CHUNK):
        rows = [
            (ScaleUsers.user_id(i), json.dumps([USER_AUDIENCES[int(users.audience[i])]]), users.age_band[i], now)
            for i in range(lo, min(lo + CHUNK, users.n))
        ]
        conn.executemany(
            "INSERT INTO users (id, audiences, age_band, town, interests, created_at, updated_at) "
            "VALUES (?, ?, ?, NULL, '[]', ?4, ?4)",
            rows,
        )


def _bulk_events(conn: sqlite3.Connection, events: ScaleEvents) -> None:
    received = datetime.now(UTC).strftime(STAMP)
    for lo in range(0, events.n, CHUNK):
        hi = min(lo + CHUNK, events.n)
        stamps = pd.to_datetime(events.timestamp[lo:hi], unit="s", utc=True).strftime(STAMP)
        rows = zip(
            (f"e{i:09d}" for i in range(lo, hi)),
            (ScaleUsers.user_id(u) for u in events.user[lo:hi].tolist()),
            (events.item_ids[it] for it in events.item[lo:hi].tolist()),
            (EVENT_TYPES[k] for k in events.type[lo:hi].tolist()),
            stamps,
            strict=True,
        )
        conn.executemany(
            "INSERT INTO events (event_id, user_id, item_id, type, timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?6)",
            ((*row, received) for row in rows),
        )


def _load(path: Path, users: ScaleUsers, events: ScaleEvents) -> None:
    """Raw sqlite3 (the schema and indexes are the store's): secondary indexes are dropped during the
    load and re-created from their saved DDL afterwards, which yields the same file far faster."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name IN ('events', 'users') AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    _bulk_users(conn, users)
    _bulk_events(conn, events)
    conn.commit()
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def build_store(cache: Path, data_dir: Path, n_items: int, n_users: int, n_events: int) -> Path:
    """The cached SQLite file for this size (built once: items, then bulk users and events)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"train-{n_items}i-{n_users}u-{n_events}e.sqlite"
    if path.exists():
        return path
    base = _items_store(cache, data_dir, n_items)
    tmp = path.with_suffix(".tmp")
    shutil.copyfile(base, tmp)
    started = time.perf_counter()
    items = scale_items(data_dir, n_items)
    users = scale_users(n_users)
    events = scale_events(items, users, n_events)
    _load(tmp, users, events)
    tmp.rename(path)
    meta = {"items": n_items, "users": n_users, "events": n_events, "setup_seconds": time.perf_counter() - started}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def scale_arrays(data_dir: Path, n_items: int, n_users: int, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) index columns of the same events, for checks."""
    items = scale_items(data_dir, n_items)
    events = scale_events(items, scale_users(n_users), n_events)
    return events.user, events.item
