"""Experiments: deterministic assignment by hashing, variant named in responses, CTR from events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.experiments import assign, bucket, variant_ctr
from content_catalog.store import Store
from tests.test_api_support import ADMIN, EDITOR, INGEST, READER, shared_trained_db, trained_client

EXPERIMENT = {
    "name": "diversity-test",
    "variants": [{"name": "control", "weight": 1}, {"name": "diverse", "weight": 1, "params": {"mmr_lambda": 0.3}}],
}


def test_assignment_is_deterministic_and_weighted() -> None:
    variants = [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]
    first = [assign("exp", variants, f"user-{i}").variant for i in range(2000)]
    again = [assign("exp", variants, f"user-{i}").variant for i in range(2000)]
    assert first == again
    share_a = first.count("a") / len(first)
    assert 0.70 < share_a < 0.80  # 3:1 weights
    assert bucket("exp", "u1") != bucket("other-exp", "u1")  # independent across experiments


def test_variant_ctr_counts_only_labelled_events() -> None:
    events = pd.DataFrame(
        {
            "experiment": ["e/a", "e/a", "e/a", "e/b", "e/b", None, "f/a"],
            "type": ["impression", "impression", "click", "impression", "view", "click", "click"],
        }
    )
    stats = variant_ctr(events, "e", ["a", "b", "c"])
    assert stats["a"] == {"impressions": 2, "clicks": 1, "ctr": 0.5}
    assert stats["b"] == {"impressions": 1, "clicks": 0, "ctr": 0.0}
    assert stats["c"] == {"impressions": 0, "clicks": 0, "ctr": None}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    with trained_client(shared_trained_db(), tmp_path) as pair:
        yield pair


def test_experiment_flow(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    assert client.post("/v1/experiments", json=EXPERIMENT, headers=EDITOR).status_code == 403
    created = client.post("/v1/experiments", json=EXPERIMENT, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["variants"][1]["params"] == {
        "mmr_lambda": 0.3,
        "freshness_weight": None,
        "shrinkage": None,
        "model_version": None,
    }

    labels = {}
    for i in range(12):
        page = client.get(
            "/v1/recommendations", params={"session_id": f"s-{i}", "audience": "public", "k": 3}, headers=READER
        ).json()
        labels[f"s-{i}"] = page["experiment"]
        repeat = client.get(
            "/v1/recommendations", params={"session_id": f"s-{i}", "audience": "public"}, headers=READER
        ).json()
        assert repeat["experiment"] == page["experiment"]  # same visitor, same variant
        events = [
            {
                "event_id": f"{page['request_id']}-{pos}",
                "session_id": f"s-{i}",
                "item_id": card["id"],
                "type": "impression",
                "experiment": page["experiment"],
                "position": pos,
            }
            for pos, card in enumerate(page["items"])
        ]
        if i % 2 == 0:
            events.append(
                {
                    "event_id": f"{page['request_id']}-click",
                    "session_id": f"s-{i}",
                    "item_id": page["items"][0]["id"],
                    "type": "click",
                    "experiment": page["experiment"],
                }
            )
        assert client.post("/v1/events", json={"events": events}, headers=INGEST).json()["rejected"] == []
    assert set(labels.values()) == {"diversity-test/control", "diversity-test/diverse"}

    got = client.get("/v1/experiments", headers=EDITOR).json()["experiments"][0]
    for variant in ("control", "diverse"):
        sessions = [int(s[2:]) for s, label in labels.items() if label.endswith(f"/{variant}")]
        impressions = 3 * len(sessions)
        clicks = sum(1 for i in sessions if i % 2 == 0)
        assert got["stats"][variant] == {
            "impressions": impressions,
            "clicks": clicks,
            "ctr": pytest.approx(clicks / impressions),
        }


def test_audience_only_requests_are_not_in_experiments(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    client.post("/v1/experiments", json=EXPERIMENT, headers=ADMIN)
    page = client.get("/v1/recommendations", params={"audience": "youth"}, headers=READER).json()
    assert page["experiment"] is None


def test_experiment_validation(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    dup = {"name": "x", "variants": [{"name": "a"}, {"name": "a"}]}
    response = client.post("/v1/experiments", json=dup, headers=ADMIN)
    assert response.status_code == 422 and "unique" in response.json()["error"]["message"]
    bad = {"name": "x", "variants": [{"name": "a", "params": {"mmr_lambda": 2}}]}
    assert (
        client.post("/v1/experiments", json=bad, headers=ADMIN).json()["error"]["field"]
        == "body.variants.0.params.mmr_lambda"
    )


def test_variant_with_its_own_model_version(app: tuple[TestClient, Store]) -> None:
    client, _ = app
    unknown = {"name": "models", "variants": [{"name": "old"}, {"name": "new", "params": {"model_version": "v9"}}]}
    response = client.post("/v1/experiments", json=unknown, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body.variants.1.params.model_version"
    body = {"name": "models", "variants": [{"name": "old"}, {"name": "new", "params": {"model_version": "v2"}}]}
    assert client.post("/v1/experiments", json=body, headers=ADMIN).status_code == 201
    versions = {}
    for i in range(10):
        page = client.get(
            "/v1/recommendations", params={"session_id": f"m-{i}", "audience": "public"}, headers=READER
        ).json()
        versions[page["experiment"]] = page["model_version"]
    assert versions == {"models/old": "v1", "models/new": "v2"}
