"""Feature matrices for MovieLens-100k: item content (genres, release-year buckets, title words) and user
demographics (age band, gender, occupation) — the stand-ins for Kepu's topics and audience segments."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.evaluation.datasets import AGE_BANDS, GENRES

YEAR_EDGES: tuple[int, ...] = (
    1930,
    1940,
    1950,
    1960,
    1970,
    1980,
    1985,
    1990,
    1993,
    1994,
    1995,
    1996,
    1997,
    1998,
)
_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset({"the", "a", "an", "of", "and", "in", "to", "on", "la", "le", "de", "for", "with"})


def year_bucket_labels() -> list[str]:
    """Names of the release-year buckets: '<1930', '1930-1939', …, '1998+', and 'year:unknown'."""
    labels = [f"<{YEAR_EDGES[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(YEAR_EDGES)]
    return [*labels, f"{YEAR_EDGES[-1]}+", "year:unknown"]


def _year_bucket(year: float) -> int:
    if np.isnan(year):
        return len(YEAR_EDGES) + 1
    return int(np.searchsorted(YEAR_EDGES, year, side="right"))


def title_words(title: str) -> list[str]:
    """Lower-cased title tokens without the '(1995)' year suffix and a few stop words."""
    bare = re.sub(r"\(\d{4}\)\s*$", "", str(title)).lower()
    return [w for w in _WORD.findall(bare) if w not in _STOPWORDS and not w.isdigit()]


def item_content_features(
    items: pd.DataFrame,
    *,
    genres: bool = True,
    years: bool = True,
    titles: bool = True,
    vocabulary_rows: np.ndarray | None = None,
    min_title_count: int = 2,
) -> tuple[sp.csr_matrix, list[str]]:
    """Binary (n_items, f) content matrix and its column names.

    The title vocabulary is built from `vocabulary_rows` only (e.g. the warm items of a cold-item split,
    so held-out items never shape the feature space) and keeps words seen in >= min_title_count titles.
    """
    blocks: list[sp.csr_matrix] = []
    names: list[str] = []
    if genres:
        blocks.append(sp.csr_matrix(items[list(GENRES)].to_numpy(dtype=np.float32)))
        names += [f"genre:{g}" for g in GENRES]
    if years:
        labels = year_bucket_labels()
        codes = np.array([_year_bucket(y) for y in items["year"].to_numpy(dtype=float)])
        blocks.append(
            sp.csr_matrix(
                (np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
                shape=(len(codes), len(labels)),
            )
        )
        names += [f"year:{label}" for label in labels]
    if titles:
        words = [title_words(t) for t in items["title"]]
        vocab_source = range(len(words)) if vocabulary_rows is None else vocabulary_rows
        counts: dict[str, int] = {}
        for row in vocab_source:
            for w in set(words[row]):
                counts[w] = counts.get(w, 0) + 1
        vocabulary = sorted(w for w, c in counts.items() if c >= min_title_count)
        column = {w: j for j, w in enumerate(vocabulary)}
        pairs = sorted({(i, column[w]) for i, ws in enumerate(words) for w in ws if w in column})
        rows = np.array([p[0] for p in pairs], dtype=np.int64)
        cols = np.array([p[1] for p in pairs], dtype=np.int64)
        blocks.append(
            sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(words), len(vocabulary)))
        )
        names += [f"title:{w}" for w in vocabulary]
    if not blocks:
        raise ValueError("choose at least one of genres, years, titles")
    return sp.hstack(blocks, format="csr", dtype=np.float32), names


def user_demographic_features(users: pd.DataFrame) -> tuple[sp.csr_matrix, list[str]]:
    """One-hot (n_users, f) of age band, gender and occupation, with column names."""
    names: list[str] = []
    blocks = []
    for column, labels in (
        ("age_band", [band[2] for band in AGE_BANDS]),
        ("gender", sorted(users["gender"].unique())),
        ("occupation", sorted(users["occupation"].unique())),
    ):
        codes = pd.Categorical(users[column], categories=labels).codes
        if (codes < 0).any():
            raise ValueError(f"users.{column} has values outside {labels}")
        blocks.append(
            sp.csr_matrix(
                (np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
                shape=(len(codes), len(labels)),
            )
        )
        names += [f"{column}:{label}" for label in labels]
    return sp.hstack(blocks, format="csr", dtype=np.float32), names
