"""Lexical half of hybrid search: BM25 over jieba tokens with the glossary's synonyms and concepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender import lexical
from recommender.lexical import BM25Index, Glossary, analyze, default_glossary, query_terms

TITLES = ["三分钟认清稻飞虱", "稻田里的青蛙", "病虫害识别手册", "老人防跌倒", "在家量血压"]
TEXTS = [
    "稻飞虱是水稻的主要害虫，拍稻丛基部就能看到",
    "青蛙吃虫子，也吃稻田里的飞虱",
    "果树病虫害识别",
    "浴室加装扶手，防止摔跤",
    "高血压的老人每天早晚各量一次",
]


def test_title_matches_beat_text_matches_and_scores_are_bounded() -> None:
    index = BM25Index(TITLES, TEXTS, title_boost=1.0)
    scores = index.scores("稻飞虱")
    assert scores.argmax() == 0 and scores[0] > scores[1] > 0
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(index.scores("周杰伦演唱会") == 0)


def test_synonyms_find_colloquial_wording_and_can_be_switched_off() -> None:
    with_synonyms = BM25Index(TITLES, TEXTS).scores("血压高怎么办")
    assert with_synonyms.argmax() == 4
    no_glossary = BM25Index(TITLES, TEXTS, synonym_weight=0.0, glossary=Glossary(()), char_weight=0.0)
    assert no_glossary.scores("摔倒")[3] == 0
    assert BM25Index(TITLES, TEXTS).scores("摔倒").argmax() == 3


def test_a_named_concept_matches_its_members() -> None:
    """水稻病虫害 names a concept whose members (稻飞虱 …) the items use instead of the words."""
    scores = BM25Index(TITLES, TEXTS).scores("水稻病虫害")
    assert scores[0] == scores.max()
    terms, words = query_terms("水稻病虫害", default_glossary(), 0.6)
    assert words == ["水稻", "病虫害"] and terms["水稻病虫害"] == 1.0 and terms["水稻"] < 1.0


def test_plain_mode_is_textbook_bm25_over_jieba_words() -> None:
    plain = BM25Index(TITLES, TEXTS, plain=True, title_boost=0.0)
    assert plain.scores("水稻病虫害")[0] > 0  # 水稻 appears in the text
    assert plain.scores("血压高")[4] == 0  # no synonyms: 血压高 is not a word of item 4


def test_glossary_file_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "g.txt"
    bad.write_text("# comment\n高血压 血压高\n孤词\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"g.txt:3"):
        Glossary.load(bad)
    bad.write_text("概念 > 甲\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"g.txt:1: terms need two"):
        Glossary.load(bad)
    assert default_glossary().synonyms("水稻病虫害")[:2] == ["稻飞虱", "褐飞虱"]


def test_misaligned_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="aligned"):
        BM25Index(["a"], [])


QUERIES = ["水稻病虫害", "血压高", "摔倒", "青蛙", "果树"]


def _same_scores(a: BM25Index, b: BM25Index) -> None:
    for query in QUERIES:
        np.testing.assert_allclose(a.scores(query), b.scores(query), rtol=1e-5, atol=1e-7)


def test_an_index_reusing_another_scores_exactly_like_a_fresh_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = BM25Index(TITLES, TEXTS)
    titles = [TITLES[4], "果树的虫害", *TITLES[:3]]  # item 3 gone, one new, one edited, order changed
    texts = [TEXTS[4], "苹果树病虫害防治", TEXTS[0], TEXTS[1] + "，还吃稻飞虱", TEXTS[2]]
    analysed: list[str] = []
    monkeypatch.setattr(lexical, "analyze", lambda text, glossary: analysed.append(text) or analyze(text, glossary))
    reused = BM25Index(titles, texts, reuse=before)
    assert sorted(analysed) == sorted([titles[1], texts[1], titles[3], texts[3]])  # only new and edited ones
    _same_scores(reused, BM25Index(titles, texts))
    before.save(tmp_path / "saved")
    loaded = BM25Index.load(tmp_path / "saved")
    assert not loaded._weights.data.flags.writeable  # memory-mapped read-only, shared by worker processes
    _same_scores(loaded, before)
    _same_scores(BM25Index(titles, texts, reuse=loaded), reused)
    with pytest.raises(ValueError, match="other analysis code"):
        BM25Index.load(tmp_path / "saved", glossary=Glossary(()))
