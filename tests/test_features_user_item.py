"""User and item feature matrices: named columns, anonymous rows, text clusters for cold items."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from content_catalog.schema import Item, User
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder


def items() -> list[Item]:
    return [
        Item(
            id="a",
            title="高血压饮食",
            topics=["health"],
            format="article",
            audiences=["seniors"],
            source_org="卫健局",
            reading_level="easy",
        ),
        Item(
            id="b",
            title="水稻病虫害",
            topics=["agri_tech"],
            format="video",
            audiences=["farmers"],
            town="沙溪镇",
        ),
        Item(id="c", title="火箭发射", topics=["aerospace", "basic_science"], format="activity"),
    ]


def unit_vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_user_features_named_columns_and_identity() -> None:
    users = [User(id="u1", audiences=["seniors"], age_band="60_plus", town="沙溪镇", interests=["health"])]
    builder = UserFeatureBuilder(identity=True, normalize=False).fit(users)
    x = builder.transform(users, channel="wechat")
    names = builder.feature_names_
    row = dict(zip([names[i] for i in x.indices], x.data, strict=True))
    assert row == {
        "audience:seniors": 1.0,
        "age:60_plus": 1.0,
        "town:沙溪镇": 1.0,
        "interest:health": 0.5,
        "channel:wechat": 0.5,
        "user:u1": 1.0,
    }


def test_anonymous_profile_row_is_audience_plus_channel_normalised() -> None:
    builder = UserFeatureBuilder(identity=False).fit([])
    row = builder.profile_row(["farmers"], channel="wechat")
    assert row.shape == (1, len(builder.feature_names_))
    assert row.sum() == pytest.approx(1.0)
    assert {builder.feature_names_[i] for i in row.indices} == {"audience:farmers", "channel:wechat"}


def test_user_without_audience_falls_back_to_public() -> None:
    builder = UserFeatureBuilder(identity=False, normalize=False).fit([])
    x = builder.transform([User(id="u")])
    assert [builder.feature_names_[i] for i in x.indices] == ["audience:public"]


def test_item_features_metadata_and_text_clusters() -> None:
    its = items()
    vecs = unit_vectors(len(its))
    builder = ItemFeatureBuilder(n_text_clusters=2, top_clusters=1, identity=True, normalize=False).fit(its, vecs)
    x = builder.transform(its, vecs)
    names = builder.feature_names_
    row_b = {names[i] for i in x[1].indices}
    assert {
        "audience:farmers",
        "topic:agri_tech",
        "format:video",
        "level:medium",
        "town:沙溪镇",
        "item:b",
    } <= row_b
    assert sum(n.startswith("text:") for n in row_b) == 1
    assert "org:卫健局" in names


def test_new_item_gets_features_from_content_alone() -> None:
    its = items()
    vecs = unit_vectors(len(its))
    builder = ItemFeatureBuilder(n_text_clusters=2, identity=True).fit(its, vecs)
    new = Item(id="new", title="新的航天展", topics=["aerospace"], format="exhibit")
    x = builder.transform([new], unit_vectors(1, seed=3), with_identity=False)
    names = {builder.feature_names_[i] for i in x.indices}
    assert "topic:aerospace" in names and any(n.startswith("text:") for n in names)
    assert not any(n.startswith("item:") for n in names)
    assert x.sum() == pytest.approx(1.0, rel=1e-5)


def test_state_round_trip_and_dimension_check() -> None:
    its = items()
    vecs = unit_vectors(len(its))
    builder = ItemFeatureBuilder(n_text_clusters=2).fit(its, vecs)
    clone = ItemFeatureBuilder.from_state(builder.get_state())
    assert (clone.transform(its, vecs) != builder.transform(its, vecs)).nnz == 0
    with pytest.raises(ValueError, match="dim"):
        builder.transform(its, unit_vectors(len(its), dim=4))
    with pytest.raises(ValueError, match="n_items=3"):
        builder.transform(its, unit_vectors(2))


def test_publication_period_columns_follow_the_catalog_and_put_new_items_in_the_newest() -> None:
    """Periods are quantiles of the fitted items' dates; an item published after all of them lands in the
    newest period, one before all of them in the oldest, and a restored builder maps dates identically."""
    dated = [
        Item(id=f"i{y}", title=f"t{y}", topics=["health"], published_at=datetime(y, 1, 1, tzinfo=UTC))
        for y in range(1990, 2010)
    ]
    builder = ItemFeatureBuilder(n_text_clusters=0, identity=False, normalize=False).fit(dated)
    periods = [n for n in builder.feature_names_ if n.startswith("published:")]
    assert periods[0] == "published:1990-01-01" and 2 <= len(periods) <= 10
    late = Item(id="new", title="new", published_at=datetime(2030, 5, 1, tzinfo=UTC))
    early = Item(id="old", title="old", published_at=datetime(1950, 5, 1, tzinfo=UTC))
    restored = ItemFeatureBuilder.from_state(builder.get_state())
    for b in (builder, restored):
        row = b.transform([late, early])
        names = [
            [b.feature_names_[c] for c in row[i].indices if b.feature_names_[c].startswith("published:")]
            for i in (0, 1)
        ]
        assert names == [[periods[-1]], [periods[0]]]
