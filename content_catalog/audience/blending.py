"""Turning component scores into decisions: the weighted blend, per-label thresholds and their tuning.

blend = w_lexicon · lexicon + w_prototype · prototype + w_supervised · supervised, weights summing to 1,
computed for the six labels (five audiences + public). An item gets its best label and any other
label whose blend reaches that label's threshold AND `second_ratio` × the best blend (so a second
audience needs to be nearly as strong as the first), at most `max_audiences`, highest first; it gets
`public` whenever no specific audience passes. Weights, thresholds and the ratio are chosen to
maximise macro-F1 over the six labels on out-of-fold scores; the public threshold may be "never"
(public only as the fallback).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from content_catalog.audience.labels import N_SPECIFIC, PUBLIC

COMPONENTS: tuple[str, ...] = ("lexicon", "prototype", "supervised")
THRESHOLD_GRID: np.ndarray = np.round(np.arange(0.05, 0.951, 0.01), 2)
NEVER: float = 1.01
"""A threshold no blended score reaches (scores are clipped to [0, 1])."""


def blend(components: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """components (n, 6, 3) · weights (3,) -> blended scores (n, 6) in [0, 1]."""
    return np.clip(components @ np.asarray(weights, dtype=float), 0.0, 1.0)


SECOND_RATIO_GRID: np.ndarray = np.round(np.arange(0.5, 1.001, 0.05), 2)


def decide(
    scores: np.ndarray, thresholds: np.ndarray, max_audiences: int, second_ratio: float = 0.0
) -> np.ndarray:
    """Boolean (n, 6): labels at/above threshold and ≥ second_ratio × best (at most `max_audiences`);
    public when no specific audience passes."""
    passed = (scores >= thresholds) & (scores >= second_ratio * scores.max(axis=1, keepdims=True))
    if max_audiences < scores.shape[1]:
        order = np.argsort(-np.where(passed, scores, -1.0), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(scores.shape[1]), order.shape), axis=1)
        passed &= rank < max_audiences
    passed[:, PUBLIC] |= ~passed[:, :N_SPECIFIC].any(axis=1)
    return passed


def f1(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """F1 along the last axis (labels x items, or grid x items); 1.0 when there is nothing to find."""
    tp = (truth & predicted).sum(axis=-1)
    denominator = truth.sum(axis=-1) + predicted.sum(axis=-1)
    return np.where(denominator > 0, 2.0 * tp / np.maximum(denominator, 1), 1.0)


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over the label columns of (n, 6) boolean matrices."""
    return float(f1(truth.T, predicted.T).mean())


def best_single_thresholds(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each label independently, the grid threshold with the best F1 (ties -> the middle one)."""
    thresholds = np.empty(scores.shape[1])
    for j in range(scores.shape[1]):
        predicted = scores[None, :, j] >= THRESHOLD_GRID[:, None]
        values = f1(np.broadcast_to(truth[:, j], predicted.shape), predicted)
        winners = np.flatnonzero(values >= values.max() - 1e-12)
        thresholds[j] = THRESHOLD_GRID[winners[len(winners) // 2]]
    return thresholds


def refine_thresholds(
    scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray, max_audiences: int, rounds: int = 2
) -> tuple[np.ndarray, float, float]:
    """Coordinate ascent on six-label macro-F1 over the thresholds and the second-label ratio.

    Returns (thresholds, second_ratio, macro-F1). Public and the top-k cap couple the thresholds.
    """
    thresholds = thresholds.copy()
    ratio = 0.0
    current = macro_f1(truth, decide(scores, thresholds, max_audiences, ratio))
    for _ in range(rounds):
        improved = False
        for candidate_ratio in SECOND_RATIO_GRID:
            value = macro_f1(truth, decide(scores, thresholds, max_audiences, candidate_ratio))
            if value > current + 1e-9:
                current, ratio, improved = value, float(candidate_ratio), True
        for j in range(scores.shape[1]):
            candidates = np.append(THRESHOLD_GRID, NEVER) if j == PUBLIC else THRESHOLD_GRID
            for candidate in candidates:
                trial = thresholds.copy()
                trial[j] = candidate
                value = macro_f1(truth, decide(scores, trial, max_audiences, ratio))
                if value > current + 1e-9:
                    current, thresholds, improved = value, trial, True
        if not improved:
            break
    return thresholds, ratio, current


def weight_grid(active: Sequence[bool], step: float = 0.1) -> list[tuple[float, ...]]:
    """All weight triples on a simplex grid, zero for inactive components."""
    ticks = round(1.0 / step)
    grid = []
    for parts in itertools.product(range(ticks + 1), repeat=len(COMPONENTS)):
        if sum(parts) != ticks or any(p and not a for p, a in zip(parts, active, strict=True)):
            continue
        grid.append(tuple(p / ticks for p in parts))
    return grid


def choose_blend(
    components: np.ndarray,
    truth: np.ndarray,
    *,
    active: Sequence[bool],
    max_audiences: int,
    weights: Sequence[float] | None = None,
    weight_step: float = 0.1,
) -> tuple[tuple[float, ...], np.ndarray, float, float]:
    """Best (weights, thresholds, second_ratio, macro-F1) on out-of-fold components (n, 6, 3), truth (n, 6).

    Candidates are ranked by macro-F1 at independently tuned thresholds (fast), then the winner's
    thresholds are refined jointly. A given `weights` skips the weight search.
    """
    candidates = (
        [tuple(float(w) for w in weights)] if weights is not None else weight_grid(active, weight_step)
    )
    ranked = []
    for candidate in candidates:
        scores = blend(components, candidate)
        thresholds = best_single_thresholds(scores, truth)
        ranked.append((macro_f1(truth, decide(scores, thresholds, max_audiences)), candidate, thresholds))
    ranked.sort(key=lambda r: -r[0])
    _, best_weights, best_thresholds = ranked[0]
    best_thresholds, ratio, best_value = refine_thresholds(
        blend(components, best_weights), truth, best_thresholds, max_audiences
    )
    return best_weights, best_thresholds, ratio, best_value
