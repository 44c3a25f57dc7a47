"""The SYNTHETIC simulator: seeded, plausible per-audience tastes, position bias, valid events."""

from __future__ import annotations

from collections import Counter

import pytest

from content_catalog.demo_catalog import load_demo_items
from content_catalog.taxonomy import TOWNS
from features.simulator import simulate


@pytest.fixture(scope="module")
def sim() -> tuple:
    items = load_demo_items()
    return items, *simulate(items, n_users_per_audience=6, days=14, seed=7)


def test_same_seed_same_output(sim: tuple) -> None:
    items, users, events = sim
    users2, events2 = simulate(items, n_users_per_audience=6, days=14, seed=7)
    assert [u.id for u in users] == [u.id for u in users2]
    assert [(e.event_id, e.item_id, e.type) for e in events] == [(e.event_id, e.item_id, e.type) for e in events2]
    _, other = simulate(items, n_users_per_audience=6, days=14, seed=8)
    assert [e.item_id for e in other] != [e.item_id for e in events]


def test_users_per_audience_and_event_validity(sim: tuple) -> None:
    items, users, events = sim
    assert Counter(u.audiences[0] for u in users) == {a: 6 for a in Counter(u.audiences[0] for u in users)}
    assert len(users) == 36
    ids = {it.id for it in items}
    assert all(e.item_id in ids for e in events)
    types = Counter(e.type.value for e in events)
    assert types["impression"] > types["click"] > types["share"]
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)


def test_position_bias(sim: tuple) -> None:
    _, _, events = sim
    shown = Counter(e.position for e in events if e.type.value == "impression")
    clicked = Counter(e.position for e in events if e.type.value == "click")
    assert clicked[0] / shown[0] > clicked[7] / shown[7]


def test_audiences_prefer_their_topics(sim: tuple) -> None:
    items, users, events = sim
    topics = {it.id: set(it.topics) for it in items}
    audience = {u.id: u.audiences[0] for u in users}

    def share(aud: str, topic: str) -> float:
        clicks = [e for e in events if e.type.value == "click" and audience[e.user_id] == aud]
        return sum(topic in topics[e.item_id] for e in clicks) / max(len(clicks), 1)

    assert share("farmers", "agri_tech") > share("youth", "agri_tech")
    assert share("seniors", "health") > share("youth", "health")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="items is empty"):
        simulate([], 1, 1)
    with pytest.raises(ValueError, match="unknown audience"):
        simulate(load_demo_items()[:5], 1, 1, audiences=["aliens"])


def test_users_live_in_taicang_towns_farmers_mostly_in_farming_towns() -> None:
    items = load_demo_items()
    users, _ = simulate(items, n_users_per_audience=200, days=1, seed=3, audiences=("farmers", "workers"))
    assert {u.town for u in users} <= set(TOWNS)
    farming_towns = {"双凤镇", "璜泾镇", "浏河镇", "沙溪镇", "浮桥镇"}
    farmers = [u.town for u in users if u.audiences == ["farmers"]]
    workers = [u.town for u in users if u.audiences == ["workers"]]
    assert sum(t in farming_towns for t in farmers) > 0.6 * len(farmers)
    zones = {"太仓高新区", "太仓港经开区"}
    assert sum(t in zones for t in workers) > 3 * sum(t in zones for t in farmers)
