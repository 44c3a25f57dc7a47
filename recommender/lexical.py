"""Keyword matching for search: the lexical half of a lexical + dense hybrid.

Dense vectors find items about the same subject but can rank an exact keyword match ("病虫害" in a title)
below loosely related ones; short queries carry too little text for the encoder alone. Each query term
(jieba words of two or more characters) found in an item's title or text adds its share of the query,
longer terms weighing more; the service adds this to the cosine score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from content_catalog.text import normalize, tokenize

TITLE_SHARE = 0.6
"""Of a term's weight, how much a match in the title earns (the rest is earned by a match anywhere)."""


def query_terms(query: str) -> list[str]:
    """Distinct search terms: jieba words of 2+ characters, or the whole normalised query if none."""
    terms = [t for t in dict.fromkeys(tokenize(query)) if len(t) >= 2]
    whole = normalize(query).strip()
    return terms or ([whole] if whole else [])


class KeywordMatcher:
    """Scores every catalog item against a query's terms with vectorised substring tests."""

    def __init__(self, titles: Sequence[str], texts: Sequence[str]) -> None:
        self._titles = np.array([normalize(t) for t in titles], dtype=str)
        self._texts = np.array([normalize(t) for t in texts], dtype=str)

    def scores(self, query: str) -> np.ndarray:
        """(n_items,) scores in [0, 1]: the weighted share of query terms each item contains."""
        terms = query_terms(query)
        total = np.zeros(len(self._titles), dtype=np.float32)
        if not terms or not len(total):
            return total
        weights = np.array([len(t) for t in terms], dtype=np.float32)
        for term, weight in zip(terms, weights / weights.sum(), strict=True):
            in_title = np.char.find(self._titles, term) >= 0
            in_text = np.char.find(self._texts, term) >= 0
            total += weight * (TITLE_SHARE * in_title + (1.0 - TITLE_SHARE) * (in_text | in_title))
        return total
