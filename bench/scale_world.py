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

import argparse
import json
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, update

from api.settings import ApiSettings
from bench.scale_data import EVENT_TYPES, ScaleEvents, ScaleUsers, scale_events, scale_items, scale_users
from bench.serve_support import LOAD_TEST_SETTINGS
from content_catalog.catalog_index import CatalogIndex, encoder_slug
from content_catalog.encoders import load_encoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.schema import Item, User
from content_catalog.store import Store
from content_catalog.store.models import EventRow, ModelVersionRow, UserRow, VectorIndexVersionRow
from recommender.mapped_ids import SortedIds
from recommender.registry import activate, register
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
    stack: str = "LightFM 1 epoch × 32 comp.; encoder tfidf-svd dim 64, no smoothing"

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


def world_at(var_dir: Path) -> World:
    """A built world in any folder (e.g. a private copy of a cached one, so serving it writes only there)."""
    done = var_dir / DONE
    if not done.is_file():
        raise SystemExit(f"{var_dir}: not a built world (no {DONE})")
    meta = json.loads(done.read_text(encoding="utf-8"))
    named = f"{meta.get('key', '')} {var_dir} {var_dir.resolve()}"
    m = re.search(r"items(\d+)-users(\d+)-events(\d+)", named)
    if m is None:
        raise SystemExit(f"{var_dir}: sizes unknown: name it items<N>-users<N>-events<N> or add 'key' to {DONE}")
    n_items, n_users, n_events = (int(g) for g in m.groups())
    return World(var_dir, n_items, n_users, n_events, meta["build_seconds"], meta.get("stack", World.stack))


def chosen_world(args: argparse.Namespace) -> World:
    """The world a benchmark's arguments name: `--world DIR` (a built world in any folder; `args.items` and
    `args.users` are set from it) or the cached world of `--items/--users/--events`, built when missing."""
    if args.world is not None:
        world = world_at(args.world)
        args.items, args.users = world.n_items, world.n_users
        return world
    return build_world(args.data_dir, args.items, args.users, args.events, args.cache)


def build_world(
    data_dir: Path, n_items: int, n_users: int, n_events: int, cache: Path = DEFAULT_CACHE, log=print
) -> World:
    """The cached world for these sizes, built when missing (minutes at 100k items / 1M users)."""
    var_dir = cache / world_key(n_items, n_users, n_events)
    done = var_dir / DONE
    if done.is_file():
        meta = json.loads(done.read_text(encoding="utf-8"))
        return World(var_dir, n_items, n_users, n_events, meta["build_seconds"], meta.get("stack", World.stack))
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


def adopt_world(
    store_file: Path,
    index_folder: Path,
    bundle_folder: Path,
    sizes: tuple[int, int, int],
    stack: str,
    cache: Path = DEFAULT_CACHE,
    log=print,
) -> World:
    """A world from parts that other benchmarks already built (a store, its saved catalog index, a trained
    bundle), copied under `cache` so serving it never writes into their caches.

    Why: a 100k-item / 1M-user world from scratch costs ~1 h of `tfidf-svd` fitting plus training on this
    machine, while `bench/train_scale_setup.py` + `kepu catalog embed` + `kepu train` leave exactly those parts
    behind. The copy is what `kepu serve` loads: the store's index and model rows are re-pointed at the
    copies, the model is activated through `recommender.registry.activate` (checksums verified), and the
    store is migrated to head on open. `index_folder` must be registered in the store (same catalog version).
    """
    n_items, n_users, n_events = sizes
    var_dir = cache / world_key(n_items, n_users, n_events)
    if (var_dir / DONE).is_file():
        return build_world(Path("."), n_items, n_users, n_events, cache, log)
    if var_dir.exists():
        raise SystemExit(f"{var_dir}: a half-built world (no {DONE}); delete it and run again")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    var_dir.mkdir(parents=True)
    shutil.copyfile(store_file, var_dir / "kepu.db")
    index_copy = var_dir / "index" / encoder_slug(ENCODER) / index_folder.name
    shutil.copytree(index_folder, index_copy)
    bundle_copy = var_dir / "models" / bundle_folder.name
    shutil.copytree(bundle_folder, bundle_copy)
    seconds["copy"] = round(time.perf_counter() - clock, 1)
    log(f"  copy: {seconds['copy']} s")
    clock = time.perf_counter()
    world = World(var_dir, n_items, n_users, n_events, seconds, stack)
    store = Store(world.store_url)  # migrates to head
    try:
        with store.engine.begin() as connection:
            moved = connection.execute(
                update(VectorIndexVersionRow)
                .where(VectorIndexVersionRow.catalog_version == index_folder.name)
                .values(path=str(index_copy.resolve()))
            ).rowcount
            if moved != 1:
                raise SystemExit(f"{store_file}: no vector index version {index_folder.name!r} registered")
            connection.execute(
                update(ModelVersionRow)
                .where(ModelVersionRow.version == bundle_folder.name)
                .values(path=str(bundle_copy.resolve()))
            )
        activate(store, bundle_folder.name)
    finally:
        store.close()
    seconds["migrate + activate"] = round(time.perf_counter() - clock, 1)
    log(f"  migrate + activate: {seconds['migrate + activate']} s")
    adopted = [str(store_file), str(index_folder), str(bundle_folder)]
    meta = {"build_seconds": seconds, "stack": stack, "adopted": adopted}
    (var_dir / DONE).write_text(json.dumps(meta), encoding="utf-8")
    return world


