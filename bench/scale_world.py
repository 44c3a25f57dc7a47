"""A served world at scale for the replica, memory and scaling benchmarks: a SQLite store with N items
(real CSL text recombined, `bench/scale_data.py`), U users and E events (SYNTHETIC), a saved catalog index
and one trained, active model bundle, all in a var folder that `kepu serve` / uvicorn can serve as is.

Built once per (items, users, events) and cached (default `/work/cache/replicas`, or `--cache`), because a
100k-item / 1M-user world takes minutes. What is cheap on purpose, and said in every table:
- encoder: `tfidf-svd` (dim 64) WITHOUT neighbour smoothing (`smoothing_neighbours=0`), fitted once;
- model: LightFM with `epochs=1`, 32 components, no validation split (the fallback blend): the arrays have
  the served shapes (1M user rows), the ranking quality is irrelevant here;
- events: every user gets one event (so every user has a trained row) plus `events - users` drawn by
  `scale_events` (heavy-tailed users, popular items);
- users and events: bulk INSERTs into their tables (valid by construction; 1M `upsert_user` calls take
  ~an hour and `add_events` validates ~3k events/s on a loaded 2-core machine).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert

from api.settings import ApiSettings
from bench.scale_data import EVENT_TYPES, ScaleEvents, ScaleUsers, scale_events, scale_items, scale_users
from content_catalog.catalog_index import CatalogIndex, encoder_slug
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.schema import Item, User
from content_catalog.store import Store
from content_catalog.store.models import EventRow, UserRow
from recommender.registry import register
from recommender.train import TrainParams, train_bundle_from_data

DEFAULT_CACHE = Path("/work/cache/replicas")
ENCODER = "tfidf-svd"
ENCODER_DIM = 64
MODEL_PARAMS = TrainParams(no_components=32, epochs=1, holdout_fraction=0.0, n_text_clusters=8)
DONE = "world.json"


@dataclass(frozen=True)
class World:
    """A built world: its var folder (store `kepu.db`, `index/`, `models/`) and what it holds."""

    var_dir: Path
    n_items: int
    n_users: int
    n_events: int
    build_seconds: dict[str, float]

    @property
    def store_url(self) -> str:
        return f"sqlite:///{(self.var_dir / 'kepu.db').as_posix()}"

    def env(self) -> dict[str, str]:
        """KEPU_* variables that serve this world."""
        return {
            "KEPU_STORE_URL": self.store_url,
            "KEPU_VAR_DIR": str(self.var_dir),
            "KEPU_ENCODER": ENCODER,
            "KEPU_ENCODER_DIM": str(ENCODER_DIM),
        }

    def item_ids(self, limit: int) -> list[str]:
        return [f"scale-{i:06d}" for i in range(min(limit, self.n_items))]


def world_key(n_items: int, n_users: int, n_events: int) -> str:
    return f"items{n_items}-users{n_users}-events{n_events}"


def _events_with_every_user(items: list[Item], users: ScaleUsers, n_events: int) -> ScaleEvents:
    """One event per user (oldest), then `n_events - n_users` heavy-tailed draws."""
    drawn = scale_events(items, users, max(n_events - users.n, 0))
    rng = np.random.default_rng(7)
    first_item = rng.integers(0, len(items), size=users.n).astype(np.int32)
    start = float(drawn.timestamp[0]) - 86_400.0 if drawn.n else datetime.now(UTC).timestamp()
    return ScaleEvents(
        user=np.concatenate([np.arange(users.n, dtype=np.int32), drawn.user]),
        item=np.concatenate([first_item, drawn.item]),
        type=np.concatenate([np.zeros(users.n, dtype=np.int8), drawn.type]),
        timestamp=np.concatenate([np.full(users.n, start), drawn.timestamp]),
        item_ids=drawn.item_ids,
    )


def _events_frame(events: ScaleEvents) -> pd.DataFrame:
    """The events as `Store.events_frame` returns them (what `kepu train` reads)."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i:09d}" for i in range(events.n)],
            "user_id": [ScaleUsers.user_id(int(u)) for u in events.user],
            "session_id": None,
            "item_id": np.asarray(events.item_ids, dtype=object)[events.item],
            "type": np.asarray(EVENT_TYPES, dtype=object)[events.type],
            "timestamp": pd.to_datetime(events.timestamp, unit="s", utc=True),
            "dwell_seconds": None,
            "channel": None,
            "experiment": None,
            "position": None,
        }
    )


