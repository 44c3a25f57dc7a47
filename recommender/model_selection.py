"""`--model auto`: train each candidate ranker on the training part, serve it through the real
`RecommendationService` (filters, fitted blend, freshness, MMR, reasons) over a view of the catalog as of
the validation cutoff, and keep the one whose *served* top-k has the best validation NDCG@k.

The validation users are the ones with a positive event in the validation part on an item they had not
read before (at most `max_users`, a seeded sample). Each candidate gets its own fitted blend first
(`recommender.blend_fit`), so the comparison is between the lists each would actually serve.

The no-history band is also fitted on *simulated cold* requests: every validation user with events
before the cutoff is asked for again as a profile-only copy (`COLD_PREFIX` + id, no events) at their
arrival (first event), and judged on all their positive items. Late arrivals alone (the users whose
first event falls after the cutoff) would fit it only for visitors arriving right at the cutoff, where
trending is what they read; visitors arrive at any time.
"""

from __future__ import annotations

import dataclasses
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from content_catalog.schema import Item, User
from content_catalog.vector_index import VectorIndex
from features.event_columns import EVENT_TYPES, EventColumns
from features.interactions import POSITIVE_EVENTS
from recommender.blend_fit import SOURCES, BlendSample, fit_online_blend, make_sample, ndcg_at_k
from recommender.online_blend import OnlineBlend
from recommender.rankers import EASE_MAX_ITEMS
from recommender.registry import Bundle
from recommender.service import RecommendationRequest, RecommendationService, ServiceSettings
from recommender.validation_store import HistoryBeforeCutoff

AUTO_CANDIDATES: tuple[str, ...] = ("ease", "lightfm", "ease+lightfm")
"""What `--model auto` compares (item-kNN is trainable by name; it never beat EASE in docs/evaluation.md)."""
DEFAULT_MODEL = "lightfm"
"""Served when there is nothing to validate on: it scores new users, new items and any catalog size."""
MIN_SELECTION_USERS = 20
"""Below this many validation users the figures cannot tell candidates apart: `auto` serves DEFAULT_MODEL."""
COLD_PREFIX = "cold."
"""Id prefix of the profile-only copies of validation users (simulated cold requests, see above)."""


LIGHTFM_AUTO_INTERACTIONS = 50_000
"""Above this many training (user, item) interactions `auto` does not try LightFM beside EASE: its 30
WARP epochs are the bulk of `kepu train` (MovieLens-100k, 80k interactions: LightFM ≈ 40 % of the time,
its two candidates' served validation ≈ 20 %) and neither served better than EASE there (validation
NDCG@10 EASE 0.385, EASE+LightFM 0.385, LightFM 0.373; bench/train_timing.py). Profile-only visitors
and new items no longer need it: the cold-start companions answer them. Where EASE does not fit,
LightFM is still the model."""


LIGHTFM_MAX_INTERACTIONS = 250_000
"""Above this many training interactions `auto` leaves LightFM out altogether (catalogs past
`EASE_MAX_ITEMS`, where it competes with ALS): per pass on the same matrix LightFM WARP cost 2.4× implicit's
ALS at 100k events and 6.1× at 1M, the gap growing with events, and its 30 epochs at ~1M interactions
already took longer than the whole 10-minute training budget (bench/README.md, "Training at scale").
ALS is then the only candidate: its validation fit is continued, not redone, by the final fit."""


def auto_candidates(n_items: int, n_interactions: int = 0) -> tuple[list[str], list[str]]:
    """(candidates, messages): the dense item×item models are skipped above `EASE_MAX_ITEMS` items, the
    LightFM ones beside EASE above `LIGHTFM_AUTO_INTERACTIONS` training interactions. Past the item
    limit ALS joins LightFM, and LightFM is skipped above `LIGHTFM_MAX_INTERACTIONS`."""
    if n_items <= EASE_MAX_ITEMS:
        if n_interactions > LIGHTFM_AUTO_INTERACTIONS:
            limit = LIGHTFM_AUTO_INTERACTIONS
            return ["ease"], [f"skipped lightfm, ease+lightfm: {n_interactions} interactions > {limit} (time)"]
        return list(AUTO_CANDIDATES), []
    messages = [f"skipped ease, ease+lightfm: {n_items} items > {EASE_MAX_ITEMS} (dense items×items)"]
    if n_interactions > LIGHTFM_MAX_INTERACTIONS:
        limit = LIGHTFM_MAX_INTERACTIONS
        messages.append(f"skipped lightfm: {n_interactions} interactions > {limit} (time: WARP ≥ 2.4× an ALS pass)")
        return ["als"], messages
    return ["lightfm", "als"], messages


