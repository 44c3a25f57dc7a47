"""The lexical half of search: BM25 over jieba tokens, with the science glossary and synonyms.

Dense vectors find items about the same subject but can rank an exact keyword match ("稻飞虱" in a title)
below loosely related ones, and they cannot tell "nothing here" from "something vaguely near". BM25 can:
an item scores only for query words it contains, rarer words weigh more (idf), a word in the title counts
extra (`title_boost`). Tokens are jieba words plus the two-character pieces of longer Chinese words (so
"稻飞虱" also matches "飞虱") plus every glossary term the text contains as a substring, so glossary terms match
however jieba happens to cut the sentence, plus single characters (a weak partial match, `char_weight`).
Glossary synonym groups become one "any term of this group" token, matched at `synonym_weight` (colloquial
"血压高" finds "高血压"); one-way concepts ("水稻病虫害 > 稻飞虱 稻瘟病 …") become a concept token that an item
earns by naming any member, so a query naming the concept finds items that only name a member.

Scores are divided by the weighted idf of every query term (clipped to 1), so a score says "how much of the
query, weighted by rarity, this item covers" and is comparable across queries — the no-answer threshold in
`recommender.search` relies on that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from content_catalog.text import is_cjk, normalize, tokenize

SYNONYMS_FILE = Path(__file__).resolve().parents[1] / "content_catalog" / "lexicon" / "search_synonyms.txt"


@dataclass(frozen=True)
class Glossary:
    """Synonym groups (every term expands to the others) and one-way concepts (a concept expands to members)."""

    groups: tuple[tuple[str, ...], ...]
    concepts: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def load(cls, path: Path = SYNONYMS_FILE) -> Glossary:
        """Read `term term …` and `concept > member …` lines ('#' comments); errors name file and line."""
        groups, concepts = [], []
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            head, arrow, tail = line.partition(">")
            terms = [_term(t) for t in (tail if arrow else line).split()]
            concept = _term(head.strip()) if arrow else ""
            if (arrow and (not concept or " " in head.strip() or not terms)) or (not arrow and len(terms) < 2):
                raise ValueError(f"{path}:{number}: expected 'term term …' or 'concept > member …': {raw!r}")
            if any(len(t) < 2 for t in [*terms, *([concept] if arrow else [])]):
                raise ValueError(f"{path}:{number}: terms need two or more characters: {raw!r}")
            if arrow:
                concepts.append((concept, tuple(dict.fromkeys(terms))))
            else:
                groups.append(tuple(dict.fromkeys(terms)))
        return cls(tuple(groups), tuple(concepts))

    @property
    def terms(self) -> tuple[str, ...]:
        """Every term the glossary knows (indexed wherever it occurs in a text)."""
        members = (t for _, group in self.concepts for t in group)
        heads = (c for c, _ in self.concepts)
        return tuple(dict.fromkeys([*(t for group in self.groups for t in group), *heads, *members]))

    def found_in(self, normalized: str) -> list[str]:
        """Glossary terms occurring in an already normalised text."""
        return [t for t in self.terms if t in normalized]

    def synonyms(self, term: str) -> list[str]:
        """Other terms of the term's groups, then the members of a concept it names."""
        same = [other for group in self.groups if term in group for other in group if other != term]
        members = [m for concept, group in self.concepts if concept == term for m in group]
        return list(dict.fromkeys([*same, *members]))


def _term(raw: str) -> str:
    """A glossary term as it appears in normalised text ('_' stands for a space)."""
    return normalize(raw.replace("_", " ")).strip()


@lru_cache(maxsize=1)
def default_glossary() -> Glossary:
    """The shipped glossary (`content_catalog/lexicon/search_synonyms.txt`), read once."""
    return Glossary.load()


CHAR_PREFIX = "字:"
"""Marks single-character tokens, kept apart from one-character jieba words."""
GROUP_PREFIX = "同义:"
"""Token standing for "some term of this synonym group" (named by the group's first term)."""
CONCEPT_PREFIX = "概念:"
"""Token standing for "this concept or one of its members"."""
PIECE_WEIGHT = 0.5
"""Query weight of the 2-character pieces of a longer query word, and of a word inside a longer glossary phrase."""
CONCEPT_WEIGHT = 2.0
"""Query weight of a concept the query names: matching it (or a member) outweighs matching one loose word."""


def word_pieces(words: Sequence[str]) -> list[str]:
    """2-character pieces of Chinese words longer than two characters ("病虫害" → 病虫, 虫害)."""
    return [
        word[i : i + 2]
        for word in words
        if len(word) >= 3 and all(is_cjk(ch) for ch in word)
        for i in range(len(word) - 1)
    ]


def char_tokens(words: Sequence[str]) -> list[str]:
    """Every Chinese character of the words: "稻飞虱" and "水稻" then share 稻 (a weak, partial match)."""
    return [CHAR_PREFIX + ch for word in words for ch in word if is_cjk(ch)]


def glossary_tokens(found: Sequence[str], glossary: Glossary) -> list[str]:
    """Group and concept tokens for the glossary terms a text contains."""
    present = set(found)
    groups = [GROUP_PREFIX + group[0] for group in glossary.groups if present.intersection(group)]
    concepts = [
        CONCEPT_PREFIX + concept
        for concept, members in glossary.concepts
        if concept in present or present.intersection(members)
    ]
    return groups + concepts


def analyze(text: str, glossary: Glossary) -> list[str]:
    """Index tokens: jieba words, their pieces and characters, glossary terms and their group/concept tokens."""
    words = tokenize(text)
    found = glossary.found_in(normalize(text))
    return [*words, *word_pieces(words), *found, *glossary_tokens(found, glossary), *char_tokens(words)]


