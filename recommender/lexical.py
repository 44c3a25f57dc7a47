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

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from hashlib import blake2b
from pathlib import Path

import numpy as np
import orjson
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

    @cached_property
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


ANALYSIS_SOURCES = (
    Path(__file__),
    Path(__file__).resolve().parents[1] / "content_catalog" / "text.py",
    Path(__file__).resolve().parents[1] / "content_catalog" / "lexicon" / "jieba_userdict.txt",
)
"""What decides a document's tokens besides the knobs: a saved index built by other code is rebuilt."""
SAVED_FORMAT = 1
_ARRAYS = ("idf", "keys", "w_data", "w_indices", "w_indptr", "ti_data", "ti_indices", "ti_indptr")
_ARRAYS += ("tx_data", "tx_indices", "tx_indptr")


def document_keys(titles: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """(n,) `S16` digest per document of its title and text: a saved or previous index reuses the token
    counts of documents whose digest it has (only new or edited documents are analysed again)."""
    pairs = zip(titles, texts, strict=True)
    return np.array([blake2b(f"{title}\x1f{text}".encode(), digest_size=16).digest() for title, text in pairs], "S16")


def analysis_fingerprint(glossary: Glossary, plain: bool, knobs: tuple[float, ...]) -> str:
    """Digest of the glossary, the knobs and the analysis code (`ANALYSIS_SOURCES`): a saved index whose
    fingerprint differs was built another way and is not reused."""
    digest = hashlib.sha256(repr((SAVED_FORMAT, glossary, plain, tuple(float(k) for k in knobs))).encode())
    for source in ANALYSIS_SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:32]


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
    reuse: an index built with the same knobs (e.g. over the catalog before a write, or loaded from
        `save`): documents it holds with the same title and text keep their token counts, so only new
        and edited ones go through jieba (analysis is ~90 % of a build: ~100 s for 100k documents).
    keys: `document_keys(titles, texts)` when the caller has them already.
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
        reuse: BM25Index | None = None,
        keys: np.ndarray | None = None,
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
        self.keys = keys if keys is not None else document_keys(titles, texts)
        if reuse is not None and reuse.fingerprint != self.fingerprint:
            reuse = None
        self.vocabulary: dict[str, int] = dict(reuse.vocabulary) if reuse is not None else {}
        old_rows = _rows_of(reuse.keys, self.keys) if reuse is not None else np.full(self.size, -1)
        fresh = np.flatnonzero(old_rows < 0)
        title_tokens = [self._analyze(titles[i]) for i in fresh]
        text_tokens = [self._analyze(texts[i]) for i in fresh]
        for tokens in (*title_tokens, *text_tokens):
            for token in tokens:
                self.vocabulary.setdefault(token, len(self.vocabulary))
        title_tf, text_tf = self._counts(title_tokens), self._counts(text_tokens)
        if reuse is not None and fresh.size < self.size:
            title_tf = _merged(reuse._title_tf, old_rows, title_tf, fresh, len(self.vocabulary))
            text_tf = _merged(reuse._text_tf, old_rows, text_tf, fresh, len(self.vocabulary))
        self._title_tf, self._text_tf = title_tf, text_tf
        document_frequency = np.asarray((text_tf > 0).sum(axis=0)).ravel()
        self._unseen_idf = self._idf(np.zeros(1))[0]
        self.idf = self._idf(document_frequency)
        weights = self._bm25(text_tf) + title_boost * self._bm25(title_tf)
        self._weights = sp.csc_matrix(weights.multiply(self.idf[None, :]))

    @property
    def fingerprint(self) -> str:
        """What the token counts and weights depend on besides the documents (`analysis_fingerprint`)."""
        knobs = (self.title_boost, self.synonym_weight, self.char_weight, self.k1, self.b)
        return analysis_fingerprint(self.glossary, self.plain, knobs)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (new or empty) as `.npy` arrays `load` memory-maps."""
        folder.mkdir(parents=True, exist_ok=True)
        w, ti, tx = self._weights, self._title_tf, self._text_tf
        arrays = {"idf": self.idf, "keys": self.keys, "w_data": w.data, "w_indices": w.indices, "w_indptr": w.indptr}
        arrays |= {"ti_data": ti.data, "ti_indices": ti.indices, "ti_indptr": ti.indptr}
        arrays |= {"tx_data": tx.data, "tx_indices": tx.indices, "tx_indptr": tx.indptr}
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (folder / "vocabulary.json").write_bytes(orjson.dumps(list(self.vocabulary)))
        meta = {"format": SAVED_FORMAT, "fingerprint": self.fingerprint, "size": self.size}
        meta |= {"knobs": [self.title_boost, self.synonym_weight, self.char_weight, self.k1, self.b, self.plain]}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, *, glossary: Glossary | None = None) -> BM25Index:
        """An index `save` wrote, its arrays memory-mapped read-only (worker processes share the pages).
        Raises ValueError when the folder is incomplete or was built by other analysis code or glossary."""
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
            tokens = orjson.loads((folder / "vocabulary.json").read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{folder}: not a saved BM25 index ({exc})") from exc
        index = cls.__new__(cls)
        index.glossary = glossary if glossary is not None else default_glossary()
        index.title_boost, index.synonym_weight, index.char_weight, index.k1, index.b, index.plain = meta["knobs"]
        index.size = int(meta["size"])
        if meta.get("format") != SAVED_FORMAT or meta.get("fingerprint") != index.fingerprint:
            raise ValueError(f"{folder}: saved by other analysis code, knobs or glossary")
        index.keys = arrays["keys"]
        index.vocabulary = dict(zip(tokens, range(len(tokens)), strict=True))
        index.idf = arrays["idf"]
        index._unseen_idf = index._idf(np.zeros(1))[0]
        shape = (index.size, len(tokens))
        index._weights = sp.csc_matrix((arrays["w_data"], arrays["w_indices"], arrays["w_indptr"]), shape=shape)
        index._title_tf = sp.csr_matrix((arrays["ti_data"], arrays["ti_indices"], arrays["ti_indptr"]), shape=shape)
        index._text_tf = sp.csr_matrix((arrays["tx_data"], arrays["tx_indices"], arrays["tx_indptr"]), shape=shape)
        if index.keys.shape != (index.size,) or index.idf.shape != (len(tokens),):
            raise ValueError(f"{folder}: arrays do not match ({index.size} documents, {len(tokens)} tokens)")
        return index

    def _analyze(self, text: str) -> list[str]:
        return tokenize(text) if self.plain else analyze(text, self.glossary)

    def _idf(self, document_frequency: np.ndarray) -> np.ndarray:
        n = max(self.size, 1)
        return np.log1p((n - document_frequency + 0.5) / (document_frequency + 0.5)).astype(np.float32)

    def _counts(self, documents: Sequence[list[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for row, tokens in enumerate(documents):
            for token in tokens:
                rows.append(row)
                cols.append(self.vocabulary[token])
        data = np.ones(len(rows), dtype=np.float32)
        shape = (len(documents), len(self.vocabulary))
        matrix = sp.csr_matrix((data, (rows, cols)), shape=shape, dtype=np.float32)
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


def _rows_of(old_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row in `old_keys` of each of `keys` (-1 when absent); duplicate documents map to their first row."""
    position = {key: row for row, key in reversed(list(enumerate(old_keys.tolist())))}
    return np.array([position.get(key, -1) for key in keys.tolist()], dtype=np.int64)


def _merged(
    old: sp.csr_matrix, old_rows: np.ndarray, fresh_tf: sp.csr_matrix, fresh: np.ndarray, n_columns: int
) -> sp.csr_matrix:
    """Token counts per document: row i is `old[old_rows[i]]` where that is >= 0, else the next row of
    `fresh_tf` (documents `fresh`, in order); columns widened to the grown vocabulary."""
    kept = np.flatnonzero(old_rows >= 0)
    reused = old[old_rows[kept]]
    reused = sp.csr_matrix((reused.data, reused.indices, reused.indptr), shape=(kept.size, n_columns))
    fresh_tf = sp.csr_matrix((fresh_tf.data, fresh_tf.indices, fresh_tf.indptr), shape=(fresh.size, n_columns))
    stacked = sp.vstack([reused, fresh_tf], format="csr")
    order = np.empty(old_rows.size, dtype=np.int64)
    order[np.concatenate([kept, fresh])] = np.arange(old_rows.size)
    return stacked[order]
