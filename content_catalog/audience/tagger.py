"""AudienceTagger: who an item is for, from keywords, audience prototypes and editor-labelled examples.

Three scores per (item, label) — labels are the five audiences plus `public` — each in [0, 1]:
- lexicon    — saturating sum of the weights of matched keywords (works with no labels, explains itself);
- prototype  — cosine similarity to the audience portrait blended with the centroid of labelled items;
- supervised — one-vs-rest logistic regression probability (only with ≥ `min_labelled` labelled items).
They are blended with weights summing to 1; a label is tagged when its blend reaches its own
threshold (at most `max_audiences` per item), and `public` is added whenever no specific audience
is. With enough labelled items the blend is a fixed lexicon/classifier split (DEFAULT_WEIGHTS) and
`fit` picks the thresholds (and, with `weights=None`, the weights) by an inner cross-validation over
the labelled items it was given, so evaluation folds held out by the caller are never used for
tuning. Editor tags always win.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from content_catalog.audience.blending import COMPONENTS, NEVER, blend, choose_blend, decide
from content_catalog.audience.folds import primary_label_folds
from content_catalog.audience.item_text import tagging_text
from content_catalog.audience.labels import LABELS, N_SPECIFIC, PUBLIC, label_matrix
from content_catalog.audience.lexicon import AudienceLexicon, LexiconMatch, keyword_reason
from content_catalog.audience.prototypes import AUDIENCE_PROTOTYPES, PrototypeScorer
from content_catalog.audience.supervised import SupervisedScorer
from content_catalog.audience.vectors import TextEncoder, default_encoder, fresh_copy, unit_rows
from content_catalog.schema import AudienceTag, Item, TagSource
from content_catalog.taxonomy import AUDIENCES, SPECIFIC_AUDIENCES

DEFAULT_WEIGHTS: tuple[float, float, float] = (0.5, 0.0, 0.5)
"""Fixed lexicon/classifier blend once there are labels: searching the weights per fit (inner CV over
~180 items) picked a different blend in every fold and scored lower than this fixed, even split;
prototypes add nothing the classifier does not already learn. Thresholds are still tuned in `fit`."""
COLD_START_WEIGHTS: tuple[float, float, float] = (0.6, 0.4, 0.0)
"""Blend used when there are too few labelled items to tune one: lexicon first, prototypes second."""
COLD_START_THRESHOLD: float = 0.4
"""Threshold used for every audience when there are too few labelled items to tune thresholds."""
COLD_START_SECOND_RATIO: float = 0.8
"""Without tuning, a second audience must score at least 80% of the best one."""
STATE_FILE = "tagger.joblib"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """The tagger was asked to predict before `fit` (or `load`)."""


def _lexicon_from(value: AudienceLexicon | str | Path | Mapping[str, Any] | None) -> AudienceLexicon:
    if value is None:
        return AudienceLexicon.from_json()
    if isinstance(value, AudienceLexicon):
        return value
    if isinstance(value, str | Path):
        return AudienceLexicon.from_json(value)
    return AudienceLexicon.from_tiered(value)


class AudienceTagger:
    """Tags items with audiences; sklearn-style: parameters in `__init__`, learned state ends in `_`.

    Parameters
    ----------
    lexicon: an `AudienceLexicon`, a path to a lexicon JSON, a tiered mapping, or None for the shipped one.
    encoder: sklearn-style text transformer (`fit`/`transform` on lists of str); None -> char n-gram TF-IDF.
    min_labelled: labelled items needed before the classifier is trained and the blend is tuned.
    weights: (lexicon, prototype, supervised) blend weights, or None to choose them by inner CV.
        Without enough labels for the classifier, a blend that needs it falls back to COLD_START_WEIGHTS.
    threshold: one float or {label: float}, or None to choose per-label thresholds by inner CV.
    max_audiences: most labels one item can get (the public fallback comes on top when nothing passes).
    inner_folds: folds of the inner cross-validation that tunes weights and thresholds.
    weight_step: grid step of the blend-weight search (coarse on purpose: fewer choices, less overfitting).
    description_weight: share of the written portrait (vs labelled centroid) in each prototype.
    C: inverse regularisation of the logistic regressions.
    """

    def __init__(
        self,
        lexicon: AudienceLexicon | str | Path | Mapping[str, Any] | None = None,
        encoder: TextEncoder | None = None,
        min_labelled: int = 30,
        weights: Sequence[float] | None = DEFAULT_WEIGHTS,
        threshold: float | Mapping[str, float] | None = None,
        max_audiences: int = 2,
        inner_folds: int = 5,
        weight_step: float = 0.25,
        description_weight: float = 0.3,
        C: float = 16.0,
        random_state: int = 0,
    ) -> None:
        self.lexicon = lexicon
        self.encoder = encoder
        self.min_labelled = min_labelled
        self.weights = weights
        self.threshold = threshold
        self.max_audiences = max_audiences
        self.inner_folds = inner_folds
        self.weight_step = weight_step
        self.description_weight = description_weight
        self.C = C
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _validate_params(self) -> None:
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=float)
            if w.shape != (3,) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"weights must be 3 non-negative numbers {COMPONENTS}, got {self.weights!r}")
        if not 1 <= self.max_audiences <= len(LABELS):
            raise ValueError(f"max_audiences must be in 1..{len(LABELS)}, got {self.max_audiences}")
        if self.min_labelled < self.inner_folds * 2:
            raise ValueError(f"min_labelled must be >= 2 * inner_folds ({2 * self.inner_folds})")
        if isinstance(self.threshold, Mapping):
            unknown = sorted(set(self.threshold) - set(LABELS))
            if unknown:
                raise ValueError(f"threshold: unknown audience(s) {unknown}")

    def _fixed_thresholds(self) -> np.ndarray | None:
        if self.threshold is None:
            return None
        if isinstance(self.threshold, Mapping):
            return np.array([float(self.threshold.get(a, COLD_START_THRESHOLD)) for a in LABELS])
        return np.full(len(LABELS), float(self.threshold))

    def fit(self, items: Sequence[Item]) -> AudienceTagger:
        """Learn from `items`: all texts fit the encoder; editor-labelled ones fit the rest."""
        self._validate_params()
        self.lexicon_ = _lexicon_from(self.lexicon)
        texts = [tagging_text(item) for item in items]
        labelled_rows = [i for i, item in enumerate(items) if item.editor_audiences]
        labelled_items = [items[i] for i in labelled_rows]
        truth = label_matrix(labelled_items)
        portraits = [AUDIENCE_PROTOTYPES[a] for a in LABELS]

        self.encoder_ = fresh_copy(self.encoder if self.encoder is not None else default_encoder())
        all_vectors, portrait_vectors = self._fit_encoder(texts, portraits)
        vectors = all_vectors[labelled_rows] if all_vectors is not None else portrait_vectors[:0]
        titles = [item.title for item in labelled_items]

        self.supervised_used_ = len(labelled_items) >= self.min_labelled
        fixed_thresholds = self._fixed_thresholds()
        if self.supervised_used_ and (self.weights is None or fixed_thresholds is None):
            lexicon_scores = self.lexicon_.scores([texts[i] for i in labelled_rows])
            out_of_fold = self._inner_out_of_fold(
                lexicon_scores,
                vectors,
                portrait_vectors,
                truth,
                titles,
                [item.editor_audiences[0] for item in labelled_items],
            )
            weights, thresholds, self.second_ratio_, self.inner_macro_f1_ = choose_blend(
                out_of_fold,
                truth,
                active=(True, True, True),
                max_audiences=self.max_audiences,
                weights=self.weights,
                weight_step=self.weight_step,
            )
        else:
            weights = tuple(self.weights) if self.weights is not None else COLD_START_WEIGHTS
            if not self.supervised_used_:
                weights = (weights[0], weights[1], 0.0) if weights[2] == 0 else COLD_START_WEIGHTS
            thresholds = np.full(len(LABELS), COLD_START_THRESHOLD)
            thresholds[PUBLIC] = NEVER
            self.inner_macro_f1_ = None
            self.second_ratio_ = COLD_START_SECOND_RATIO
        if fixed_thresholds is not None:
            thresholds = fixed_thresholds
        total = float(sum(weights))
        self.weights_ = tuple(float(w) / total for w in weights)
        self.thresholds_ = np.asarray(thresholds, dtype=float)

        self.prototypes_ = PrototypeScorer(self.description_weight).fit(
            portrait_vectors, vectors, truth, titles, background=all_vectors
        )
        self.supervised_ = (
            SupervisedScorer(self.C, self.random_state).fit(vectors, truth) if self.supervised_used_ else None
        )
        self.n_labelled_ = len(labelled_items)
        return self

    def _fit_encoder(self, texts: list[str], portraits: list[str]) -> tuple[Any, Any]:
        """Fit the encoder on texts + portraits; their unit vectors (None for no texts). With `fit_transform`
        (scikit-learn's vectorizers) the catalog is tokenised once, not once to fit and again to transform."""
        fit_transform = getattr(self.encoder_, "fit_transform", None)
        if fit_transform is None:
            self.encoder_.fit([*texts, *portraits])
            all_vectors = unit_rows(self.encoder_.transform(texts)) if texts else None
            return all_vectors, unit_rows(self.encoder_.transform(portraits))
        matrix = fit_transform([*texts, *portraits])
        return (unit_rows(matrix[: len(texts)]) if texts else None), unit_rows(matrix[len(texts) :])

    def _inner_out_of_fold(
        self,
        lexicon_scores: np.ndarray,
        vectors: Any,
        portrait_vectors: Any,
        truth: np.ndarray,
        titles: list[str],
        primary: list[str],
    ) -> np.ndarray:
        """Component scores (n, 6, 3) for each labelled item from models that never saw its label."""
        out = np.zeros((len(primary), len(LABELS), len(COMPONENTS)))
        out[:, :, 0] = lexicon_scores
        for train, test in primary_label_folds(primary, self.inner_folds, self.random_state):
            protos = PrototypeScorer(self.description_weight).fit(
                portrait_vectors,
                vectors[train],
                truth[train],
                [titles[i] for i in train],
                background=vectors,
            )
            out[test, :, 1] = protos.transform(vectors[test])
            model = SupervisedScorer(self.C, self.random_state).fit(vectors[train], truth[train])
            out[test, :, 2] = model.transform(vectors[test])
        return out

    # --------------------------------------------------------------- predicting
    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError(
                "AudienceTagger is not fitted: call fit(items) or AudienceTagger.load(folder)"
            )

    def _components(self, texts: Sequence[str]) -> tuple[np.ndarray, Any]:
        vectors = unit_rows(self.encoder_.transform(list(texts)))
        out = np.zeros((len(texts), len(LABELS), len(COMPONENTS)))
        out[:, :, 0] = self.lexicon_.scores(texts)
        out[:, :, 1] = self.prototypes_.transform(vectors)
        if self.supervised_ is not None:
            out[:, :, 2] = self.supervised_.transform(vectors)
        return out, vectors

    def component_scores(self, items: Sequence[Item]) -> dict[str, pd.DataFrame]:
        """Each component's scores (lexicon, prototype, supervised): (n, 6) frames, columns LABELS."""
        self._check_fitted()
        parts, _ = self._components([tagging_text(item) for item in items])
        index = pd.Index([item.id for item in items], name="item_id")
        return {
            name: pd.DataFrame(parts[:, :, k], index=index, columns=list(LABELS))
            for k, name in enumerate(COMPONENTS)
        }

    def predict_scores(self, items: Sequence[Item], *, include_public: bool = False) -> pd.DataFrame:
        """Blended scores in [0, 1]: (n_items, 5) frame, index item ids, columns SPECIFIC_AUDIENCES.

        With `include_public` a sixth column holds the score of `public` as a label of its own.
        """
        self._check_fitted()
        parts, _ = self._components([tagging_text(item) for item in items])
        columns = LABELS if include_public else SPECIFIC_AUDIENCES
        return pd.DataFrame(
            blend(parts, self.weights_)[:, : len(columns)],
            index=pd.Index([item.id for item in items], name="item_id"),
            columns=list(columns),
        )

    def predict(self, items: Sequence[Item]) -> list[list[AudienceTag]]:
        """Automatic tags per item (ignores any tags the items carry), each with a short Chinese reason."""
        self._check_fitted()
        texts = [tagging_text(item) for item in items]
        parts, vectors = self._components(texts)
        scores = blend(parts, self.weights_)
        chosen = decide(scores, self.thresholds_, self.max_audiences, self.second_ratio_)
        matches = [self.lexicon_.match(text) for text in texts]
        ranked = [[j for j in np.argsort(-scores[row], kind="stable") if chosen[row, j]] for row in range(len(texts))]
        nearest = self._nearest_titles(vectors, matches, ranked)
        result: list[list[AudienceTag]] = []
        for row in range(len(texts)):
            tags = []
            for j in ranked[row]:
                if j == PUBLIC:
                    tags.append(self._public_tag(scores[row], matches[row]))
                    continue
                audience = LABELS[j]
                if audience in matches[row]:
                    reason = keyword_reason(matches[row][audience])
                else:
                    title = nearest[j][row]
                    reason = (
                        f"相似于《{title[:60]}》" if title else f"内容接近{AUDIENCES[audience]}关注的主题"
                    )
                score = round(float(scores[row, j]), 4)
                tags.append(AudienceTag(audience=audience, score=score, source=TagSource.AUTO, reason=reason))
            result.append(tags)
        return result

    def _nearest_titles(
        self, vectors: Any, matches: list[dict[str, LexiconMatch]], ranked: list[list[int]]
    ) -> dict[int, dict[int, str | None]]:
        """{audience index: {row: nearest labelled title}} for just the rows whose tag reason needs one (a
        chosen specific audience no keyword explains), not every row of a whole-catalog predict."""
        needed: dict[int, list[int]] = {}
        for row, chosen in enumerate(ranked):
            for j in chosen:
                if j != PUBLIC and LABELS[j] not in matches[row]:
                    needed.setdefault(j, []).append(row)
        return {
            j: dict(zip(rows, self.prototypes_.nearest_titles(vectors[rows], j), strict=True))
            for j, rows in needed.items()
        }

    def _public_tag(self, scores: np.ndarray, matches: Mapping[str, LexiconMatch]) -> AudienceTag:
        """`public` as a co-label (its own score passed) or as the fallback (no specific audience passed)."""
        best = int(np.argmax(scores[:N_SPECIFIC]))
        if scores[PUBLIC] >= self.thresholds_[PUBLIC]:
            score = float(scores[PUBLIC])
            reason = (
                keyword_reason(matches["public"])
                if "public" in matches
                else "内容通俗、面向大众，适合社会公众"
            )
        else:
            score = max(float(scores[PUBLIC]), 1.0 - float(scores[best]))
            reason = (
                f"未明显面向特定人群（最接近：{AUDIENCES[LABELS[best]]} {scores[best]:.2f}），推荐给社会公众"
            )
        return AudienceTag(audience="public", score=round(score, 4), source=TagSource.AUTO, reason=reason)

    def tag_items(self, items: Sequence[Item]) -> list[Item]:
        """Copies of `items`: editor-tagged ones unchanged (editor labels always win), others auto-tagged."""
        self._check_fitted()
        untagged = [i for i, item in enumerate(items) if not item.editor_audiences]
        predicted = dict(zip(untagged, self.predict([items[i] for i in untagged]), strict=True))
        return [
            item.model_copy(deep=True)
            if i not in predicted
            else item.model_copy(update={"audiences": predicted[i]})
            for i, item in enumerate(items)
        ]

    # -------------------------------------------------------------- persistence
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (sklearn convention)."""
        return {
            name: getattr(self, name)
            for name in (
                "lexicon",
                "encoder",
                "min_labelled",
                "weights",
                "threshold",
                "max_audiences",
                "inner_folds",
                "weight_step",
                "description_weight",
                "C",
                "random_state",
            )
        }

    def save(self, folder: str | Path) -> Path:
        """Write the fitted tagger to `folder` (joblib state + readable manifest.json); returns the folder."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {name: value for name, value in vars(self).items() if name.endswith("_")}
        params = self.get_params()
        params["lexicon"] = None
        joblib.dump({"format_version": FORMAT_VERSION, "params": params, "state": state}, folder / STATE_FILE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "weights": dict(zip(COMPONENTS, self.weights_, strict=True)),
            "thresholds": dict(zip(LABELS, self.thresholds_.round(4).tolist(), strict=True)),
            "second_ratio": self.second_ratio_,
            "n_labelled": self.n_labelled_,
            "supervised_used": self.supervised_used_,
            "inner_macro_f1": self.inner_macro_f1_,
            "lexicon_terms": {a: len(t) for a, t in self.lexicon_.terms.items()},
        }
        (folder / MANIFEST_FILE).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> AudienceTagger:
        """Read a tagger written by `save` (only load folders you trust: joblib files can run code)."""
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no saved AudienceTagger here")
        payload = joblib.load(path)
        if payload.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {payload.get('format_version')} != {FORMAT_VERSION}")
        tagger = cls(**payload["params"])
        for name, value in payload["state"].items():
            setattr(tagger, name, value)
        return tagger
