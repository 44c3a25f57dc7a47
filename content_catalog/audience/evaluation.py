"""Cross-validated measurement of the tagger on editor-labelled items (per-audience F1, macro-F1).

Each outer fold: fit a fresh tagger on the other folds' labelled items (plus, optionally, unlabelled
items for the unsupervised parts), strip the held-out items' tags, predict, and score against the
editors. The tagger's own weight/threshold tuning happens inside `fit`, on training folds only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from content_catalog.audience.blending import f1
from content_catalog.audience.folds import primary_label_folds
from content_catalog.audience.labels import LABELS, label_matrix
from content_catalog.audience.tagger import AudienceTagger
from content_catalog.schema import Item

ABLATIONS: dict[str, dict[str, object]] = {
    "full": {},
    "searched-weights": {"weights": None},
    "lexicon-only": {"weights": (1.0, 0.0, 0.0)},
    "prototype-only": {"weights": (0.0, 1.0, 0.0)},
}
"""Tagger variants measured side by side: parameter overrides on top of the caller's base parameters."""


@dataclass
class CVResult:
    """Per-label F1 / support over all outer folds' pooled predictions, and their macro average."""

    name: str
    f1: dict[str, float]
    support: dict[str, int]
    fold_macro_f1: list[float] = field(default_factory=list)
    weights: list[tuple[float, ...]] = field(default_factory=list)

    @property
    def macro_f1(self) -> float:
        """Unweighted mean F1 over the labels that have any editor-labelled example."""
        present = [self.f1[label] for label in LABELS if self.support[label] > 0]
        return float(np.mean(present)) if present else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "macro_f1": round(self.macro_f1, 4),
            "f1": {k: round(v, 4) for k, v in self.f1.items()},
            "support": self.support,
            "fold_macro_f1": [round(v, 4) for v in self.fold_macro_f1],
            "weights": [list(w) for w in self.weights],
        }


def predicted_matrix(tags_per_item: Sequence[Sequence[object]]) -> np.ndarray:
    """Boolean (n, 6) matrix of predicted audiences (five specific, then public)."""
    out = np.zeros((len(tags_per_item), len(LABELS)), dtype=bool)
    for row, tags in enumerate(tags_per_item):
        for tag in tags:
            out[row, LABELS.index(tag.audience)] = True  # type: ignore[attr-defined]
    return out


def cross_validate(
    items: Sequence[Item],
    *,
    n_splits: int = 5,
    random_state: int = 0,
    make_tagger: Callable[[], AudienceTagger] = AudienceTagger,
    use_unlabelled: bool = True,
    name: str = "full",
) -> CVResult:
    """Outer K-fold CV over the editor-labelled items of `items` (stratified by primary audience)."""
    labelled = [item for item in items if item.editor_audiences]
    unlabelled = [item for item in items if not item.editor_audiences] if use_unlabelled else []
    if len(labelled) < n_splits:
        raise ValueError(
            f"cross_validate needs at least {n_splits} editor-labelled items, got {len(labelled)}"
        )
    truth = label_matrix(labelled)
    predicted = np.zeros_like(truth)
    result = CVResult(name=name, f1={}, support={})
    for train, test in primary_label_folds([i.editor_audiences[0] for i in labelled], n_splits, random_state):
        tagger = make_tagger().fit([labelled[i] for i in train] + unlabelled)
        held_out = [labelled[i].model_copy(update={"audiences": []}) for i in test]
        predicted[test] = predicted_matrix(tagger.predict(held_out))
        fold_f1 = f1(truth[test].T, predicted[test].T)
        present = truth[test].any(axis=0)
        result.fold_macro_f1.append(float(fold_f1[present].mean()))
        result.weights.append(tuple(round(w, 3) for w in tagger.weights_))
    scores = f1(truth.T, predicted.T)
    result.f1 = {label: float(scores[k]) for k, label in enumerate(LABELS)}
    result.support = {label: int(truth[:, k].sum()) for k, label in enumerate(LABELS)}
    return result


def run_ablations(
    items: Sequence[Item],
    *,
    n_splits: int = 5,
    random_state: int = 0,
    variants: Sequence[str] = tuple(ABLATIONS),
    encoder_spec: str | None = None,
) -> list[CVResult]:
    """The full tagger and the searched-weights / lexicon-only / prototype-only variants, on the same folds.

    `encoder_spec` (e.g. 'hybrid') replaces the tagger's own char TF-IDF with a catalog encoder."""
    results = []
    for variant in variants:
        overrides = ABLATIONS[variant]
        results.append(
            cross_validate(
                items,
                n_splits=n_splits,
                random_state=random_state,
                name=variant,
                make_tagger=lambda o=overrides: AudienceTagger(  # type: ignore[misc]
                    random_state=random_state, encoder=_encoder(encoder_spec), **o
                ),
            )
        )
    return results


def _encoder(spec: str | None) -> object | None:
    """A fresh catalog encoder for the tagger, or None for its built-in char TF-IDF."""
    if spec is None:
        return None
    from content_catalog.encoders import make_encoder

    return make_encoder(spec)
