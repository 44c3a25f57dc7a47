"""Re-ranking: blend the candidate signals → freshness boost → editor boosts → MMR diversity over topics →
editor pins. Works on the small top of the list only (O(m²) MMR over m ≤ a few hundred candidates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.rules import EditorRule


def minmax(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Scale to 0…1 over the finite (and masked-in) entries; NaN/−inf → 0. Constant input → 0.5 where set."""
    out = np.zeros(scores.shape, dtype=np.float32)
    valid = np.isfinite(scores) if mask is None else np.isfinite(scores) & mask
    if not valid.any():
        return out
    lo, hi = float(scores[valid].min()), float(scores[valid].max())
    out[valid] = 0.5 if hi - lo < 1e-12 else (scores[valid] - lo) / (hi - lo)
    return out


FALLBACK_BLEND: dict[str, float] = {
    "model_base": 0.15,
    "model_by_confidence": 0.55,
    "audience_base": 0.05,
    "audience_by_doubt": 0.40,
    "content": 0.45,
    "content_full_at_reads": 3.0,
    "trending": 0.10,
}
"""Unfitted blend for bundles that carry no fitted one (format 1): the first release's hand-set prior.
Fitted blends (docs/evaluation.md, "served list") replace it for every bundle `kepu train` writes."""
FALLBACK_AUDIENCE_MIX: dict[str, float] = {"popularity": 0.6, "tag": 0.4, "local": 0.5}
"""How the fallback spreads its audience weight over audience popularity, audience tag and local items."""


@dataclass(frozen=True)
class BlendWeights:
    """How much each signal counts for one requester.

    Bundles trained by `kepu train` carry weights fitted on validation per history band
    (`recommender.online_blend.OnlineBlend`); `for_history` is only the fallback for bundles without
    one (format-1 bundles, or too few validation users to fit).
    """

    model: float
    content: float
    audience: float  # popularity inside the requester's audience
    trending: float
    tag: float = 0.0  # the item's editor/tagger score for the requester's audience
    local: float = 0.0  # local activity (activity / exhibit / live) in the requester's town

    @classmethod
    def for_history(
        cls, n_known_interactions: int, n_recent_reads: int, has_model_user: bool, shrinkage: float = 5.0
    ) -> BlendWeights:
        """The unfitted fallback: weight moves from the audience prior to the model with
        `confidence = n / (n + shrinkage)`; content grows with recent reads. Its numbers are
        `FALLBACK_BLEND` (the first release's hand-set prior, kept so old bundles rank as before)."""
        f = FALLBACK_BLEND
        confidence = n_known_interactions / (n_known_interactions + shrinkage) if has_model_user else 0.0
        content = f["content"] * min(1.0, (n_recent_reads + 1) / f["content_full_at_reads"]) if n_recent_reads else 0.0
        model = f["model_base"] + f["model_by_confidence"] * confidence
        audience = f["audience_by_doubt"] * (1.0 - confidence) + f["audience_base"]
        trending = f["trending"]
        mix = FALLBACK_AUDIENCE_MIX
        total = model + content + audience * sum(mix.values()) + trending
        return cls(
            model / total,
            content / total,
            audience * mix["popularity"] / total,
            trending / total,
            audience * mix["tag"] / total,
            audience * mix["local"] / total,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "model": self.model,
            "content": self.content,
            "audience": self.audience,
            "trending": self.trending,
            "tag": self.tag,
            "local": self.local,
        }


def blend(
    signals: Mapping[str, np.ndarray], weights: BlendWeights, mask: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of min-max-scaled signals (scaled over the allowed items only).

    Returns the blended scores and each signal's weighted contribution (the explanation reads these).
    """
    contributions = {name: minmax(signals[name], mask) * w for name, w in weights.as_dict().items() if name in signals}
    total = np.zeros(mask.shape, dtype=np.float32)
    for part in contributions.values():
        total += part
    return total, contributions


def freshness_boost(
    scores: np.ndarray, published: np.ndarray, now_ts: float, half_life_days: float, weight: float
) -> np.ndarray:
    """Multiply by `1 + weight · 0.5^(age/half_life)`: brand-new items get up to `weight` extra."""
    if weight <= 0:
        return scores
    age_days = np.clip((now_ts - published) / 86_400.0, 0.0, None)
    return scores * (1.0 + weight * np.power(0.5, age_days / half_life_days)).astype(np.float32)


def mmr(candidates: np.ndarray, scores: np.ndarray, topic_vectors: np.ndarray, k: int, lambda_: float) -> np.ndarray:
    """Maximal marginal relevance over topics: pick argmax `λ·score − (1−λ)·max topic cosine to picked`.

    candidates: catalog rows (m,); scores: relevance of those rows (m,); topic_vectors: rows L2-normalised
    (m, n_topics). Returns the first `k` rows in MMR order. λ = 1 → plain score order.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"mmr lambda must be within [0, 1], got {lambda_}")
    m = len(candidates)
    k = min(k, m)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    rel = minmax(np.asarray(scores, dtype=np.float32))
    sims = topic_vectors @ topic_vectors.T
    max_sim = np.zeros(m, dtype=np.float32)
    # value = λ·rel − (1−λ)·max_sim, updated in place: four small array operations per pick (this loop
    # runs snapshot_depth times per request). A picked row's relevance becomes −inf, so it stays out.
    relevance = (lambda_ * rel).astype(np.float32, copy=False)
    penalty = np.empty(m, dtype=np.float32)
    value = relevance.copy()
    order = np.empty(k, dtype=np.int64)
    for step in range(k):
        best = int(value.argmax())
        order[step] = best
        relevance[best] = -np.inf
        np.maximum(max_sim, sims[best], out=max_sim)
        np.multiply(max_sim, 1.0 - lambda_, out=penalty)
        np.subtract(relevance, penalty, out=value)
    return np.asarray(candidates)[order]


def apply_pins(ranked: Sequence[str], pins: Sequence[EditorRule], allowed: set[str]) -> tuple[list[str], set[str]]:
    """Place each allowed pinned item at its position (lower positions first; later pins shift right).

    `allowed`: ids that passed the filters (a pin never resurrects a seen, expired or blocked item).
    Returns the new list and the ids that were pinned.
    """
    moved = {p.item_id for p in pins if p.item_id in allowed}  # built once, not per ranked id
    out = [i for i in ranked if i not in moved]
    pinned: set[str] = set()
    for rule in pins:
        if rule.item_id not in allowed or rule.item_id in pinned:
            continue
        out.insert(min(rule.position, len(out)), rule.item_id)
        pinned.add(rule.item_id)
    return out, pinned
