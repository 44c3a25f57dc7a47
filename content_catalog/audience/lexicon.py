"""Keyword lexicon for audience tagging: transparent scores and the matched terms that explain them.

The lexicon is the part of the tagger an editor can read and correct: which words make an item
look like it is for farmers, seniors, … It works with no training data at all and gives the
Chinese reason shown next to an automatic tag ("关键词：水稻、病虫害").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from content_catalog.audience.labels import LABELS

DEFAULT_LEXICON_PATH = Path(__file__).resolve().parent.parent / "lexicon" / "audience_lexicon.json"
TIERS: tuple[str, ...] = ("strong", "medium", "weak")


class LexiconError(ValueError):
    """The lexicon file or mapping is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class LexiconMatch:
    """The distinct lexicon terms found in one text for one audience, strongest first."""

    audience: str
    terms: tuple[str, ...]
    weight: float

    @property
    def score(self) -> float:
        """Saturating score in [0, 1): one strong term 0.63, two strong terms 0.86."""
        return 1.0 - math.exp(-self.weight)


class AudienceLexicon:
    """Weighted keyword lists per audience, matched longest-first across all audiences at once.

    `terms` maps audience id -> {term: weight}. Longest-first matching means a term that contains
    another ("农民工" vs "农民") claims the text span, so the shorter term is not counted too.
    """

    def __init__(self, terms: Mapping[str, Mapping[str, float]], *, source: str = "<mapping>") -> None:
        unknown = sorted(set(terms) - set(LABELS))
        if unknown:
            raise LexiconError(f"{source}: unknown audience(s) {unknown}; expected some of {LABELS}")
        self.source = source
        self.terms: dict[str, dict[str, float]] = {}
        for audience, weighted in terms.items():
            clean: dict[str, float] = {}
            for term, weight in weighted.items():
                if not isinstance(term, str) or not term.strip():
                    raise LexiconError(f"{source}: audiences.{audience}: empty or non-string term {term!r}")
                if not isinstance(weight, int | float) or weight <= 0:
                    raise LexiconError(
                        f"{source}: audiences.{audience}.{term}: weight must be > 0, got {weight!r}"
                    )
                clean[term.strip()] = float(weight)
            self.terms[audience] = clean
        self._by_term: dict[str, list[tuple[str, float]]] = {}
        for audience, weighted in self.terms.items():
            for term, weight in weighted.items():
                self._by_term.setdefault(term.lower(), []).append((audience, weight))
        # lower-cased term -> the term as written, built once: `match` runs per item of the catalog
        self._original = {t.lower(): t for weighted in self.terms.values() for t in weighted}
        ordered = sorted(self._by_term, key=lambda t: (-len(t), t))
        self._pattern = re.compile("|".join(re.escape(t) for t in ordered)) if ordered else None

    @classmethod
    def from_json(cls, path: str | Path = DEFAULT_LEXICON_PATH) -> AudienceLexicon:
        """Read the tiered JSON format documented in `content_catalog/lexicon/audience_lexicon.json`."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise LexiconError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        return cls.from_tiered(raw, source=str(path))

    @classmethod
    def from_tiered(cls, raw: Mapping[str, object], *, source: str = "<mapping>") -> AudienceLexicon:
        """Build from `{"tier_weights": {...}, "audiences": {aud: {"strong": [...], ...}}}`."""
        tier_weights = raw.get("tier_weights")
        audiences = raw.get("audiences")
        if not isinstance(tier_weights, Mapping) or not isinstance(audiences, Mapping):
            raise LexiconError(f"{source}: needs objects 'tier_weights' and 'audiences'")
        terms: dict[str, dict[str, float]] = {}
        for audience, spec in audiences.items():
            if not isinstance(spec, Mapping):
                raise LexiconError(f"{source}: audiences.{audience}: expected an object of tiers")
            weighted: dict[str, float] = {}
            for tier in TIERS:
                listed = spec.get(tier, [])
                if not isinstance(listed, list):
                    raise LexiconError(f"{source}: audiences.{audience}.{tier}: expected a list of terms")
                if listed and tier not in tier_weights:
                    raise LexiconError(f"{source}: tier_weights.{tier} is missing")
                for term in listed:
                    if not isinstance(term, str):
                        raise LexiconError(f"{source}: audiences.{audience}.{tier}: non-string term {term!r}")
                    weighted[term] = max(weighted.get(term, 0.0), float(tier_weights[tier]))
            terms[str(audience)] = weighted
        return cls(terms, source=source)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """Plain mapping audience -> {term: weight}, enough to rebuild the lexicon."""
        return {a: dict(w) for a, w in self.terms.items()}

    def match(self, text: str) -> dict[str, LexiconMatch]:
        """Audiences whose terms occur in `text`, with the distinct terms (heaviest first)."""
        found: dict[str, dict[str, float]] = {}
        if self._pattern is not None:
            for hit in self._pattern.finditer(text.lower()):
                for audience, weight in self._by_term[hit.group(0)]:
                    found.setdefault(audience, {})[hit.group(0)] = weight
        original = self._original
        return {
            audience: LexiconMatch(
                audience,
                tuple(original[t] for t in sorted(weighted, key=lambda t: (-weighted[t], -len(t), t))),
                sum(weighted.values()),
            )
            for audience, weighted in found.items()
        }

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Lexicon scores, shape (n_texts, 6) in [0, 1), columns in LABELS order (public last)."""
        out = np.zeros((len(texts), len(LABELS)))
        for row, text in enumerate(texts):
            for audience, hit in self.match(text).items():
                out[row, LABELS.index(audience)] = hit.score
        return out


def keyword_reason(match: LexiconMatch, max_terms: int = 3) -> str:
    """The Chinese reason shown next to a lexicon-backed tag, e.g. "关键词：水稻、病虫害"."""
    return "关键词：" + "、".join(match.terms[:max_terms])
