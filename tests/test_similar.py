"""Similar items re-ranked by topic and audience agreement (`recommender.similar`)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from content_catalog.schema import Item
from recommender.candidates import CatalogView
from recommender.similar import SimilarParams, rerank_similar


def item(item_id: str, topics: list[str], audiences: list[str]) -> Item:
    return Item.model_validate(
        {
            "id": item_id,
            "title": item_id,
            "topics": topics,
            "audiences": audiences,
            "published_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        }
    )


VIEW = CatalogView.build(
    [
        item("planthopper", ["agri_tech"], ["farmers"]),
        item("algorithm-fairness", ["ai"], ["officials"]),  # the closest text, off topic
        item("rice-blast", ["agri_tech"], ["farmers"]),
        item("rice-model", ["agri_tech"], ["youth"]),
    ]
)
HITS = [(1, 0.60), (2, 0.45), (3, 0.44)]


def test_topic_and_audience_agreement_move_on_topic_items_up() -> None:
    text_only = rerank_similar(VIEW, 0, HITS, np.ones(4, dtype=bool), 3, SimilarParams(0.0, 0.0, 0.0))
    assert [r for r, _ in text_only] == [1, 2, 3]
    ranked = rerank_similar(VIEW, 0, HITS, np.ones(4, dtype=bool), 3, SimilarParams())
    assert [r for r, _ in ranked] == [2, 3, 1]
    assert ranked[0][1] == pytest.approx(0.45 + 0.3 + 0.1)


def test_the_anchor_and_filtered_items_never_come_back() -> None:
    allowed = np.array([True, True, False, True])
    ranked = rerank_similar(VIEW, 0, [(0, 1.0), *HITS], allowed, 10, SimilarParams())
    assert [r for r, _ in ranked] == [3, 1]
    with pytest.raises(ValueError, match="must be >= 0"):
        SimilarParams(topic_weight=-1.0)
