"""Shared, cached building blocks for the service tests (fitted once per test process to keep the suite fast).

Holds no tests itself; the `test_` prefix only keeps it inside this helper's file namespace.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from content_catalog.demo_catalog import load_demo_items
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.schema import Event, Item, User
from features.simulator import simulate

ENCODER_DIM = 32


@lru_cache(maxsize=1)
def demo_items() -> tuple[Item, ...]:
    return tuple(load_demo_items())


@lru_cache(maxsize=1)
def demo_encoder() -> TfidfSvdEncoder:
    """The real offline encoder, small and without neighbour smoothing (fits in a few seconds)."""
    return TfidfSvdEncoder(dim=ENCODER_DIM, smoothing_neighbours=0).fit([it.text for it in demo_items()])


@lru_cache(maxsize=1)
def demo_traffic() -> tuple[tuple[User, ...], tuple[Event, ...], datetime]:
    """Simulated users and events, and a `now` one hour after the last event."""
    users, events = simulate(list(demo_items()), n_users_per_audience=4, days=14, seed=5)
    return tuple(users), tuple(events), max(e.timestamp for e in events) + timedelta(hours=1)
