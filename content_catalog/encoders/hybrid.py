"""`hybrid`: the corpus-fitted `tfidf-svd` and the neural `use-multilingual` in one vector.

Why both: TF-IDF fitted on our own catalog knows names and jargon the neural model never saw (稻飞虱,
北斗三号); USE knows paraphrase the catalog's words cannot (庄稼长虫子 ≈ 水稻病虫害). Each part is L2-normalised
and scaled by the square root of its weight before concatenation, so the cosine of two hybrid vectors is
exactly `tfidf_weight * cos_tfidf + (1 - tfidf_weight) * cos_use` — a score fusion that faiss computes.

Optional catalog-fitted post-processing (all off by default; measured in docs/encoders.md, each O(d²) or less
per text, none scans the catalog densely):
- `lexical_components`: the tfidf-svd part re-projected on its top principal directions of the catalog,
  each scaled by (σ_i/σ_1)^`lexical_power` (LSA spectrum reweighting: broad topics weigh more);
- `neural_smoothing`: the USE part pulled towards the mean USE vector of the text's `neural_neighbours`
  most lexically similar catalog documents, found in the scan tfidf-svd already does for its own smoothing;
- `clusters`: a soft assignment to k-means centroids of the catalog's hybrid vectors (temperature
  `cluster_temperature`) appended with weight `cluster_weight`, so items of one region of the catalog share
  a coarse topic signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from content_catalog.encoders.base import TextEncoder, check_texts, l2_normalize, read_manifest, write_manifest
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder

LEXICAL_PART = "tfidf-svd"
NEURAL_PART = "use-multilingual"
FITTED_FILE = "hybrid_fitted.npz"
POST_DEFAULTS: dict[str, Any] = {
    "lexical_components": 0,
    "lexical_power": 1.0,
    "neural_smoothing": 0.0,
    "neural_neighbours": 10,
    "clusters": 0,
    "cluster_temperature": 0.1,
    "cluster_weight": 0.15,
    "random_state": 0,
}
"""Post-processing parameters and their defaults (off), also what a manifest without them loads as."""
TUNED: dict[str, Any] = {
    "tfidf_weight": 0.2,
    "lexical_components": 64,
    "lexical_power": 0.5,
    "neural_smoothing": 0.5,
    "neural_neighbours": 10,
    "clusters": 20,
    "cluster_temperature": 0.1,
    "cluster_weight": 0.3,
}
"""Weight and post-processing chosen on fold 0 of CSL (docs/encoders.md); opt-in, not the default."""


class HybridEncoder(TextEncoder):
    """Weighted concatenation of a fitted `TfidfSvdEncoder` and a `UseMultilingualEncoder`.

    Parameters
    ----------
    tfidf_weight: share of the cosine that comes from the tfidf-svd part, in [0, 1].
    tfidf: the lexical part (default: `TfidfSvdEncoder()`, fitted by `fit`).
    use: the neural part (default: `UseMultilingualEncoder()`).
    lexical_components, lexical_power, neural_smoothing, neural_neighbours, clusters, cluster_temperature,
    cluster_weight, random_state: the optional post-processing of the module docstring (0 = off).
    """

    kind = "hybrid"

    def __init__(
        self,
        tfidf_weight: float = 0.3,
        tfidf: TfidfSvdEncoder | None = None,
        use: UseMultilingualEncoder | None = None,
        **post: Any,
    ) -> None:
        if not 0.0 <= float(tfidf_weight) <= 1.0:
            raise ValueError(f"tfidf_weight must be in [0, 1], got {tfidf_weight!r}")
        unknown = sorted(set(post) - set(POST_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown hybrid parameter(s) {unknown}: expected some of {sorted(POST_DEFAULTS)}")
        self.tfidf_weight = float(tfidf_weight)
        self.tfidf = tfidf if tfidf is not None else TfidfSvdEncoder()
        self.use = use if use is not None else UseMultilingualEncoder()
        self.post = {**POST_DEFAULTS, **post}
        self._check_post()
        self._fitted: dict[str, np.ndarray] = {}

    def _check_post(self) -> None:
        post = self.post
        for name in ("lexical_components", "neural_neighbours", "clusters"):
            if not isinstance(post[name], int) or isinstance(post[name], bool) or post[name] < 0:
                raise ValueError(f"{name} must be an int >= 0, got {post[name]!r}")
        if post["neural_smoothing"] < 0 or post["cluster_temperature"] <= 0:
            raise ValueError("neural_smoothing must be >= 0 and cluster_temperature > 0")
        if not 0.0 <= post["cluster_weight"] < 1.0:
            raise ValueError(f"cluster_weight must be in [0, 1), got {post['cluster_weight']!r}")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention)."""
        return {"tfidf_weight": self.tfidf_weight, "tfidf": self.tfidf, "use": self.use, **self.post}

    @property
    def _smooths_neural(self) -> bool:
        return self.post["neural_smoothing"] > 0 and self.post["neural_neighbours"] > 0

    def fit(self, texts: Sequence[str], y: Sequence[str | None] | None = None) -> Self:
        """Fit the lexical part on the corpus (the neural part is pretrained), then the optional post-processing
        on the corpus's own vectors."""
        items = check_texts(texts)
        self.tfidf.fit(items, y)
        self._fitted = {}
        post = self.post
        if not (post["lexical_components"] or self._smooths_neural or post["clusters"]):
            return self
        fitted: dict[str, np.ndarray] = {}
        neural = l2_normalize(self.use.encode(items))
        if self._smooths_neural:
            fitted["neural_memory"] = neural[self.tfidf.memory_rows].astype(np.float16)
        self._fitted = fitted
        lexical, neural = self._parts(items)  # smoothed with the memory just stored
        if post["lexical_components"]:
            fitted.update(_spectral_projection(lexical, post["lexical_components"], post["lexical_power"]))
            lexical = self._project_lexical(lexical)
        if post["clusters"]:
            joined = self._join(lexical, neural)
            fitted["centroids"] = _fit_centroids(joined, post["clusters"], post["random_state"])
        return self

    def _parts(self, items: list[str], show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Unit lexical vectors and unit (optionally neighbour-smoothed) neural vectors."""
        neural = l2_normalize(self.use.encode(items, show_progress=show_progress))
        if "neural_memory" not in self._fitted:
            return l2_normalize(self.tfidf.encode(items, show_progress=show_progress)), neural
        lexical, rows, shared = self.tfidf.encode_with_neighbours(items, self.post["neural_neighbours"])
        memory = self._fitted["neural_memory"].astype(np.float32)
        weights = shared.astype(np.float32)
        mean = np.einsum("nk,nkd->nd", weights, memory[rows]) / np.maximum(weights.sum(1, keepdims=True), 1.0)
        has_text = np.linalg.norm(neural, axis=1, keepdims=True) > 0
        neural = l2_normalize(np.where(has_text, neural + self.post["neural_smoothing"] * mean, 0.0))
        return l2_normalize(lexical), neural

    def _project_lexical(self, lexical: np.ndarray) -> np.ndarray:
        if "lexical_components" not in self._fitted:
            return lexical
        known = np.linalg.norm(lexical, axis=1, keepdims=True) > 0  # a text with no known term stays zero
        projected = (lexical - self._fitted["lexical_mean"]) @ self._fitted["lexical_components"]
        return l2_normalize(np.where(known, projected, 0.0))

    def _join(self, lexical: np.ndarray, neural: np.ndarray) -> np.ndarray:
        joined = np.hstack([np.sqrt(self.tfidf_weight) * lexical, np.sqrt(1.0 - self.tfidf_weight) * neural])
        return l2_normalize(joined)

    def _joined(self, items: list[str], show_progress: bool = False) -> np.ndarray:
        lexical, neural = self._parts(items, show_progress)
        return self._join(self._project_lexical(lexical), neural)

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Document vectors: what the catalog index stores (similar items, content neighbours)."""
        joined = self._joined(check_texts(texts), show_progress)
        if "centroids" in self._fitted:
            joined = _append_clusters(joined, self._fitted["centroids"], self.post)
        return joined.astype(np.float32, copy=False)

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        """Search-query vectors, asymmetric when clusters are fitted: the cluster block stays zero and the rest
        is scaled by 1/√(1−β), so a query's inner product with a document vector is exactly its cosine in the
        space without clusters. Why: the coarse cluster signal helps item-to-item neighbours but costs a query
        its fine-grained matches (docs/encoders.md); the no-answer threshold sees that cosine's usual scale."""
        joined = self._joined(check_texts(texts))
        if "centroids" in self._fitted:
            blank = np.zeros((joined.shape[0], self._fitted["centroids"].shape[0]), dtype=joined.dtype)
            joined = np.hstack([joined / np.sqrt(1.0 - self.post["cluster_weight"]), blank])
        return joined.astype(np.float32, copy=False)

    @property
    def dim(self) -> int:
        lexical = self.tfidf.dim
        if "lexical_components" in self._fitted:
            lexical = int(self._fitted["lexical_components"].shape[1])
        return lexical + self.use.dim + int(self._fitted["centroids"].shape[0] if "centroids" in self._fitted else 0)

    @property
    def spec(self) -> str:
        return self.kind

    @property
    def name(self) -> str:
        extras = [f"{key}={value:g}" for key, value in self.post.items() if key != "random_state" and value]
        tuned = f" [{', '.join(extras)}]" if self._fitted else ""
        return f"hybrid({self.tfidf_weight:g}·{self.tfidf.name} + {1 - self.tfidf_weight:g}·{self.use.name}){tuned}"

    def save(self, folder: str | Path) -> Path:
        """Manifest plus one sub-folder per part, each loadable on its own, and the fitted post-processing."""
        target = Path(folder)
        self.tfidf.save(target / LEXICAL_PART)
        self.use.save(target / NEURAL_PART)
        if self._fitted:
            np.savez(target / FITTED_FILE, **self._fitted)
        params: dict[str, Any] = {"tfidf_weight": self.tfidf_weight}
        if self.post != POST_DEFAULTS:
            params.update(self.post)
        write_manifest(target, self.kind, self.spec, self.dim, params)
        return target

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """Also loads encoders saved before the post-processing existed (manifest with `tfidf_weight` only)."""
        manifest = read_manifest(folder)
        if manifest["kind"] != cls.kind:
            raise ValueError(f"{folder}: manifest kind {manifest['kind']!r} is not {cls.kind!r}")
        source = Path(folder)
        params = dict(manifest["params"])
        encoder = cls(
            tfidf_weight=params.pop("tfidf_weight"),
            tfidf=TfidfSvdEncoder.load(source / LEXICAL_PART),
            use=UseMultilingualEncoder.load(source / NEURAL_PART),
            **params,
        )
        if (source / FITTED_FILE).is_file():
            with np.load(source / FITTED_FILE) as stored:
                encoder._fitted = {key: stored[key] for key in stored.files}
        if encoder.dim != manifest["dim"]:
            raise ValueError(f"{folder}: manifest dim {manifest['dim']} != stored model dim {encoder.dim}")
        return encoder


def _spectral_projection(lexical: np.ndarray, components: int, power: float) -> dict[str, np.ndarray]:
    """Mean and (dim × k) projection on the top-k principal directions, column i scaled by (σ_i/σ_1)^power."""
    mean = lexical.mean(axis=0)
    _, sigma, vt = np.linalg.svd(lexical - mean, full_matrices=False)
    k = max(1, min(components, int(np.sum(sigma > sigma[0] * 1e-6)) if sigma[0] > 0 else 1))
    scale = (sigma[:k] / sigma[0]) ** power if sigma[0] > 0 else np.ones(k)
    return {"lexical_mean": mean.astype(np.float32), "lexical_components": (vt[:k].T * scale).astype(np.float32)}


def _fit_centroids(vectors: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """Unit k-means centroids of the catalog's vectors (k clamped to the distinct rows)."""
    from sklearn.cluster import KMeans  # imported here: seconds of import that only a clustered fit needs

    distinct = np.unique(vectors.round(6), axis=0).shape[0]
    k = max(1, min(clusters, distinct))
    model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(vectors)
    return l2_normalize(model.cluster_centers_).astype(np.float32)


def _append_clusters(joined: np.ndarray, centroids: np.ndarray, post: dict[str, Any]) -> np.ndarray:
    """[√(1−β)·v, √β·softmax(v·C/τ)/‖·‖]; an all-zero row (empty text) stays all zero."""
    logits = joined @ centroids.T / post["cluster_temperature"]
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    soft = l2_normalize(soft / soft.sum(axis=1, keepdims=True))
    beta = post["cluster_weight"]
    out = np.hstack([np.sqrt(1.0 - beta) * joined, np.sqrt(beta) * soft])
    return np.where(np.linalg.norm(joined, axis=1, keepdims=True) > 0, out, 0.0)
