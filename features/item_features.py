"""Item feature matrix (LightFM style): audiences, topics, format, reading level, source org, town, text
clusters, publication period, and optional identity columns.

Text features make a brand-new item scorable from content alone: the encoder vectors are clustered with
k-means at fit time, and each item gets soft memberships in its `top_clusters` nearest clusters
(`text:c07` …, weights ∝ cosine similarity). Column names: `audience:<id>` (valued by the tag score),
`topic:<id>`, `format:<id>`, `level:<id>`, `org:<name>`, `town:<name>`, `text:c<k>`, `item:<id>`.

Publication period: `published:<YYYY-MM-DD>` one-hot over up to `N_PUBLISHED_BUCKETS` periods whose lower
edges are quantiles of the fitted items' `published_at` (so each period holds a similar share of the
catalog). When content is consumed depends strongly on its age (MovieLens: release year), and a new item
falls in the newest period. Bundles fitted before these columns existed ignore them (unknown names).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans

from content_catalog.schema import Item
from content_catalog.taxonomy import AUDIENCES, FORMATS, READING_LEVELS, TOPICS, TOWNS
from features.idmap import IdMap
from features.sparse_rows import rows_to_csr

IDENTITY_PREFIX = "item:"
PUBLISHED_PREFIX = "published:"
N_PUBLISHED_BUCKETS = 10


class ItemFeatureBuilder:
    """fit(items, vectors) learns the org vocabulary and text clusters; transform → CSR with named columns.

    `vectors` are the encoder's L2-normalised item vectors (n_items × dim, row-aligned with `items`) or None
    (then no text features are produced; metadata features still are).
    """

    def __init__(
        self,
        n_text_clusters: int = 16,
        top_clusters: int = 2,
        identity: bool = True,
        normalize: bool = True,
        random_state: int = 0,
    ) -> None:
        self.n_text_clusters = n_text_clusters
        self.top_clusters = top_clusters
        self.identity = identity
        self.normalize = normalize
        self.random_state = random_state

    def fit(self, items: Sequence[Item], vectors: np.ndarray | None = None) -> ItemFeatureBuilder:
        if self.n_text_clusters < 0 or self.top_clusters < 1:
            raise ValueError("n_text_clusters must be >= 0 and top_clusters >= 1")
        self._check_vectors(items, vectors)
        names = [f"audience:{a}" for a in AUDIENCES] + [f"topic:{t}" for t in TOPICS]
        names += [f"format:{f}" for f in FORMATS] + [f"level:{lv}" for lv in READING_LEVELS]
        names += [f"town:{t}" for t in TOWNS]
        names += sorted({f"org:{it.source_org}" for it in items if it.source_org})
        names += [f"{PUBLISHED_PREFIX}{edge}" for edge in _period_edges(items)]
        self.centroids_: np.ndarray | None = None
        n_clusters = min(self.n_text_clusters, len(items))
        if vectors is not None and n_clusters >= 2:
            km = KMeans(n_clusters=n_clusters, n_init=3, random_state=self.random_state)
            km.fit(np.asarray(vectors, dtype=np.float64))
            centroids = km.cluster_centers_
            norms = np.linalg.norm(centroids, axis=1, keepdims=True)
            self.centroids_ = (centroids / np.where(norms == 0, 1.0, norms)).astype(np.float32)
            names += [f"text:c{k:02d}" for k in range(n_clusters)]
        if self.identity:
            names += [f"{IDENTITY_PREFIX}{it.id}" for it in items]
        self.feature_map_ = IdMap.from_values(names)
        self._period_cache = None
        return self

    @property
    def feature_names_(self) -> list[str]:
        return self.feature_map_.to_list()

    @staticmethod
    def _check_vectors(items: Sequence[Item], vectors: np.ndarray | None) -> None:
        if vectors is not None and (vectors.ndim != 2 or vectors.shape[0] != len(items)):
            raise ValueError(f"vectors must be (n_items={len(items)}, dim), got shape {vectors.shape}")

    def text_memberships(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """Soft memberships of each vector in its nearest `top_clusters` text clusters."""
        if self.centroids_ is None:
            return [{} for _ in range(len(vectors))]
        if vectors.shape[1] != self.centroids_.shape[1]:
            raise ValueError(
                f"vectors have dim {vectors.shape[1]}, text clusters were fitted on dim {self.centroids_.shape[1]}"
            )
        sims = np.asarray(vectors, dtype=np.float32) @ self.centroids_.T
        top = min(self.top_clusters, sims.shape[1])
        best = np.argsort(-sims, axis=1)[:, :top]
        rows = []
        for r, cols in enumerate(best):
            weights = np.clip(sims[r, cols], 1e-3, None)
            rows.append({f"text:c{c:02d}": float(w / weights.sum()) for c, w in zip(cols, weights, strict=True)})
        return rows

    def _metadata_row(self, item: Item, with_identity: bool) -> dict[str, float]:
        row: dict[str, float] = {f"audience:{t.audience}": max(t.score, 0.05) for t in item.audiences}
        row.update({f"topic:{t}": 1.0 for t in item.topics})
        row[f"format:{item.format}"] = 1.0
        row[f"level:{item.reading_level}"] = 0.5
        if item.source_org:
            row[f"org:{item.source_org}"] = 0.5
        if item.town:
            row[f"town:{item.town}"] = 0.5
        if self._periods:
            at = item.published_at.date().isoformat()
            row[f"{PUBLISHED_PREFIX}{self._periods[max(0, bisect.bisect_right(self._periods, at) - 1)]}"] = 1.0
        if with_identity and self.identity:
            row[f"{IDENTITY_PREFIX}{item.id}"] = 1.0
        return row

    @property
    def _periods(self) -> list[str]:
        """Lower edges (ISO dates) of the publication periods, from the fitted column names."""
        if getattr(self, "_period_cache", None) is None:
            names = self.feature_names_
            self._period_cache = sorted(n[len(PUBLISHED_PREFIX) :] for n in names if n.startswith(PUBLISHED_PREFIX))
        return self._period_cache

    def transform(
        self, items: Sequence[Item], vectors: np.ndarray | None = None, with_identity: bool = True
    ) -> sp.csr_matrix:
        """CSR (n_items × n_features). `with_identity=False` gives the feature-only rows used to score
        items the model has never seen."""
        if not hasattr(self, "feature_map_"):
            raise RuntimeError("ItemFeatureBuilder is not fitted; call fit(items, vectors) first")
        self._check_vectors(items, vectors)
        text = self.text_memberships(vectors) if vectors is not None else [{} for _ in items]
        rows = [{**self._metadata_row(it, with_identity), **t} for it, t in zip(items, text, strict=True)]
        return rows_to_csr(rows, self.feature_map_, self.normalize)

    def fit_transform(self, items: Sequence[Item], vectors: np.ndarray | None = None) -> sp.csr_matrix:
        return self.fit(items, vectors).transform(items, vectors)

    def get_state(self) -> dict[str, Any]:
        """JSON-serialisable state (centroids as nested lists) for model bundles."""
        return {
            "params": {
                "n_text_clusters": self.n_text_clusters,
                "top_clusters": self.top_clusters,
                "identity": self.identity,
                "normalize": self.normalize,
                "random_state": self.random_state,
            },
            "feature_names": self.feature_names_,
            "centroids": None if self.centroids_ is None else self.centroids_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ItemFeatureBuilder:
        builder = cls(**state["params"])
        builder.feature_map_ = IdMap(state["feature_names"])
        builder._period_cache = None
        cents = state.get("centroids")
        builder.centroids_ = None if cents is None else np.asarray(cents, dtype=np.float32)
        return builder


def _period_edges(items: Sequence[Item]) -> list[str]:
    """Lower edges (ISO dates) of up to `N_PUBLISHED_BUCKETS` publication periods holding similar shares
    of the items; the first edge is the oldest item's date."""
    if not items:
        return []
    days = np.array([it.published_at.date().toordinal() for it in items], dtype=np.int64)
    quantiles = np.quantile(days, np.linspace(0.0, 1.0, N_PUBLISHED_BUCKETS + 1)[:-1], method="lower")
    return [date.fromordinal(int(d)).isoformat() for d in np.unique(quantiles)]
