"""Keyword half of hybrid search."""

from __future__ import annotations

import numpy as np

from recommender.lexical import KeywordMatcher, query_terms


def test_query_terms_keep_words_of_two_or_more_characters() -> None:
    assert query_terms("水稻病虫害") == ["水稻", "病虫害"]
    assert query_terms("防") == ["防"]
    assert query_terms("   ") == []


def test_title_matches_beat_body_matches_and_partial_matches() -> None:
    matcher = KeywordMatcher(
        ["水稻病虫害绿色防控", "稻田里的青蛙", "病虫害识别手册", "老人防跌倒"],
        ["水稻病虫害绿色防控 灯光诱杀", "稻田里的青蛙 水稻病虫害的天敌", "病虫害识别手册 果树", "老人防跌倒 扶手"],
    )
    scores = matcher.scores("水稻病虫害")
    assert scores[0] == np.float32(1.0)
    assert scores[0] > scores[2] > scores[1] > scores[3] == 0
    assert np.all(matcher.scores("") == 0)
