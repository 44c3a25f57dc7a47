"""The candidate-pool blend (`recommender.pool_blend`) serves exactly the full pass's head, scores included.

Random catalogs with every kind of source the service blends (a model product with rows lacking a vector,
sparse content neighbours, binary local items, priors with many ties), random filters, editor boosts and
freshness: whenever `pool_top` proves its pool, the head and its scores equal those of the full pass
(`rerank.blend` → `freshness_boost` → boosts → the best `depth` allowed rows, ties by lower row).
"""

from __future__ import annotations

import numpy as np

from recommender.pool_blend import Source, pool_top, static_sum
from recommender.rerank import BlendWeights, blend, freshness_boost

NOW = 1_700_000_000.0
HALF_LIFE, FRESH_WEIGHT = 14.0, 0.3


def _world(seed: int, n: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[int, float], BlendWeights]:
    rng = np.random.default_rng(seed)
    model = (rng.normal(size=(n, 8)).astype(np.float32) @ rng.normal(size=8).astype(np.float32)).astype(np.float32)
    model[rng.random(n) < 0.02] = np.nan  # catalog rows without a model vector
    content = np.zeros(n, dtype=np.float32)
    near = rng.choice(n, size=rng.integers(0, 120), replace=False)
    content[near] = rng.random(near.size).astype(np.float32)
    popularity = np.round(rng.pareto(1.5, size=n), 1).astype(np.float32)  # heavy-tailed, many ties
    popularity[rng.random(n) < 0.5] = 0.0
    signals = {
        "model": model,
        "content": content,
        "audience": popularity,
        "trending": rng.random(n).astype(np.float32) ** 4,
        "tag": rng.choice([0.0, 0.5, 0.8, 1.0], size=n).astype(np.float32),
        "local": (rng.random(n) < 0.05).astype(np.float32),
    }
    mask = rng.random(n) < rng.uniform(0.3, 0.95)
    published = NOW - rng.uniform(0, 90, size=n) * 86_400.0
    boosts = {int(r): float(f) for r, f in zip(rng.choice(n, 3), rng.uniform(0.5, 3.0, 3), strict=True)}
    raw = rng.random(6) * (rng.random(6) < 0.85)  # some sources weigh nothing
    weights = BlendWeights(*(raw / max(raw.sum(), 1e-9)).tolist())
    return signals, mask, published, boosts, weights


def _full_pass(signals, mask, published, boosts, weights, depth):  # type: ignore[no-untyped-def]
    scores, _ = blend(signals, weights, mask)
    scores = freshness_boost(scores, published, NOW, HALF_LIFE, FRESH_WEIGHT)
    for row, factor in boosts.items():
        scores[row] *= factor
    allowed = np.flatnonzero(mask)
    head = allowed[np.lexsort((allowed, -scores[allowed]))][:depth]
    return head, scores[head]


def test_pool_head_equals_full_pass() -> None:
    proven = sum(_check(seed) for seed in range(16))
    assert proven >= 8, proven  # independent random sources are the hard case; real ones correlate


def _check(seed: int) -> bool:
    """Equal to the full pass whenever proven; True if proven."""
    signals, mask, published, boosts, weights = _world(seed, n=4_000)
    depth = 50
    static = {"audience", "trending", "tag", "local"}
    sources = {
        name: Source(
            values,
            np.argsort(-values, kind="stable") if name in static else None,
            sparse=name == "content",
        )
        for name, values in signals.items()
    }
    blend_weights = {name: w for name, w in weights.as_dict().items() if name in signals}
    freshest = np.argsort(-published, kind="stable")
    combined = static_sum(sources, blend_weights)
    top = pool_top(
        sources, blend_weights, mask, published, NOW, HALF_LIFE, FRESH_WEIGHT, boosts, depth, 50, freshest, combined
    )
    if top is None:
        return False
    head, scores = _full_pass(signals, mask, published, boosts, weights, depth)
    assert top.pool_size < mask.sum()  # a pool, not the allowed catalog
    np.testing.assert_array_equal(top.head, head)
    np.testing.assert_array_equal(top.scores, scores)
    _, full_parts = blend(signals, weights, mask)
    parts = top.scorer.contributions_at(head)
    for name, part in full_parts.items():  # the explanations read these
        np.testing.assert_array_equal(parts[name], part[head])
    return True


def test_unprovable_pool_falls_back() -> None:
    signals, mask, published, _, _ = _world(0, n=1_000)
    sources = {name: Source(values) for name, values in signals.items()}
    freshest = np.argsort(-published, kind="stable")
    negative = {**{name: 1.0 for name in signals}, "model": -0.5}  # the bound assumes no negative weight
    assert pool_top(sources, negative, mask, published, NOW, HALF_LIFE, FRESH_WEIGHT, {}, 10, 50, freshest) is None
