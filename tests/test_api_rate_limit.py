"""Anonymous public reads and widget events are rate-limited per client (429 + Retry-After); keyed calls
are not. The limiter's clock is injected, so the tests never sleep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.rate_limit import PublicRateLimits, RateLimiter
from api.service_provider import BundleServiceProvider
from api.settings import ApiSettings
from content_catalog.store import Store
from tests.test_api_support import READER, api_settings, make_store

EVENT = {"event_id": "e-1", "session_id": "s1", "item_id": "seed-1", "type": "view"}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(tmp_path)
    yield s
    s.close()


@contextmanager
def limited_app(tmp_path: Path, store: Store, clock: FakeClock, **overrides: object) -> Iterator[TestClient]:
    values: dict[str, object] = {
        "public_reads": True,
        "public_events": True,
        "public_reads_per_minute": 60,
        "public_reads_burst": 3,
        "public_events_per_minute": 30,
        "public_events_burst": 2,
    }
    values.update(overrides)
    settings = api_settings(tmp_path, **values)
    app = create_app(
        settings,
        store=store,
        service_provider=BundleServiceProvider(store, settings),
        rate_limits=PublicRateLimits.from_settings(settings, clock=clock),
    )
    with TestClient(app, client=("10.0.0.1", 5000)) as client:
        yield client


def test_anonymous_reads_get_429_with_retry_after_then_recover(tmp_path: Path, store: Store) -> None:
    clock = FakeClock()
    with limited_app(tmp_path, store, clock) as client:
        for _ in range(3):
            assert client.get("/v1/items/seed-1").status_code == 200
        refused = client.get("/v1/items/seed-1")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"  # 60 per minute: one token a second
        error = refused.json()["error"]
        assert error["code"] == "rate_limited" and "KEPU_PUBLIC_READS_PER_MINUTE" in error["message"]
        clock.now += 0.5
        assert client.get("/v1/items/seed-1").status_code == 429
        clock.now += 0.5
        assert client.get("/v1/items/seed-1").status_code == 200
        assert client.get("/v1/items/seed-1").status_code == 429
        clock.now += 60
        for _ in range(3):  # the bucket refills to the burst, never above it
            assert client.get("/v1/items/seed-1").status_code == 200
        assert client.get("/v1/items/seed-1").status_code == 429


def test_limits_are_per_client_and_keyed_calls_are_never_limited(tmp_path: Path, store: Store) -> None:
    clock = FakeClock()
    with limited_app(tmp_path, store, clock) as client:
        for _ in range(3):
            client.get("/v1/taxonomy")
        assert client.get("/v1/taxonomy").status_code == 429
        for _ in range(20):
            assert client.get("/v1/taxonomy", headers=READER).status_code == 200
        other = TestClient(client.app, client=("10.0.0.2", 5000))
        assert other.get("/v1/taxonomy").status_code == 200
        wrong_key = client.get("/v1/taxonomy", headers={"X-API-Key": "guess"})
        assert wrong_key.status_code == 401  # a bad key is refused, not let through as anonymous


def test_events_have_their_own_bucket(tmp_path: Path, store: Store) -> None:
    clock = FakeClock()
    with limited_app(tmp_path, store, clock) as client:
        for _ in range(3):
            client.get("/v1/items/seed-1")
        assert client.get("/v1/items/seed-1").status_code == 429
        for i in range(2):
            posted = client.post("/v1/events", json={"events": [{**EVENT, "event_id": f"e-{i}"}]})
            assert posted.status_code == 200, posted.text
        refused = client.post("/v1/events", json={"events": [{**EVENT, "event_id": "e-9"}]})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"  # 30 per minute
        assert "KEPU_PUBLIC_EVENTS_PER_MINUTE" in refused.json()["error"]["message"]
        assert store.count_events() == 2  # the refused batch stored nothing


def test_zero_disables_the_limit_and_env_configures_it(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    with limited_app(tmp_path, store, clock, public_reads_per_minute=0) as client:
        for _ in range(50):
            assert client.get("/v1/taxonomy").status_code == 200
    monkeypatch.setenv("KEPU_PUBLIC_READS_PER_MINUTE", "5")
    monkeypatch.setenv("KEPU_PUBLIC_EVENTS_BURST", "7")
    settings = ApiSettings()
    assert settings.public_reads_per_minute == 5 and settings.public_events_burst == 7


def test_limiter_forgets_least_recent_clients_beyond_its_bound() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, 1, clock=clock, max_clients=2)
    assert limiter.hit("a") is None and limiter.hit("b") is None
    assert limiter.hit("a") == pytest.approx(1.0)
    assert limiter.hit("c") is None  # evicts b, the least recently seen
    assert limiter.hit("a") == pytest.approx(1.0)  # a is still tracked
    assert limiter.hit("b") is None  # b starts over with a full bucket
