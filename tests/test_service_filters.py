"""Boolean-mask filters over a small catalog view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from content_catalog.schema import Item
from features.idmap import IdMap
from recommender import filters
from recommender.candidates import CatalogView, catalog_item_matrix, model_scores, parse_search_result

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def view() -> CatalogView:
    items = [
        Item(
            id="old",
            title="过期活动",
            format="activity",
            published_at=NOW - timedelta(days=30),
            expires_at=NOW - timedelta(days=1),
            topics=["health"],
        ),
        Item(id="future", title="未发布", published_at=NOW + timedelta(days=1)),
        Item(id="unverified", title="待审核", verified=False, published_at=NOW - timedelta(days=1)),
        Item(
            id="youth-only",
            title="少儿",
            audiences=["youth"],
            topics=["aerospace"],
            published_at=NOW - timedelta(days=1),
        ),
        Item(
            id="course",
            title="课程",
            format="course",
            audiences=["seniors", "youth"],
            topics=["health"],
            published_at=NOW - timedelta(days=1),
        ),
        Item(
            id="weak-tag",
            title="弱标签",
            audiences=[{"audience": "youth", "score": 0.2, "source": "auto"}],
            published_at=NOW - timedelta(days=1),
        ),
    ]
    return CatalogView.build(items, IdMap(["course", "youth-only"]))


def names(v: CatalogView, mask: np.ndarray) -> set[str]:
    return {v.items[i].id for i in np.flatnonzero(mask)}


def test_active_and_verified() -> None:
    v = view()
    assert names(v, filters.active(v, NOW)) == {"unverified", "youth-only", "course", "weak-tag"}
    assert "unverified" not in names(v, filters.verified(v, True))
    assert "unverified" in names(v, filters.verified(v, False))


def test_audience_constraint_hides_items_confidently_for_others() -> None:
    v = view()
    seniors = names(v, filters.audience(v, ["seniors"]))
    assert "youth-only" not in seniors and {"course", "weak-tag", "old"} <= seniors
    assert names(v, filters.audience(v, ["public"])) == {it.id for it in v.items}


def test_topics_channel_and_ids() -> None:
    v = view()
    assert names(v, filters.topics(v, ["health"])) == {"old", "course"}
    assert "course" not in names(v, filters.channel(v, "kiosk"))
    assert "course" in names(v, filters.channel(v, "wechat"))
    assert names(v, ~filters.exclude_ids(v, ["course", "nope"])) == {"course"}
    with pytest.raises(ValueError, match="unknown topic"):
        filters.topics(v, ["astrology"])
    with pytest.raises(ValueError, match="unknown channel"):
        filters.channel(v, "fax")


def test_model_scores_use_model_rows_and_cold_vectors() -> None:
    v = view()
    item_vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)  # rows of "course", "youth-only"
    cold = np.full((v.size, 2), 0.5, dtype=np.float32)
    matrix = catalog_item_matrix(v, item_vectors, cold)
    scores = model_scores(matrix, np.array([2.0, 1.0], dtype=np.float32))
    assert scores[v.ids.get("course")] == 2.0 and scores[v.ids.get("youth-only")] == 1.0
    assert scores[v.ids.get("old")] == 1.5
    assert np.isnan(model_scores(catalog_item_matrix(v, item_vectors), np.ones(2, dtype=np.float32))).sum() == (
        v.size - 2
    )  # without feature-only vectors, items the model never saw have no score
    assert np.isnan(model_scores(matrix, None)).all()


def test_search_result_shapes() -> None:
    assert parse_search_result((np.array([["a", "b"]]), np.array([[0.9, 0.5]]))) == ([["a", "b"]], [[0.9, 0.5]])
    assert parse_search_result([[("a", 0.9)]]) == ([["a"]], [[0.9]])


def test_service_settings_validation_names_the_knob() -> None:
    from recommender.service import ServiceSettings

    with pytest.raises(ValueError, match="mmr_lambda"):
        ServiceSettings(mmr_lambda=1.5)
    with pytest.raises(ValueError, match="shrinkage"):
        ServiceSettings(shrinkage=-1)
    with pytest.raises(ValueError, match="snapshot_depth"):
        ServiceSettings(snapshot_depth=0)
