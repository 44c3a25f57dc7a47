"""Cached large catalogs for `bench/catalog_changes.py`: a SQLite store with N SYNTHETIC items (real CSL
text, `bench/scale_data.py`), its saved catalog index and one trained, active model bundle.

Why cached: fitting the encoder, indexing and training at 100k items take minutes, and the catalog
benchmark measures what happens *after* (writes, restarts, /similar), not the build. The encoder is
TF-IDF+SVD without neighbour smoothing (cheap to build; the smoothing cost is measured separately).
Build once (idempotent)::

    PYTHONPATH=$PWD .venv/bin/python bench/catalog_data.py --items 100000 [--cache /work/cache/catalog]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from pathlib import Path

from content_catalog.catalog_index import CatalogIndex, encoder_slug
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.store import Store

ENCODER_SPEC = "tfidf-svd"
ENCODER_DIM = 64
N_USERS = 3_000
N_EVENTS = 60_000
VERSION = "bench-catalog"


def var_dir(cache: Path, n_items: int) -> Path:
    return cache / f"n{n_items}" / "var"


def build(data_dir: Path, cache: Path, n_items: int) -> Path:
    """Build (or reuse) the cached var folder for `n_items` items; returns it."""
    var = var_dir(cache, n_items)
    if (var.parent / "DONE").is_file():
        return var
    if var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True)
    from bench.scale_data import scale_events, scale_items, scale_users
    from recommender.registry import activate
    from recommender.train import TrainParams, train_bundle

    started = time.perf_counter()
    store = Store(f"sqlite:///{var / 'kepu.db'}")
    items = scale_items(data_dir, n_items)
    for start in range(0, len(items), 5_000):
        store.upsert_items(items[start : start + 5_000])
    users = scale_users(N_USERS)
    for batch in users.batches(5_000):
        for user in batch:
            store.upsert_user(user)
    events = scale_events(items, users, N_EVENTS)
    for batch in events.batches(20_000):
        store.add_events(batch)
    print(f"store: {time.perf_counter() - started:.0f} s", flush=True)
    encoder = TfidfSvdEncoder(dim=ENCODER_DIM, smoothing_neighbours=0, random_state=42)
    version = store.catalog_version()
    catalog = CatalogIndex.build(list(store.iter_items()), encoder, catalog_version=version)
    folder = catalog.save(var / "index" / encoder_slug(ENCODER_SPEC) / version)
    store.add_vector_index_version(ENCODER_SPEC, version, str(folder.resolve()), len(catalog.index))
    print(f"index: {time.perf_counter() - started:.0f} s", flush=True)
    params = TrainParams(no_components=32, epochs=3, n_text_clusters=16, holdout_fraction=0.0)
    train_bundle(store, encoder, var / "models", 42, params=params, version=VERSION)
    activate(store, VERSION)
    print(f"trained: {time.perf_counter() - started:.0f} s", flush=True)
    store.engine.dispose() if hasattr(store, "engine") else None
    with sqlite3.connect(var / "kepu.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (var.parent / "DONE").write_text("ok\n")
    return var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/catalog"))
    args = parser.parse_args()
    print(build(args.data_dir, args.cache, args.items))


if __name__ == "__main__":
    main()
