"""The online blend a bundle carries: blend weights per band of requester history, fitted on validation.

A requester's band is the number of distinct items in their live history (0 = known by profile or
audience only). Bands replace the old hand-set shrinkage curve: each band gets the weights that gave the
best served NDCG@k on that band's validation users (`recommender.blend_fit`), so how fast weight moves
from the audience prior to the model is learned from the data, not assumed.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recommender.rerank import BlendWeights

HISTORY_BANDS: tuple[int, ...] = (0, 1, 5, 20, 50)
"""Lower bounds of the history bands: profile-only, 1–4 reads, 5–19, 20–49, 50 and more."""


@dataclass(frozen=True)
class OnlineBlend:
    """`weights[i]` applies to requesters with `bands[i] <= n_history < bands[i+1]`.

    `mmr_lambda` is the diversity trade-off fitted after the weights. `figures` records, per band, the
    validation users and NDCG of the fitted vs the fallback weights.
    """

    bands: tuple[int, ...]
    weights: tuple[BlendWeights, ...]
    figures: dict[str, Any] = field(default_factory=dict)
    mmr_lambda: float | None = None  # the MMR trade-off fitted with the weights (None: service default)

    def __post_init__(self) -> None:
        if len(self.bands) != len(self.weights) or not self.bands or self.bands[0] != 0:
            raise ValueError("online blend: one weight set per band, the first band starting at 0")
        if list(self.bands) != sorted(set(self.bands)):
            raise ValueError(f"online blend: bands must increase, got {self.bands}")

    def weights_for(self, n_history: int) -> BlendWeights:
        return self.weights[bisect.bisect_right(self.bands, max(0, n_history)) - 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "bands": list(self.bands),
            "weights": [w.as_dict() for w in self.weights],
            "figures": self.figures,
            "mmr_lambda": self.mmr_lambda,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> OnlineBlend:
        weights: Sequence[Mapping[str, float]] = doc["weights"]
        return cls(
            tuple(int(b) for b in doc["bands"]),
            tuple(BlendWeights(**{k: float(v) for k, v in w.items()}) for w in weights),
            dict(doc.get("figures") or {}),
            None if doc.get("mmr_lambda") is None else float(doc["mmr_lambda"]),
        )
