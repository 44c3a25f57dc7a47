"""Chinese (and mixed Chinese/English) text handling shared by encoders, search and audience tagging.

Why one module: every place that turns item text into features must normalise and segment it
the same way, or vectors built at ingest time would not match vectors built for a search query.

- `normalize`: NFKC (full-width → half-width), lowercase latin, punctuation/symbols → one space.
- `tokenize`: jieba words (with a small science-term user dictionary), stopwords dropped,
  latin words kept whole, so "AI芯片的发展" → ["ai", "芯片", "发展"].
- `char_ngrams`: character n-grams over CJK characters, treating a latin word or number as one
  unit and never crossing punctuation; robust to segmentation errors and unknown terms.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Final

import jieba

from content_catalog.settings import Settings

USERDICT_PATH: Final[Path] = Path(__file__).parent / "lexicon" / "jieba_userdict.txt"
"""Science terms jieba would otherwise split (e.g. 碳中和, 北斗导航), one `word [freq] [tag]` a line."""

_STOPWORD_TEXT: Final[str] = """
    的 了 和 与 及 或 是 在 对 为 以 于 而 并 等 其 中 上 下 由 从 将 被 把 给 向 也 都 就 又 还
    这 那 这些 那些 这个 那个 该 此 之 个 各 每 某 本 我 你 他 她 它 我们 你们 他们 她们 它们
    自己 一个 一种 一些 有 没有 无 不 没 很 更 最 较 比较 非常 可 可以 能 能够 会 要 应 应该
    需要 通过 进行 采用 利用 使用 基于 根据 按照 关于 对于 由于 因为 所以 因此 但 但是 然而
    如果 虽然 而且 并且 以及 同时 其中 之间 之后 之前 以后 以前 以上 以下 方面 情况 问题 结果
    表明 研究 分析 提出 本文 文章 论文 探讨 讨论 方法 具有 得到 作为 成为 存在 实现 提高 主要
    一定 一般 相关 不同 重要 显著 进一步 已经 正在 如何 什么 怎么 为什么 哪些 吗 呢 吧 啊 呀
    着 过 地 得 所 则 即 如 若 因 故 且 乃 之一 我国 国内 目前 当前 近年来
    a an the of and or to in on for with by from at as is are was were be been this that these
    those it its we our you your they their not no but if then than so such can may via into
"""
STOPWORDS: Final[frozenset[str]] = frozenset(_STOPWORD_TEXT.split())
"""Function words plus academic boilerplate (研究, 本文, 表明 …) that carry no topic signal."""

_PUNCT_CATEGORIES: Final[tuple[str, ...]] = ("P", "S", "Z", "C")
_LATIN_OR_DIGIT = re.compile(r"[a-z0-9]+(?:[._+\-][a-z0-9]+)*")
_SPACES = re.compile(r"\s+")
_JIEBA_LOCK = threading.Lock()


def is_cjk(char: str) -> bool:
    """True for CJK unified ideographs (basic block and extension A, compatibility ideographs)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def normalize(text: str) -> str:
    """Full-width → half-width (NFKC), lowercase, punctuation/symbols/controls → one space, trimmed."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    folded = unicodedata.normalize("NFKC", text).lower()
    chars = [" " if unicodedata.category(ch)[0] in _PUNCT_CATEGORIES and ch not in "._+-" else ch for ch in folded]
    # Keep '.', '_', '+', '-' only when they join latin/digit runs ("c++", "pm2.5", "covid-19").
    cleaned = "".join(chars)
    cleaned = re.sub(r"(?<![a-z0-9])[._\-]+|(?<![a-z0-9+])\++|[._\-]+(?![a-z0-9])", " ", cleaned)
    return _SPACES.sub(" ", cleaned).strip()


def units(text: str) -> list[list[str]]:
    """Normalised text as segments (split at punctuation) of units: a CJK char or a latin/digit word.

    Segments keep n-grams from crossing phrase boundaries; a latin word is one unit, so "5G基站"
    gives units ["5g", "基", "站"]; a space between two latin words does not end the segment
    ("deep learning" stays one phrase), any other space (former punctuation) does.
    """
    normalized = normalize(text)
    segments: list[list[str]] = []
    current: list[str] = []
    position = 0
    while position < len(normalized):
        match = _LATIN_OR_DIGIT.match(normalized, position)
        if match:
            current.append(match.group())
            position = match.end()
            continue
        char = normalized[position]
        position += 1
        if char == " " and current and current[-1].isascii() and _LATIN_OR_DIGIT.match(normalized, position):
            continue
        if is_cjk(char) or char.isalnum():
            current.append(char)
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def char_ngrams(text: str, n_min: int = 1, n_max: int = 2) -> list[str]:
    """Character n-grams (n_min..n_max units) within each segment of `units(text)`."""
    if not 1 <= n_min <= n_max:
        raise ValueError(f"need 1 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
    grams: list[str] = []
    for segment in units(text):
        for n in range(n_min, n_max + 1):
            joiner_needed = n > 1
            for start in range(len(segment) - n + 1):
                window = segment[start : start + n]
                grams.append(_join_units(window) if joiner_needed else window[0])
    return grams


def _join_units(window: list[str]) -> str:
    """Join units, putting a space only between two latin/digit words ("deep learning", "深度学习")."""
    out = window[0]
    for previous, unit in itertools.pairwise(window):
        out += " " + unit if previous[-1].isascii() and unit[0].isascii() else unit
    return out


def load_userdict(path: Path) -> list[tuple[str, int | None, str | None]]:
    """Parse a jieba user dictionary (`word [freq] [tag]` a line, '#' comments); errors name the line."""
    entries: list[tuple[str, int | None, str | None]] = []
    for line_no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 3:
            raise ValueError(f"{path}:{line_no}: expected 'word [freq] [tag]', got {raw!r}")
        freq: int | None = None
        if len(parts) >= 2:
            if not parts[1].isdigit():
                raise ValueError(f"{path}:{line_no}: frequency must be a positive integer, got {parts[1]!r}")
            freq = int(parts[1])
        entries.append((parts[0], freq, parts[2] if len(parts) == 3 else None))
    return entries


_cache_dir_override: Path | None = None


def use_cache_dir(folder: Path) -> None:
    """Send jieba's dictionary cache to `folder` for this process, e.g. the CLI's `--var-dir`/cache (the
    environment alone would not know it). Only matters before the first tokenization builds the tokenizer."""
    global _cache_dir_override
    _cache_dir_override = folder


def jieba_cache_dir() -> Path:
    """Where jieba keeps its dictionary cache: `use_cache_dir`'s folder, else the settings' cache dir
    (KEPU_CACHE_DIR, else <KEPU_VAR_DIR>/cache), never jieba's default of the system temp folder."""
    return _cache_dir_override or Settings().resolved_cache_dir


