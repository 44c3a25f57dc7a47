"""SET-UP for `bench/train_scale.py` (never measured): SQLite stores holding 100k items, N users and N events
from `bench/scale_data.py`, bulk-loaded and cached under `--cache` (default /work/cache/trainscale, outside
the repo).

Why a bulk loader: `Store.add_events` validates, de-duplicates and checks erasures per batch (~20 s per
100k events), which would make a 10M-event store take over half an hour. The benchmark measures *training*,
so the rows are written straight into the store's tables with one `executemany` per 200k rows on the
store's own SQLAlchemy engine (the schema comes from the store's migrations). Items still go through
`Store.upsert_items` (it derives their search columns), once, into a base file that each size copies.
Timestamps are written the way `UTCDateTime` writes them on SQLite (naive UTC wall time).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from bench.scale_data import EVENT_TYPES, USER_AUDIENCES, ScaleUsers, scale_events, scale_items, scale_users
from content_catalog.store import Store
from content_catalog.store.models import EventRow, UserRow

CHUNK = 200_000


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


def _bulk_users(store: Store, users: ScaleUsers) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    table = UserRow.__table__
    with store.engine.begin() as conn:
        for lo in range(0, users.n, CHUNK):
            rows = [
                {
                    "id": ScaleUsers.user_id(i),
                    "audiences": [USER_AUDIENCES[int(users.audience[i])]],
                    "age_band": users.age_band[i],
                    "town": None,
                    "interests": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(lo, min(lo + CHUNK, users.n))
            ]
            conn.execute(insert(table), rows)


def _bulk_events(store: Store, events: object) -> None:
    table = EventRow.__table__
    received = datetime.now(UTC)
    with store.engine.begin() as conn:
        for lo in range(0, events.n, CHUNK):  # type: ignore[attr-defined]
            hi = min(lo + CHUNK, events.n)  # type: ignore[attr-defined]
            stamps = events.timestamp[lo:hi]  # type: ignore[attr-defined]
            rows = [
                {
                    "event_id": f"e{i:09d}",
                    "user_id": ScaleUsers.user_id(int(u)),
                    "session_id": None,
                    "item_id": events.item_ids[int(it)],  # type: ignore[attr-defined]
                    "type": EVENT_TYPES[int(k)],
                    "timestamp": datetime.fromtimestamp(float(ts), UTC),
                    "dwell_seconds": None,
                    "channel": None,
                    "experiment": None,
                    "position": None,
                    "received_at": received,
                }
                for i, u, it, k, ts in zip(
                    range(lo, hi),
                    events.user[lo:hi].tolist(),  # type: ignore[attr-defined]
                    events.item[lo:hi].tolist(),  # type: ignore[attr-defined]
                    events.type[lo:hi].tolist(),  # type: ignore[attr-defined]
                    stamps.tolist(),
                    strict=True,
                )
            ]
            conn.execute(insert(table), rows)


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
    with Store(f"sqlite:///{tmp}") as store:
        _bulk_users(store, users)
        _bulk_events(store, events)
    tmp.rename(path)
    meta = {"items": n_items, "users": n_users, "events": n_events, "setup_seconds": time.perf_counter() - started}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def scale_arrays(data_dir: Path, n_items: int, n_users: int, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) index columns of the same events, for checks."""
    items = scale_items(data_dir, n_items)
    events = scale_events(items, scale_users(n_users), n_events)
    return events.user, events.item
