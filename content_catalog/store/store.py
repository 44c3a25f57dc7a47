"""The `Store`: one SQLAlchemy-backed home for items, users, events, rules, experiments, models, snapshots,
and the personal-information rights (erase, export, retention purge); plus the dashboard aggregates over them."""

from __future__ import annotations

from content_catalog.store.editorial import EditorialMixin
from content_catalog.store.events import EventsMixin
from content_catalog.store.items import ItemsMixin
from content_catalog.store.online import OnlineMixin
from content_catalog.store.privacy import PrivacyMixin
from content_catalog.store.registry import RegistryMixin
from content_catalog.store.snapshots import SnapshotsMixin
from content_catalog.store.stats import StatsMixin


class Store(
    ItemsMixin, EventsMixin, OnlineMixin, EditorialMixin, RegistryMixin, SnapshotsMixin, PrivacyMixin, StatsMixin
):
    """Kepu's store on SQLite (default, a file under ./var/) or PostgreSQL (by URL).

    Opening it runs `alembic upgrade head`, so a store written by an older version upgrades in place.
    Every write method is one transaction. Datetimes go in as aware (naive = UTC) and come back as aware
    UTC. Use `Store(url)` or `Store.from_settings(settings)`, and `close()` (or `with Store(...) as s:`).
    """
