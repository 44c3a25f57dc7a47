"""The blend's top rows from a candidate pool instead of a pass over the whole catalog, with a proof.

Why: at 100k items, scaling every source over the catalog, summing them, applying freshness and
partitioning the result cost several times the model's own matrix-vector product (bench/README.md, "Hot
path"). Only the blend's best `depth` rows are ever used (the MMR head), plus a few pinned rows.

How: the pool is the best `per_source` allowed rows of every source (static sources walk an order sorted
once per catalog view; the model is partitioned once; sparse sources such as content neighbours give all
their non-zero rows) plus boosted rows. Every pool row gets exactly the score the full pass gives it (the
same float32 operations on the same values: `rerank.minmax` scaling over the allowed rows, weights,
`rerank.freshness_boost`, editor boosts). A row outside the pool is below every source's cut, so its score
is at most `Σ weight · scaled(cut)` times the largest freshness factor any allowed row can have: when the
pool's `depth`-th score beats that bound, the pool's top `depth` are the full pass's top `depth`, ties
included. Otherwise the pool grows (×4) and is checked again; `pool_top` returns None (the caller runs
the full pass) when it would grow past a quarter of the allowed rows, or when an input breaks the
bound's assumptions (a negative weight, an infinite score). tests/test_pool_blend.py checks the
equality on random catalogs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from recommender.rerank import freshness_boost

_CHUNK = 256  # rows of a sorted order examined at once when looking for allowed ones


@dataclass(frozen=True)
class Source:
    """One candidate source over the catalog. `order`: rows by descending value, sorted once per catalog
    view for sources that do not change per request (then `values` must be finite). `sparse`: every row
    outside `np.flatnonzero(values)` is 0 and no value is below 0 (content neighbours)."""

    values: np.ndarray
    order: np.ndarray | None = None
    sparse: bool = False


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    any_valid: bool

    def apply(self, values: np.ndarray) -> np.ndarray:
        """`rerank.minmax` for values of allowed rows, given the (lo, hi) of all allowed rows."""
        out = np.zeros(values.shape, dtype=np.float32)
        if not self.any_valid:
            return out
        valid = np.isfinite(values)
        lo, hi = self.lo, self.hi
        out[valid] = 0.5 if hi - lo < 1e-12 else (values[valid] - lo) / (hi - lo)
        return out

    def bound(self, value: float) -> float:
        """The scaled value of a row whose raw value is at most `value` (0 when it has none)."""
        if not self.any_valid or not np.isfinite(value):
            return 0.0
        if self.hi - self.lo < 1e-12:
            return 0.5
        return max(0.0, (value - self.lo) / (self.hi - self.lo))


@dataclass(frozen=True)
class BlendScorer:
    """Exact blended scores and per-source contributions of any allowed rows (as the full pass gives them)."""

    sources: Mapping[str, Source]
    weights: Mapping[str, float]  # in blend order, only sources that are present
    scales: Mapping[str, _Scale]
    published: np.ndarray
    now_ts: float
    half_life_days: float
    freshness_weight: float
    boosts: Mapping[int, float]  # catalog row -> factor

    def contributions_at(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {name: self.scales[name].apply(self.sources[name].values[rows]) * w for name, w in self.weights.items()}

    def scores_at(self, rows: np.ndarray, contributions: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        parts = self.contributions_at(rows) if contributions is None else contributions
        total = np.zeros(rows.shape, dtype=np.float32)
        for part in parts.values():
            total += part
        total = freshness_boost(total, self.published[rows], self.now_ts, self.half_life_days, self.freshness_weight)
        if self.boosts:
            for j, row in enumerate(rows.tolist()):
                factor = self.boosts.get(row)
                if factor is not None:
                    total[j] *= factor
        return total


@dataclass(frozen=True)
class PoolTop:
    head: np.ndarray  # the blend's best `depth` allowed rows, best first (ties: lower row first)
    scores: np.ndarray  # their blended scores
    scorer: BlendScorer
    pool_size: int
    rounds: int  # 1 unless the pool had to grow


def _first_allowed(order: np.ndarray, mask: np.ndarray, count: int, *, from_end: bool = False) -> np.ndarray:
    """The first `count` rows of `order` (of its reverse with `from_end`) that `mask` allows."""
    walk = order[::-1] if from_end else order
    found: list[np.ndarray] = []
    have, start, step = 0, 0, _CHUNK
    while have < count and start < walk.size:
        chunk = walk[start : start + step]
        hits = chunk[mask[chunk]]
        found.append(hits)
        have += hits.size
        start += step
        step *= 2
    return np.concatenate(found)[:count] if found else np.zeros(0, dtype=np.int64)


def _sorted_unique(rows: np.ndarray) -> np.ndarray:
    """`np.unique(rows)` for integer rows: sort, then drop repeats (numpy 2's hash-based `unique` took
    ~0.4 ms for a few thousand pool rows, 10× this)."""
    ordered = np.sort(rows)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


_NOTHING = (_Scale(0.0, 0.0, False), np.zeros(0, dtype=np.int64), -np.inf)


def _scale_and_top(
    source: Source, mask: np.ndarray, n_allowed: int, size: int
) -> tuple[_Scale, np.ndarray, float] | None:
    """(scale over the allowed rows, the source's pool rows, the largest value of an allowed row left out),
    or None when the source has infinite values (minmax drops them; the bound would not hold)."""
    values = source.values
    if source.order is not None:  # static: walk the order sorted once per catalog view
        top = _first_allowed(source.order, mask, size + 1)
        if top.size == 0:
            return _NOTHING
        low = _first_allowed(source.order, mask, 1, from_end=True)
        rest = float(values[top[size]]) if top.size > size else -np.inf
        return _Scale(float(values[low[0]]), float(values[top[0]]), True), top[:size], rest
    if source.sparse:  # every allowed non-zero row joins the pool; the rest are 0
        rows = np.flatnonzero(values)
        rows = rows[mask[rows]]
        found = values[rows]
        if not np.isfinite(found).all():
            return None
        lo = 0.0 if rows.size < n_allowed else float(found.min())
        hi = float(found.max()) if rows.size else 0.0
        return _Scale(lo, hi, True), rows, 0.0
    masked = np.where(mask, values, -np.inf)
    np.nan_to_num(masked, copy=False, nan=-np.inf)
    if size >= n_allowed:
        top, rest = np.flatnonzero(mask), -np.inf
    else:
        cut = masked.size - size
        part = np.argpartition(masked, cut - 1)
        top, rest = part[cut:], float(masked[part[cut - 1]])
    hi = float(masked[top].max()) if top.size else -np.inf
    if hi == -np.inf:  # no allowed row has a value (NaN everywhere: no user vector)
        return _NOTHING
    lo = float(np.fmin.reduce(values, where=mask, initial=np.inf))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return _Scale(lo, hi, True), top, rest


@dataclass(frozen=True)
class StaticSum:
    """The weighted sum of the static sources scaled over the whole view (float64), sorted once: one list
    to bound them all by instead of one per source (independent sources' cuts add up to a loose bound)."""

    values: np.ndarray  # float32: the bound below allows for its rounding
    order: np.ndarray  # int32
    scales: Mapping[str, tuple[float, float]]  # name -> view-wide (lo, hi) of the sources summed


def static_sum(sources: Mapping[str, Source], weights: Mapping[str, float]) -> StaticSum:
    """`StaticSum` of the sources that have an `order` and vary over the view (built once per view)."""
    total = np.zeros(next(iter(sources.values())).values.size, dtype=np.float64)
    scales = {}
    for name, w in weights.items():
        source = sources[name]
        if source.order is None or source.order.size == 0 or w <= 0:
            continue
        lo, hi = float(source.values[source.order[-1]]), float(source.values[source.order[0]])
        if hi - lo < 1e-12:
            continue
        scales[name] = (lo, hi)
        total += w * (source.values.astype(np.float64) - lo) / (hi - lo)
    return StaticSum(total.astype(np.float32), np.argsort(-total, kind="stable").astype(np.int32), scales)


def pool_top(
    sources: Mapping[str, Source],
    weights: Mapping[str, float],
    mask: np.ndarray,
    published: np.ndarray,
    now_ts: float,
    half_life_days: float,
    freshness_weight: float,
    boosts: Mapping[int, float],
    depth: int,
    per_source: int,
    freshest: np.ndarray,
    combined: StaticSum | None = None,
) -> PoolTop | None:
    """The blend's top `depth` allowed rows computed on a pool, or None when the pool cannot be proven
    to hold them (run the full pass then). `weights` in blend order; `boosts`: catalog row -> factor;
    `freshest`: catalog rows by descending `published`; `combined`: the static sources' `StaticSum`
    (those it sums are then bounded through it)."""
    if any(w < 0 for w in weights.values()) or any(f <= 0 for f in boosts.values()):
        return None
    n_allowed = int(np.count_nonzero(mask))
    if depth < 1 or n_allowed <= depth:
        return None
    boosted = np.array([r for r in boosts if 0 <= r < mask.size and mask[r]], dtype=np.int64)
    summed = combined.scales if combined is not None else {}
    rounds, size = 0, max(per_source, depth)
    while True:
        rounds += 1
        scales: dict[str, _Scale] = {}
        tops, bound = [boosted], 0.0
        stretch, shift = 0.0, 0.0  # the summed sources now: <= stretch * combined + shift
        for name, w in weights.items():
            if w == 0:  # contributes exactly 0 to every row: no scale, no pool rows, nothing to bound
                scales[name] = _Scale(0.0, 0.0, False)
                continue
            found = _scale_and_top(sources[name], mask, n_allowed, 0 if name in summed else size)
            if found is None:
                return None
            scale, top, rest = found
            scales[name] = scale
            if name not in summed:
                tops.append(np.asarray(top, dtype=np.int64))
                bound += w * scale.bound(rest)
            elif scale.any_valid and scale.hi - scale.lo < 1e-12:
                shift += w * 0.5
            elif scale.any_valid:  # scaled(v) = a * view_scaled(v) + b with a >= 1, b <= 0
                lo, hi = summed[name]
                stretch = max(stretch, (hi - lo) / (scale.hi - scale.lo))
                shift += w * (lo - scale.lo) / (scale.hi - scale.lo)
        if combined is not None and summed:
            top = _first_allowed(combined.order, mask, size + 1)
            tops.append(top[:size])
            rest = float(combined.values[top[size]]) if top.size > size else 0.0
            bound += max(0.0, stretch * rest + shift) if top.size > size else 0.0
        fresh = _first_allowed(freshest, mask, size + 1)
        tops.append(fresh[:size])
        fresh_max = 1.0
        if freshness_weight > 0 and fresh.size > size:
            age = max(0.0, now_ts - float(published[fresh[size]])) / 86_400.0
            fresh_max = 1.0 + freshness_weight * 0.5 ** (age / half_life_days)
        scorer = BlendScorer(sources, weights, scales, published, now_ts, half_life_days, freshness_weight, boosts)
        pool = _sorted_unique(np.concatenate(tops))
        if pool.size >= depth:
            scores = scorer.scores_at(pool)
            best = np.lexsort((pool, -scores))[:depth]
            cut = float(scores[best[-1]])
            if bound * fresh_max * (1.0 + 1e-5) + 1e-6 < cut:  # every row outside the pool scores below the cut
                return PoolTop(pool[best], scores[best], scorer, int(pool.size), rounds)
        size *= 4
        if size * 4 > n_allowed:
            return None