class MemoryCatalog:
    """The catalog and users in memory, no rules: what validation serves from."""

    def __init__(self, items: Sequence[Item], users: Sequence[User] | Mapping[str, User]) -> None:
        self._items = list(items)
        self._users = users if isinstance(users, Mapping) else {u.id: u for u in users}

    def catalog_version(self) -> str:
        return "validation"

    def iter_items(self) -> Iterator[Item]:
        return iter(self._items)

    def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def user_for_session(self, session_id: str) -> str | None:
        return None

    def list_rules(self, **kwargs: Any) -> list[Any]:
        return []


@dataclass
class ValidationSet:
    """Requests to serve and what each should find: user key → relevant item ids."""

    view: HistoryBeforeCutoff
    truth: dict[str, set[str]]
    now: datetime
    index: VectorIndex
    encoder: Any
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    cold: dict[str, tuple[datetime, set[str]]] = field(default_factory=dict)
    """Simulated cold requests: profile-only copy id → (arrival time, every positive item of the user)."""

    @classmethod
    def build(
        cls,
        items: Sequence[Item],
        users: Sequence[User] | Mapping[str, User],
        before: EventColumns,
        after: EventColumns,
        now: datetime,
        encoder: Any,
        vectors: np.ndarray,
        max_users: int,
        seed: int,
    ) -> ValidationSet:
        """Vectorised over the event columns (pairs as int64 codes), so the cost at 10M events is a few
        sorts; only the sampled users' histories are materialised for the service."""
        index = VectorIndex(int(vectors.shape[1]))
        index.add([it.id for it in items], vectors)
        after = after.recoded_like(before)
        n_items = max(1, len(after.items))
        seen_pairs = np.unique(before.key.astype(np.int64) * n_items + before.item)
        positive = np.isin(after.type, [EVENT_TYPES.index(t) for t in POSITIVE_EVENTS])
        pairs = np.unique(after.key[positive].astype(np.int64) * n_items + after.item[positive])
        pairs = pairs[~np.isin(pairs, seen_pairs, assume_unique=True)]
        truth_keys = np.unique(pairs // n_items)
        keys = sorted(after.keys[int(c)] for c in truth_keys)
        if len(keys) > max_users:
            keys = sorted(np.random.default_rng(seed).choice(keys, size=max_users, replace=False).tolist())
        code = {after.keys[int(c)]: int(c) for c in truth_keys}
        chosen = np.array(sorted(code[k] for k in keys), dtype=np.int64)
        pairs = pairs[np.isin(pairs // n_items, chosen)]
        truth: dict[str, set[str]] = {}
        for pair in pairs.tolist():
            truth.setdefault(after.keys[pair // n_items], set()).add(after.items[pair % n_items])
        by_id = users if isinstance(users, Mapping) else {u.id: u for u in users}
        cold, copies = _cold_requests(by_id, before, after, chosen)
        catalog = MemoryCatalog(items, ChainMap({copy.id: copy for copy in copies}, by_id))
        view = HistoryBeforeCutoff.from_columns(catalog, before.take(np.isin(before.key, chosen)))
        # seen filtering must cover the whole history, however long
        per_key = np.bincount(seen_pairs // n_items) if len(seen_pairs) else np.zeros(1, np.int64)
        settings = ServiceSettings(history_limit=max(500, int(per_key.max(initial=1))))
        return cls(view, {k: truth[k] for k in keys}, now, index, encoder, settings, cold)

    def request(self, key: str, k: int) -> RecommendationRequest:
        if key.startswith("session:"):
            return RecommendationRequest(session_id=key.split(":", 1)[1], k=k, now=self.now)
        if key in self.cold:
            return RecommendationRequest(user_id=key, k=k, now=self.cold[key][0])
        return RecommendationRequest(user_id=key, k=k, now=self.now)


def _cold_requests(
    profiles: Mapping[str, User], before: EventColumns, after: EventColumns, chosen: np.ndarray
) -> tuple[dict[str, tuple[datetime, set[str]]], list[User]]:
    """Profile-only copies of the chosen users (codes, `after` coded like `before`) that have events
    before the cutoff: {copy id: (arrival, positive items before and after)} and the copies."""
    positive_types = [EVENT_TYPES.index(t) for t in POSITIVE_EVENTS]
    cold: dict[str, tuple[datetime, set[str]]] = {}
    copies: list[User] = []
    codes = np.intersect1d(chosen, np.unique(before.key))
    before, after = before.take(np.isin(before.key, codes)), after.take(np.isin(after.key, codes))  # small
    for code in codes.tolist():
        key = before.keys[code]
        if key not in profiles or len(COLD_PREFIX + key) > 128:  # sessions have no profile to ask with
            continue
        mine = before.key == code
        later = (after.key == code) & np.isin(after.type, positive_types)
        earlier = mine & np.isin(before.type, positive_types)
        relevant = {before.items[i] for i in before.item[earlier].tolist()}
        relevant |= {after.items[i] for i in after.item[later].tolist()}
        arrival = pd.Timestamp(int(before.timestamp[mine].min()), tz="UTC").to_pydatetime()
        cold[COLD_PREFIX + key] = (arrival, relevant)
        copies.append(profiles[key].model_copy(update={"id": COLD_PREFIX + key, "sessions": []}))
    return cold, copies


def served_ndcg(service: RecommendationService, validation: ValidationSet, k: int) -> dict[str, float]:
    """NDCG@k / precision@k / recall@k of what `service.recommend` returns for every validation user."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, precision, recall = [], [], []
    for key, relevant in validation.truth.items():
        ids = [card.id for card in service.recommend(validation.request(key, k)).items]
        hits = np.array([i in relevant for i in ids[:k]], dtype=bool)
        ndcg.append(float(discounts[: len(hits)][hits].sum() / discounts[: min(len(relevant), k)].sum()))
        precision.append(hits.sum() / k)
        recall.append(hits.sum() / len(relevant))
    return {
        f"ndcg@{k}": round(float(np.mean(ndcg)), 5) if ndcg else 0.0,
        f"precision@{k}": round(float(np.mean(precision)), 5) if precision else 0.0,
        f"recall@{k}": round(float(np.mean(recall)), 5) if recall else 0.0,
    }


def evaluate_candidate(bundle: Bundle, validation: ValidationSet, k: int) -> tuple[OnlineBlend, dict[str, Any]]:
    """Fit the candidate's online blend on validation, then measure its served list (and, for the record,
    the bare model and audience popularity ranked under the same filters)."""
    start = time.perf_counter()
    service = RecommendationService(
        validation.view, bundle, validation.encoder, validation.index, settings=validation.settings
    )
    cfg = validation.settings

    def sample(key: str, relevant: set[str]) -> BlendSample:
        scores = service.source_scores(validation.request(key, k))
        return make_sample(scores, relevant, cfg.freshness_half_life_days, cfg.freshness_weight)

    samples = [sample(key, relevant) for key, relevant in validation.truth.items()]
    cold = [sample(key, relevant) for key, (_, relevant) in validation.cold.items()]
    blend = fit_online_blend(samples, k, cold)
    service.swap_bundle(dataclasses.replace(bundle, blend=blend, _item_matrix=bundle._item_matrix))
    served = served_ndcg(service, validation, k)
    flat = np.ones(len(SOURCES), np.float32)

    def only(name: str) -> float:
        vector = np.where(np.array(SOURCES) == name, 1.0, 0.0).astype(np.float32)
        plain = [dataclasses.replace(s, boost=flat[:1].repeat(len(s.relevant))) for s in samples]
        return round(ndcg_at_k(plain, vector, k), 5)

    figures = {
        **{f"served_{m}": v for m, v in served.items()},
        f"bare_model_ndcg@{k}": only("model"),
        f"popularity_ndcg@{k}": only("audience"),
        "validation_users": len(samples),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return blend, figures


@dataclass
class Selection:
    """The chosen model, its fitted blend and what every candidate scored (for the manifest)."""

    model: str
    blend: OnlineBlend | None
    candidates: dict[str, dict[str, Any]]
    messages: list[str]
    validation: dict[str, Any]
    reason: str = ""

    def manifest(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "reason": self.reason,
            "candidates": self.candidates,
            "messages": self.messages,
            "validation": self.validation,
        }


def select(
    candidates: Sequence[str],
    bundle_for: Callable[[str], Bundle],
    validation: ValidationSet,
    k: int,
    messages: list[str],
    validation_info: dict[str, Any],
) -> Selection:
    """Evaluate every candidate (`bundle_for(name)` trains it on the training part) and keep the best."""
    figures: dict[str, dict[str, Any]] = {}
    blends: dict[str, OnlineBlend] = {}
    for name in candidates:
        start = time.perf_counter()
        bundle = bundle_for(name)
        fit_seconds = time.perf_counter() - start
        blends[name], figures[name] = evaluate_candidate(bundle, validation, k)
        figures[name]["fit_seconds"] = round(fit_seconds, 2)
    best = max(candidates, key=lambda n: (figures[n][f"served_ndcg@{k}"], -candidates.index(n)))
    reason = f"best served NDCG@{k} on validation"
    if len(candidates) > 1 and len(validation.truth) < MIN_SELECTION_USERS and DEFAULT_MODEL in candidates:
        best, reason = DEFAULT_MODEL, f"too few validation users ({len(validation.truth)} < {MIN_SELECTION_USERS})"
    return Selection(best, blends[best], figures, messages, validation_info, reason)
