"""The outage-tolerant store filters rules in Python (so it can answer any scope from its last read);
that filter must agree with the store's SQL filter for every combination of time, audience, channel, kind."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from api.store_outage import OutageTolerantStore
from content_catalog.store import Store
from tests.store_fixtures import T0, make_item


def test_python_rule_filter_matches_the_store_query(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{(tmp_path / 'rules.db').as_posix()}")
    try:
        store.upsert_items([make_item(f"i{n}") for n in range(4)], actor="test")
        windows = [(None, None), (T0, T0 + timedelta(days=1)), (T0 + timedelta(days=2), None)]
        for n, ((starts, ends), audience, channel, kind) in enumerate(
            itertools.product(windows, [None, "seniors", "youth"], [None, "web", "wechat"], ["block", "boost"])
        ):
            weight = 1.5 if kind == "boost" else None
            store.add_rule(
                kind,
                f"i{n % 4}",
                created_by="t",
                weight=weight,
                audience=audience,
                channel=channel,
                starts_at=starts,
                ends_at=ends,
            )
        tolerant = OutageTolerantStore(store)
        moments = [None, T0 - timedelta(hours=1), T0 + timedelta(hours=1), T0 + timedelta(days=3)]
        for at, audience, channel, kind in itertools.product(
            moments, [None, "seniors", "farmers"], [None, "web", "kiosk"], [None, "block", "boost"]
        ):
            want = [r.id for r in store.list_rules(active_at=at, audience=audience, channel=channel, kind=kind)]
            got = [r.id for r in tolerant.list_rules(active_at=at, audience=audience, channel=channel, kind=kind)]
            assert got == want, (at, audience, channel, kind)
        assert tolerant.outage is None
    finally:
        store.close()