def query_terms(
    query: str, glossary: Glossary, synonym_weight: float, char_weight: float = 0.0
) -> tuple[dict[str, float], list[str]]:
    """(term → weight, the query's jieba words, which alone set the score ceiling).

    Words and glossary terms weigh 1, pieces of long words `PIECE_WEIGHT`, "any synonym of a term you used"
    `synonym_weight`, a concept you named (matched by any of its members) 1, single characters `char_weight`.
    """
    words = list(dict.fromkeys(tokenize(query)))
    found = glossary.found_in(normalize(query))
    # A word or term inside a longer glossary phrase ("水稻" in "水稻病虫害") is only part of a match.
    whole = [t for t in found if not any(t in other and t != other for other in found)]
    part = [t for t in found if t not in whole]
    weights: dict[str, float] = {}
    for term in [*whole, *words, *part]:
        weights.setdefault(term, PIECE_WEIGHT if any(term in w and term != w for w in whole) else 1.0)
    loose = [w for w in words if not any(w in term and w != term for term in whole)]
    for piece in word_pieces(loose):  # a subsumed word's pieces would credit the same partial match again
        weights.setdefault(piece, PIECE_WEIGHT)
    for share, terms in ((1.0, whole), (PIECE_WEIGHT, part)):
        for token in glossary_tokens(terms, glossary):
            weights.setdefault(token, share * (synonym_weight if token.startswith(GROUP_PREFIX) else CONCEPT_WEIGHT))
    if char_weight > 0:
        for char in char_tokens(words):
            weights.setdefault(char, char_weight)
    return {t: w for t, w in weights.items() if w > 0}, words


class BM25Index:
    """Two-field BM25 (title, whole text) over a fixed list of documents; `scores` covers every document.

    Parameters
    ----------
    titles, texts: one entry per document, aligned.
    title_boost: weight of the title field relative to the text field.
    synonym_weight: query weight of glossary synonyms (0 = no synonym expansion).
    char_weight: query weight of the query's single Chinese characters (0 = words only).
    k1, b: the usual BM25 saturation and length-normalisation constants.
    plain: jieba words only, no pieces, glossary or characters (the textbook baseline the benchmark compares to).
    """

    def __init__(
        self,
        titles: Sequence[str],
        texts: Sequence[str],
        *,
        glossary: Glossary | None = None,
        title_boost: float = 1.0,
        synonym_weight: float = 0.6,
        char_weight: float = 0.3,
        k1: float = 1.2,
        b: float = 0.75,
        plain: bool = False,
    ) -> None:
        if len(titles) != len(texts):
            raise ValueError(f"titles ({len(titles)}) and texts ({len(texts)}) must be aligned")
        self.glossary = glossary if glossary is not None else default_glossary()
        self.title_boost = title_boost
        self.synonym_weight = synonym_weight
        self.char_weight = char_weight
        self.k1, self.b = k1, b
        self.size = len(texts)
        self.plain = plain
        title_tokens = [self._analyze(t) for t in titles]
        text_tokens = [self._analyze(t) for t in texts]
        self.vocabulary: dict[str, int] = {}
        for tokens in (*title_tokens, *text_tokens):
            for token in tokens:
                self.vocabulary.setdefault(token, len(self.vocabulary))
        text_tf = self._counts(text_tokens)
        document_frequency = np.asarray((text_tf > 0).sum(axis=0)).ravel()
        self._unseen_idf = self._idf(np.zeros(1))[0]
        self.idf = self._idf(document_frequency)
        weights = self._bm25(text_tf) + title_boost * self._bm25(self._counts(title_tokens))
        self._weights = sp.csc_matrix(weights.multiply(self.idf[None, :]))

    def _analyze(self, text: str) -> list[str]:
        return tokenize(text) if self.plain else analyze(text, self.glossary)

    def _idf(self, document_frequency: np.ndarray) -> np.ndarray:
        n = max(self.size, 1)
        return np.log1p((n - document_frequency + 0.5) / (document_frequency + 0.5)).astype(np.float32)

    def _counts(self, documents: Iterable[list[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for row, tokens in enumerate(documents):
            for token in tokens:
                rows.append(row)
                cols.append(self.vocabulary[token])
        data = np.ones(len(rows), dtype=np.float32)
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(self.size, len(self.vocabulary)), dtype=np.float32)
        matrix.sum_duplicates()
        return matrix

    def _bm25(self, tf: sp.csr_matrix) -> sp.csr_matrix:
        """tf·(k1+1) / (tf + k1·(1 − b + b·len/avglen)) per stored entry."""
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        norm = self.k1 * (1 - self.b + self.b * lengths / max(float(lengths.mean()) if len(lengths) else 1.0, 1e-9))
        out = tf.copy().tocoo()
        out.data = out.data * (self.k1 + 1) / (out.data + norm[out.row])
        return out.tocsr()

    def scores(self, query: str) -> np.ndarray:
        """(n_documents,) float32 in [0, 1]: BM25 of the query over what matching each own word once would earn."""
        if self.plain:
            terms = dict.fromkeys(tokenize(query), 1.0)
        else:
            terms, _ = query_terms(query, self.glossary, self.synonym_weight, self.char_weight)
        total = np.zeros(self.size, dtype=np.float32)
        if not terms or not self.size:
            return total
        known = [(self.vocabulary[t], w) for t, w in terms.items() if t in self.vocabulary]
        if known:
            columns = np.array([c for c, _ in known])
            weights = np.array([w for _, w in known], dtype=np.float32)
            total = np.asarray(self._weights[:, columns] @ weights, dtype=np.float32).ravel()
        ceiling = sum(
            w * (self.idf[self.vocabulary[t]] if t in self.vocabulary else self._unseen_idf) for t, w in terms.items()
        )
        return np.minimum(total / float(ceiling * (1.0 + self.title_boost)), 1.0)