@lru_cache(maxsize=1)
def _jieba() -> jieba.Tokenizer:
    """The one jieba tokenizer, built on first use (loading its dictionary takes ~1 s) and kept quiet.
    Its dictionary cache (rebuilt when missing) goes to `jieba_cache_dir()`, read once per process."""
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    cache_dir = jieba_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.tmp_dir = str(cache_dir)
    tokenizer.initialize()
    if USERDICT_PATH.is_file():
        for word, freq, tag in load_userdict(USERDICT_PATH):
            tokenizer.add_word(word, freq, tag)
    return tokenizer


def add_words(words: Iterable[str]) -> None:
    """Teach the tokenizer extra terms (e.g. an editor's glossary) for the rest of the process."""
    tokenizer = _jieba()
    with _JIEBA_LOCK:
        for word in words:
            if word.strip():
                tokenizer.add_word(normalize(word).replace(" ", ""))


def tokenize(text: str, *, drop_stopwords: bool = True, keep_numbers: bool = False) -> list[str]:
    """jieba words of the normalised text, latin words whole; drops stopwords and bare numbers by default."""
    tokenizer = _jieba()
    tokens: list[str] = []
    for chunk in normalize(text).split(" "):
        if not chunk:
            continue
        with _JIEBA_LOCK:
            pieces = tokenizer.lcut(chunk)
        for piece in pieces:
            token = piece.strip()
            if not token or (drop_stopwords and token in STOPWORDS):
                continue
            if not keep_numbers and _is_number(token):
                continue
            if len(token) == 1 and not (is_cjk(token) or token.isalnum()):
                continue
            tokens.append(token)
    return tokens


def _is_number(token: str) -> bool:
    """Digits with optional decimal point/separators ("2024", "3.14")."""
    return bool(re.fullmatch(r"[0-9]+(?:[.\-][0-9]+)*", token))


def analyzer_words(text: str) -> list[str]:
    """Picklable analyzer for scikit-learn vectorizers: `tokenize` with default options."""
    return tokenize(text)


def analyzer_chars_1_2(text: str) -> list[str]:
    """Picklable analyzer for scikit-learn vectorizers: character 1–2-grams."""
    return char_ngrams(text, 1, 2)


def analyzer_chars_2_3(text: str) -> list[str]:
    """Picklable analyzer for scikit-learn vectorizers: character 2–3-grams."""
    return char_ngrams(text, 2, 3)
