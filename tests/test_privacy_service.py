"""The live service forgets an erased user at once, in every worker on the store, and the next trained
bundle holds nothing of them — on SQLite and PostgreSQL.

Two `RecommendationService` objects, each with its own `Store` connection, stand for two uvicorn
workers serving one trained bundle. After worker A's store erases a user, worker B's next request for
them is a cold start (identical to a never-seen visitor), their old cursor is gone, and a request that
was ranking while the erasure ran keeps no snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from content_catalog.schema import Event, Item, User
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from features.simulator import simulate
from recommender.cursor import CursorExpired
from recommender.registry import Bundle
from recommender.service import RecommendationRequest, RecommendationService, ServiceSettings
from recommender.train import TrainParams, train_bundle
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_url_fixture,
)
from tests.test_service_support import ENCODER_DIM, demo_encoder, demo_items

N_ITEMS = 120
PARAMS = TrainParams(no_components=8, epochs=3, n_text_clusters=4, holdout_fraction=0.0)
SETTINGS = ServiceSettings(snapshot_depth=20, pool_per_source=40)
STRANGER = "never-seen-visitor"


@lru_cache(maxsize=1)
def _world() -> tuple[tuple[Item, ...], tuple[User, ...], tuple[Event, ...]]:
    items = tuple(sorted(demo_items(), key=lambda it: it.id)[:N_ITEMS])
    users, events = simulate(list(items), n_users_per_audience=2, days=7, seed=11)
    return items, tuple(users), tuple(events)


def _service(store: Store, bundle: Bundle | None) -> RecommendationService:
    items = _world()[0]
    encoder = demo_encoder()
    index = VectorIndex(ENCODER_DIM)
    index.add([it.id for it in items], encoder.encode([it.text for it in items]))
    return RecommendationService(store, bundle, encoder, index, settings=SETTINGS)


def ids(response: Any) -> list[str]:
    return [card.id for card in response.items]


@pytest.fixture(name="trained")
def trained_fixture(store_url: str, tmp_path: Path) -> Iterator[tuple[Store, Store, Bundle, str, Any]]:
    """(worker A's store, worker B's store, bundle, the user to erase, the simulated `now`)."""
    items, users, events = _world()
    first, second = Store(store_url), Store(store_url)
    try:
        first.upsert_items(list(items))
        target = users[0]
        for user in users:
            first.upsert_user(user if user.id != target.id else target.model_copy(update={"sessions": ["tab-1"]}))
        first.add_events(list(events))
        bundle = train_bundle(first, demo_encoder(), tmp_path / "models", seed=3, params=PARAMS, version="v1")
        assert bundle.user_map.get(target.id) >= 0
        yield first, second, bundle, target.id, max(e.timestamp for e in events)
    finally:
        first.close()
        second.close()


def test_erased_user_is_a_cold_start_on_every_worker(trained: tuple, tmp_path: Path) -> None:
    store_a, store_b, bundle, user_id, now = trained
    worker_a, worker_b = _service(store_a, bundle), _service(store_b, bundle)

    def ask(worker: RecommendationService, who: str, cursor: str | None = None) -> Any:
        return worker.recommend(RecommendationRequest(user_id=who, k=8, now=now, cursor=cursor))

    before = ask(worker_b, user_id)
    assert ids(before) != ids(ask(worker_b, STRANGER))  # personalised: trained vector and history
    store_a.erase_user(user_id, actor="admin")

    after = ask(worker_b, user_id)
    stranger = ask(worker_b, STRANGER)
    assert ids(after) == ids(stranger)
    assert [c.reason for c in after.items] == [c.reason for c in stranger.items]
    assert [c.score for c in after.items] == [c.score for c in stranger.items]
    with pytest.raises(CursorExpired):  # the snapshot behind their old cursor was erased
        ask(worker_a, user_id, before.next_cursor)

    # The next bundle, trained from the store, contains nothing of them.
    fresh = train_bundle(store_a, demo_encoder(), tmp_path / "models", seed=3, params=PARAMS, version="v2")
    assert fresh.user_map.get(user_id) < 0 and fresh.user_map.get("session:tab-1") < 0
    assert fresh.path is not None
    for file in fresh.path.iterdir():
        assert user_id.encode() not in file.read_bytes(), file.name


class ErasingWhileRanking:
    """A store that erases `user_id` right after a request has read that user's history (the erasure
    lands while the request is still ranking), through a second connection like another worker."""

    def __init__(self, store: Store, other: Store, user_id: str) -> None:
        self._store, self._other, self._user_id = store, other, user_id
        self.erased = False

    def user_history(self, *args: Any, **kwargs: Any) -> Any:
        history = self._store.user_history(*args, **kwargs)
        if not self.erased and kwargs.get("user_id") == self._user_id:
            self._other.erase_user(self._user_id, actor="admin")
            self.erased = True
        return history

    def requester(self, user_id: str | None, session_id: str | None, history_limit: int = 200, **kw: Any) -> Any:
        found = self._store.requester(user_id, session_id, history_limit, **kw)
        if not self.erased and found.user_id == self._user_id:
            self._other.erase_user(self._user_id, actor="admin")
            self.erased = True
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_request_in_flight_during_erasure_keeps_no_snapshot(trained: tuple) -> None:
    store_a, store_b, bundle, user_id, now = trained
    racing = ErasingWhileRanking(store_a, store_b, user_id)
    worker = _service(racing, bundle)  # type: ignore[arg-type]
    response = worker.recommend(RecommendationRequest(user_id=user_id, k=8, now=now))
    assert racing.erased and response.items  # the caller still gets the page it asked for …
    assert response.next_cursor is None  # … but nothing ranked for them is kept
    exported = store_a.export_user(user_id)
    assert exported is None
    with store_a.engine.connect() as connection:
        from sqlalchemy import func, select

        from content_catalog.store.models import FeedSnapshotRow

        assert connection.execute(select(func.count()).select_from(FeedSnapshotRow)).scalar() == 0