def reshare_encoder(world: World) -> list[Path]:
    """Re-save the world's saved encoder parts in the current layout (`TfidfSvdEncoder.save`: arrays that a
    memory-mapped load serves without private copies), as the next `kepu catalog embed` would; each file is
    replaced atomically, so a running server keeps its mapping of the old one."""
    done: list[Path] = []
    for folder in sorted((world.var_dir / "index").glob("*/*/encoder")):
        staging = folder.with_name(".encoder.reshare")
        shutil.rmtree(staging, ignore_errors=True)
        load_encoder(folder).save(staging)
        for part in staging.iterdir():
            part.replace(folder / part.name)
        staging.rmdir()
        done.append(folder)
    return done


def users_sample(world: World, n: int) -> list[User]:
    """A few trained users (deterministic) for request scripts: spread over all users, keeping only those
    with a row in the active bundle (an adopted world's model may not cover every registered user)."""
    users = scale_users(world.n_users)
    trained = _trained_user_ids(world)
    picked: list[User] = []
    for i in np.linspace(0, world.n_users - 1, 4 * n, dtype=np.int64):
        if trained is None or ScaleUsers.user_id(int(i)) in trained:
            picked.append(users.user(int(i)))
    return picked[:: max(1, len(picked) // n)][:n]


def _trained_user_ids(world: World) -> SortedIds | None:
    """The active bundle's mapped user ids, or None for an older bundle without them."""
    models = sorted((world.var_dir / "models").glob("*/user_ids.keys.npy"))
    return SortedIds.load(models[-1].parent, "user_ids") if models else None


def served_env(world: World, **extra: str) -> dict[str, str]:
    """KEPU_* for a benchmark server over `world`: public reads without rate limits, single-threaded BLAS."""
    return {
        **world.env(),
        **LOAD_TEST_SETTINGS,
        "KEPU_API_KEYS": json.dumps({"bench-admin-key": "admin"}),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **extra,
    }


def settings_for(world: World) -> ApiSettings:
    return ApiSettings(store_url=world.store_url, var_dir=world.var_dir, encoder=ENCODER, encoder_dim=ENCODER_DIM)


def main(argv: list[str] | None = None) -> int:
    """`--adopt STORE INDEX BUNDLE`: make the world for `--items/--users/--events` from built parts."""

    parser = argparse.ArgumentParser(description="build or adopt a cached benchmark world")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--adopt", nargs=3, type=Path, metavar=("STORE", "INDEX", "BUNDLE"))
    parser.add_argument("--reshare-encoder", action="store_true", help="re-save the encoder in the mapped layout")
    parser.add_argument("--stack", default=World.stack, help="what the adopted index and model are (for tables)")
    args = parser.parse_args(argv)
    sizes = (args.items, args.users, args.events)
    if args.adopt:
        world = adopt_world(*args.adopt, sizes, args.stack, args.cache)
    else:
        world = build_world(args.data_dir, *sizes, args.cache)
    if args.reshare_encoder:
        print(f"re-saved: {', '.join(str(f) for f in reshare_encoder(world))}")
    print(f"{world.var_dir}: {world.build_seconds}; {world.stack}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
