"""One-vs-rest logistic regression over text vectors: the part of the tagger that learns from editors.

One binary classifier per audience (not a softmax) because an item may be for two audiences.
Audiences with fewer than two labelled examples on either side get a constant probability instead
of a classifier that cannot be fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression


class SupervisedScorer:
    """Per-audience `LogisticRegression(class_weight="balanced")`; `transform` gives probabilities."""

    def __init__(self, C: float = 16.0, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, vectors: Any, labels: np.ndarray) -> SupervisedScorer:
        """vectors (n, d); labels (n, k) 0/1, one column per label."""
        labels = np.asarray(labels, dtype=int)
        if labels.ndim != 2 or labels.shape[0] != vectors.shape[0]:
            raise ValueError(f"labels must have shape ({vectors.shape[0]}, k), got {labels.shape}")
        self.models_: list[LogisticRegression | float] = []
        for j in range(labels.shape[1]):
            positives = int(labels[:, j].sum())
            if positives < 2 or labels.shape[0] - positives < 2:
                self.models_.append(float(labels[:, j].mean()) if labels.shape[0] else 0.0)
                continue
            model = LogisticRegression(
                C=self.C,
                class_weight="balanced",
                solver="liblinear",
                max_iter=1000,
                random_state=self.random_state,
            )
            self.models_.append(model.fit(vectors, labels[:, j]))
        return self

    def transform(self, vectors: Any) -> np.ndarray:
        """Probabilities (n, k) in [0, 1], columns in the order of the fitted labels."""
        columns = [
            np.full(vectors.shape[0], model)
            if isinstance(model, float)
            else model.predict_proba(vectors)[:, 1]
            for model in self.models_
        ]
        return np.column_stack(columns)