def _bulk_users(store: Store, users: ScaleUsers) -> None:
    now = datetime.now(UTC)
    audiences = ("public", "youth", "farmers", "workers", "seniors", "officials")
    engine = store.engine
    for lo in range(0, users.n, 100_000):
        rows = [
            {
                "id": ScaleUsers.user_id(i),
                "audiences": [audiences[int(users.audience[i])]],
                "age_band": users.age_band[i],
                "town": None,
                "interests": [],
                "created_at": now,
                "updated_at": now,
            }
            for i in range(lo, min(lo + 100_000, users.n))
        ]
        with engine.begin() as connection:
            connection.execute(insert(UserRow), rows)


def _bulk_events(store: Store, events: ScaleEvents) -> None:
    """Events inserted in bulk (already valid by construction; `add_events` validates each one, ~3k/s here)."""
    now = datetime.now(UTC)
    item_ids = np.asarray(events.item_ids, dtype=object)
    for lo in range(0, events.n, 100_000):
        hi = min(lo + 100_000, events.n)
        rows = [
            {
                "event_id": f"e{i:09d}",
                "user_id": ScaleUsers.user_id(int(events.user[i])),
                "item_id": item_ids[events.item[i]],
                "type": EVENT_TYPES[int(events.type[i])],
                "timestamp": datetime.fromtimestamp(float(events.timestamp[i]), UTC),
                "received_at": now,
            }
            for i in range(lo, hi)
        ]
        with store.engine.begin() as connection:
            connection.execute(insert(EventRow), rows)


def build_world(
    data_dir: Path, n_items: int, n_users: int, n_events: int, cache: Path = DEFAULT_CACHE, log=print
) -> World:
    """The cached world for these sizes, built when missing (minutes at 100k items / 1M users)."""
    var_dir = cache / world_key(n_items, n_users, n_events)
    done = var_dir / DONE
    if done.is_file():
        meta = json.loads(done.read_text(encoding="utf-8"))
        return World(var_dir, n_items, n_users, n_events, meta["build_seconds"])
    if var_dir.exists():
        raise SystemExit(f"{var_dir}: a half-built world (no {DONE}); delete it and run again")
    var_dir.mkdir(parents=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name] = round(time.perf_counter() - clock, 1)
        log(f"  {name}: {seconds[name]} s")
        clock = time.perf_counter()

    world = World(var_dir, n_items, n_users, n_events, seconds)
    store = Store(world.store_url)
    try:
        items = scale_items(data_dir, n_items)
        for lo in range(0, len(items), 10_000):
            store.upsert_items(items[lo : lo + 10_000], actor="bench")
        lap("items")
        users = scale_users(n_users)
        _bulk_users(store, users)
        lap("users")
        events = _events_with_every_user(items, users, n_events)
        _bulk_events(store, events)
        lap("events")
        stored = list(store.iter_items())
        encoder = TfidfSvdEncoder(dim=ENCODER_DIM, random_state=42, smoothing_neighbours=0)
        version = store.catalog_version()
        catalog = CatalogIndex.build(stored, encoder, catalog_version=version)
        folder = catalog.save(var_dir / "index" / encoder_slug(ENCODER) / version)
        store.add_vector_index_version(ENCODER, version, str(folder.resolve()), len(catalog.index))
        lap("catalog index")
        people = [users.user(i) for i in range(users.n)]
        bundle = train_bundle_from_data(
            stored,
            _events_frame(events),
            people,
            catalog.encoder,
            var_dir / "models",
            params=MODEL_PARAMS,
            version="scale-v1",
            encoder_spec=ENCODER,
            model="lightfm",
            now=datetime.fromtimestamp(float(events.timestamp[-1]), UTC) + timedelta(hours=1),
        )
        register(store, bundle)
        store.activate_model_version(bundle.version)
        lap("train (lightfm, 1 epoch)")
    finally:
        store.close()
    done.write_text(json.dumps({"build_seconds": seconds}), encoding="utf-8")
    return world


def users_sample(world: World, n: int) -> list[User]:
    """A few trained users (deterministic) for request scripts."""
    users = scale_users(world.n_users)
    return [users.user(i) for i in np.linspace(0, world.n_users - 1, n, dtype=np.int64)]


def served_env(world: World, **extra: str) -> dict[str, str]:
    """KEPU_* for a benchmark server over `world`: public reads without rate limits, single-threaded BLAS."""
    return {
        **world.env(),
        "KEPU_PUBLIC_READS": "true",
        "KEPU_PUBLIC_READS_PER_MINUTE": "0",
        "KEPU_RETENTION_INTERVAL_SECONDS": "0",
        "KEPU_API_KEYS": json.dumps({"bench-admin-key": "admin"}),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **extra,
    }


def settings_for(world: World) -> ApiSettings:
    return ApiSettings(store_url=world.store_url, var_dir=world.var_dir, encoder=ENCODER, encoder_dim=ENCODER_DIM)
