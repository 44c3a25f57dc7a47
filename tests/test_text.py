"""Chinese text handling: normalisation, jieba tokens, character n-grams, user dictionary."""

from __future__ import annotations

from pathlib import Path

import pytest

from content_catalog import text


def test_normalize_folds_full_width_case_and_punctuation() -> None:
    assert text.normalize("ＡＩ芯片，５Ｇ基站！　Hello—World…") == "ai芯片 5g基站 hello world"


def test_normalize_keeps_joined_latin_tokens() -> None:
    assert text.normalize("PM2.5、C++ 与 COVID-19。") == "pm2.5 c++ 与 covid-19"


def test_normalize_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="text must be str"):
        text.normalize(None)  # type: ignore[arg-type]


def test_tokenize_mixed_text_drops_stopwords_and_numbers() -> None:
    tokens = text.tokenize("本文研究了AI芯片在2024年的发展与Deep Learning应用")
    assert "ai" in tokens and "芯片" in tokens and "deep" in tokens and "learning" in tokens
    assert not {"本文", "研究", "了", "的", "2024"} & set(tokens)


def test_userdict_keeps_science_terms_whole() -> None:
    tokens = text.tokenize("推进碳中和与智慧农业，普及人工智能知识")
    assert {"碳中和", "智慧农业", "人工智能"} <= set(tokens)


def test_userdict_keeps_taicang_terms_whole() -> None:
    tokens = text.tokenize("稻麦两熟的田里种单季晚粳稻，太仓白蒜防寒潮")
    assert {"稻麦两熟", "单季晚粳稻", "太仓白蒜", "寒潮"} <= set(tokens)


def test_add_words_teaches_new_terms() -> None:
    text.add_words(["科普大篷车"])
    assert "科普大篷车" in text.tokenize("科普大篷车开进乡村")


def test_char_ngrams_do_not_cross_punctuation_and_keep_latin_words() -> None:
    grams = text.char_ngrams("5G基站，天线", 1, 2)
    assert grams == ["5g", "基", "站", "5g基", "基站", "天", "线", "天线"]
    assert "站天" not in grams


def test_char_ngrams_join_latin_words_with_space() -> None:
    assert "deep learning" in text.char_ngrams("deep learning", 2, 2)


def test_char_ngrams_validate_range() -> None:
    with pytest.raises(ValueError, match="n_min"):
        text.char_ngrams("水稻", 3, 2)


def test_empty_and_punctuation_only_text() -> None:
    assert text.tokenize("") == []
    assert text.char_ngrams("，。！？") == []


def test_load_userdict_reports_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "dict.txt"
    path.write_text("# comment\n北斗导航 300 n\n量子 many n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dict.txt:3: frequency"):
        text.load_userdict(path)


def test_shipped_userdict_parses() -> None:
    entries = text.load_userdict(text.USERDICT_PATH)
    assert ("人工智能", 2000, "n") in entries
