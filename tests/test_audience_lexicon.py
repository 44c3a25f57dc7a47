"""The keyword lexicon: longest-first matching, saturating scores, readable reasons, clear file errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from content_catalog.audience.labels import LABELS
from content_catalog.audience.lexicon import AudienceLexicon, LexiconError, keyword_reason


def test_shipped_lexicon_matches_farm_terms_with_reason() -> None:
    lexicon = AudienceLexicon.from_json()
    hits = lexicon.match("早稻田间病虫害防治：水稻稻飞虱怎么打药")
    assert "farmers" in hits
    assert {"水稻", "病虫害"} <= set(hits["farmers"].terms)
    reason = keyword_reason(hits["farmers"])
    assert reason.startswith("关键词：") and "水稻" in reason


def test_longest_match_wins_across_audiences() -> None:
    lexicon = AudienceLexicon({"farmers": {"农民": 1.0}, "workers": {"农民工": 1.0}})
    hits = lexicon.match("农民工返岗前的安全培训")
    assert set(hits) == {"workers"}


def test_scores_saturate_and_follow_label_order() -> None:
    lexicon = AudienceLexicon({"seniors": {"老年人": 1.0, "高血压": 1.0, "养生": 0.5}})
    scores = lexicon.scores(["老年人高血压养生", "老年人", "无关内容"])
    col = LABELS.index("seniors")
    assert scores.shape == (3, len(LABELS))
    assert scores[0, col] == pytest.approx(1 - np.exp(-2.5))
    assert scores[1, col] == pytest.approx(1 - np.exp(-1.0))
    assert scores[2].sum() == 0.0
    assert scores[0, col] < 1.0


def test_repeated_term_counts_once() -> None:
    lexicon = AudienceLexicon({"youth": {"学生": 1.0}})
    assert lexicon.match("学生学生学生")["youth"].weight == 1.0


def test_unknown_audience_is_rejected() -> None:
    with pytest.raises(LexiconError, match="aliens"):
        AudienceLexicon({"aliens": {"飞碟": 1.0}})


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "lex.json"
    path.write_text('{\n  "tier_weights": {"strong": 1.0},\n  "audiences": {,}\n}', encoding="utf-8")
    with pytest.raises(LexiconError, match=r"lex\.json:3"):
        AudienceLexicon.from_json(path)


def test_missing_tier_weight_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lex.json"
    path.write_text(json.dumps({"tier_weights": {"strong": 1.0}, "audiences": {"youth": {"weak": ["玩"]}}}))
    with pytest.raises(LexiconError, match=r"tier_weights\.weak"):
        AudienceLexicon.from_json(path)
