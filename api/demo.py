"""Build the demo deployment under `var/`: the steps behind `kepu demo`, each skipped when already done.

ingest the shipped catalog → tag the unlabelled items → embed → simulate interactions (SYNTHETIC users,
clearly named `sim-…`) → train → activate → a local admin API key. A second run finds every step done and
only serves.

The shipped catalog is written for a fixed moment (its reference date is 2026-11-28) and its covers point
at a host that does not exist. Before ingesting, the demo (and only the demo: `kepu catalog ingest` of
the same files keeps the original values) prepares each item with `prepare_demo_items`:
- `cover_url` becomes the local cover of the item's first topic, `/covers/<topic>.svg` (served from
  `api/static/covers/`), so every card shows an image (an item without topics gets no cover);
- `published_at` and `expires_at` move by `offset = today(UTC) - 2026-11-28` whole days (forwards or
  backwards), so every date is relative to the build day: on the build day every activity and live stream
  is upcoming (the shipped catalog is written so that none has expired on its reference day, a few end
  within a week), while 26 seasonal articles and videos have already expired, so the expiry filter is
  still visible. The shift depends only on the build day, so two builds on the same day give the same store.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from content_catalog.audience.tag_store import tag_store
from content_catalog.catalog_index import embed_catalog
from content_catalog.demo_catalog import load_demo_items
from content_catalog.ingest import ingest_items
from content_catalog.schema import Item
from content_catalog.settings import Settings
from content_catalog.store import Store
from features.simulator import simulate
from recommender.registry import activate
from recommender.train import train_bundle

DEMO_USERS_PER_AUDIENCE = 40
DEMO_DAYS = 45
KEYS_FILE = "demo_api_keys.json"
CATALOG_REFERENCE_DATE = date(2026, 11, 28)
"""The day the shipped catalog's dates were written for; the demo maps it to the build day."""
COVERS_DIR = Path(__file__).resolve().parent / "static" / "covers"
COVERS_URL_PATH = "/covers"

Step = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoBuild:
    """What the demo build did and what the operator needs to use it."""

    steps_run: list[str]
    admin_key: str
    keys_file: Path
    model_version: str | None


def demo_keys(var_dir: Path) -> tuple[str, Path]:
    """The demo's local admin key, created once in `var/demo_api_keys.json` (mode 0600)."""
    path = var_dir / KEYS_FILE
    if path.is_file():
        keys = json.loads(path.read_text(encoding="utf-8"))
        admin = next((key for key, role in keys.items() if role == "admin"), None)
        if admin:
            return admin, path
    admin = f"kepu-admin-{secrets.token_urlsafe(18)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({admin: "admin"}, handle)
    return admin, path


def cover_url(topic: str) -> str:
    """The root-relative URL of a topic's local cover (`/covers/<topic>.svg`)."""
    return f"{COVERS_URL_PATH}/{topic}.svg"


def date_offset(today: date) -> timedelta:
    """Whole days from the catalog's reference date to `today` (negative when `today` is earlier)."""
    return timedelta(days=(today - CATALOG_REFERENCE_DATE).days)


def prepare_demo_items(items: Sequence[Item], today: date | None = None) -> list[Item]:
    """The demo's copy of `items`: local topic covers and dates moved so the catalog is current on `today`.

    `today` defaults to the current UTC date. Each result is validated again as an Item.
    """
    offset = date_offset(today or datetime.now(UTC).date())
    prepared: list[Item] = []
    for item in items:
        record = item.model_dump()
        record["cover_url"] = cover_url(item.topics[0]) if item.topics else None  # no broken image
        record["published_at"] = item.published_at + offset
        if item.expires_at is not None:
            record["expires_at"] = item.expires_at + offset
        prepared.append(Item.model_validate(record))
    return prepared


def build_demo(store: Store, settings: Settings, progress: Step = lambda _: None) -> DemoBuild:
    """Run every demo step that has not run yet on `store`; `progress` gets a line per step."""
    done: list[str] = []
    if store.count_items() == 0:
        progress("ingesting the shipped demo catalog")
        ingest_items(store, prepare_demo_items(load_demo_items()), actor="demo")
        done.append("ingest")
    if store.catalog_stats()["untagged"]:
        progress("tagging unlabelled items by audience")
        tag_store(store, actor="demo-tagger")
        done.append("tag")
    progress("embedding the catalog")
    catalog, report = embed_catalog(store, settings)
    if report is None or report.changed:
        done.append("embed")
    if store.count_events() == 0:
        progress("simulating interactions of synthetic users (demo only)")
        users, events = simulate(
            list(store.iter_items()), n_users_per_audience=DEMO_USERS_PER_AUDIENCE, days=DEMO_DAYS, seed=settings.seed
        )
        for user in users:
            store.upsert_user(user)
        store.add_events(events)
        done.append("simulate")
    active = store.active_model_version()
    if active is None:
        progress("training the hybrid model")
        bundle = train_bundle(store, catalog.encoder, settings.models_dir, settings.seed)
        activate(store, bundle.version)
        done.append("train")
        active = store.active_model_version()
    admin_key, keys_file = demo_keys(settings.var_dir)
    return DemoBuild(done, admin_key, keys_file, active.version if active else None)
