"""SYNTHETIC interaction simulator for the demo catalog — for demos and smoke evaluation only.

Numbers measured on simulated events describe this simulator, not real audiences: never quote them as
headline results. What it models (all seeded):
- users of each audience with a latent topic taste drawn around that audience's plausible interests
  (`AUDIENCE_TOPIC_PRIORS`), an age band, a town of 太仓市 drawn from `AUDIENCE_TOWN_WEIGHTS` (farmers mostly
  in the farming towns, workers near the industrial zones) and 2–3 declared interests;
- heavy-tailed activity (a few heavy users, many light ones) and item popularity skew (latent quality);
- exposure: each session shows a slate of `slate_size` items mixing popular, audience-targeted and random
  items; position bias `1 / log2(position + 2)` on clicks;
- after a click: view, dwell seconds, then sometimes complete / like / favorite / share; uninteresting
  shown items are occasionally hidden or disliked; local activities attract users from the same town.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from content_catalog.schema import Event, EventType, Item, User
from content_catalog.taxonomy import AUDIENCES, SPECIFIC_AUDIENCES, TOPICS, TOWNS

AUDIENCE_TOPIC_PRIORS: dict[str, dict[str, float]] = {
    "youth": {
        "aerospace": 3,
        "ai": 3,
        "basic_science": 2.5,
        "scientific_thinking": 2,
        "marine": 1.5,
        "life_science": 1.5,
        "scientist_spirit": 1.5,
        "digital_skills": 1,
        "mental_health": 1,
    },
    "farmers": {
        "agri_tech": 4,
        "smart_agriculture": 3,
        "meteorology": 2.5,
        "food_drug_safety": 2,
        "ecology": 1.5,
        "disaster_prevention": 1.5,
        "anti_fraud_rumor": 1,
        "health": 1,
    },
    "workers": {
        "work_safety": 4,
        "advanced_manufacturing": 3,
        "digital_skills": 2,
        "ai": 1.5,
        "energy_carbon": 1.5,
        "health": 1,
        "mental_health": 1,
    },
    "seniors": {
        "health": 4,
        "anti_fraud_rumor": 3,
        "food_drug_safety": 2.5,
        "mental_health": 1.5,
        "digital_skills": 1.5,
        "disaster_prevention": 1,
        "meteorology": 1,
    },
    "officials": {
        "energy_carbon": 3,
        "ecology": 2.5,
        "ai": 2.5,
        "scientist_spirit": 2,
        "advanced_manufacturing": 1.5,
        "disaster_prevention": 1.5,
        "scientific_thinking": 1.5,
    },
    "public": {t: 1.0 for t in TOPICS},
}
"""Relative topic interest per audience (unlisted topics get a small base rate)."""

AUDIENCE_AGE_BANDS: dict[str, tuple[str, ...]] = {
    "youth": ("under_12", "12_17"),
    "farmers": ("35_59", "60_plus"),
    "workers": ("18_34", "35_59"),
    "seniors": ("60_plus",),
    "officials": ("35_59",),
    "public": ("18_34", "35_59", "60_plus"),
}
RESIDENT_TOWN_WEIGHTS: dict[str, float] = {
    "城厢镇": 2.0,
    "娄东街道": 2.0,
    "沙溪镇": 1.5,
    "陆渡街道": 1.2,
    "浏河镇": 1.2,
    "浮桥镇": 1.2,
    "璜泾镇": 1.0,
    "双凤镇": 0.8,
    "太仓高新区": 0.6,
    "太仓港经开区": 0.5,
}
"""Rough relative head-count per town for residents in general (synthetic assumption, not census data)."""
AUDIENCE_TOWN_WEIGHTS: dict[str, dict[str, float]] = {
    "farmers": {
        "双凤镇": 3.0,
        "璜泾镇": 3.0,
        "浏河镇": 2.5,
        "沙溪镇": 2.5,
        "浮桥镇": 2.0,
        "城厢镇": 1.5,
        "陆渡街道": 0.5,
        "娄东街道": 0.3,
        "太仓港经开区": 0.3,
        "太仓高新区": 0.2,
    },
    "workers": {
        "太仓高新区": 3.0,
        "太仓港经开区": 2.5,
        "陆渡街道": 2.0,
        "娄东街道": 1.5,
        "沙溪镇": 1.5,
        "浮桥镇": 1.5,
        "城厢镇": 1.0,
        "浏河镇": 0.8,
        "璜泾镇": 0.7,
        "双凤镇": 0.7,
    },
}
"""Where simulated users of an audience live; audiences not listed follow `RESIDENT_TOWN_WEIGHTS`."""
CHANNELS_BY_AUDIENCE: dict[str, tuple[str, ...]] = {
    "youth": ("web", "kiosk", "wechat"),
    "seniors": ("wechat",),
    "farmers": ("wechat",),
    "workers": ("wechat", "web"),
    "officials": ("web", "wechat"),
    "public": ("web", "wechat", "kiosk"),
}
TOPIC_IDS = list(TOPICS)


def _topic_prior(audience: str) -> np.ndarray:
    prior = np.full(len(TOPIC_IDS), 0.2)
    for topic, weight in AUDIENCE_TOPIC_PRIORS[audience].items():
        prior[TOPIC_IDS.index(topic)] = weight
    return prior / prior.sum()


def _town_prior(audience: str) -> np.ndarray:
    """Probabilities over `TOWNS` for a simulated user of `audience` (every town keeps some weight)."""
    weights = AUDIENCE_TOWN_WEIGHTS.get(audience, RESIDENT_TOWN_WEIGHTS)
    prior = np.array([weights.get(town, 0.1) for town in TOWNS])
    return prior / prior.sum()


def _item_matrices(items: Sequence[Item]) -> tuple[np.ndarray, np.ndarray]:
    """Topic multi-hot (n × topics, rows sum 1) and audience tag scores (n × audiences)."""
    topics = np.zeros((len(items), len(TOPIC_IDS)))
    audiences = np.zeros((len(items), len(AUDIENCES)))
    aud_ids = list(AUDIENCES)
    for i, it in enumerate(items):
        for t in it.topics:
            topics[i, TOPIC_IDS.index(t)] = 1.0
        for tag in it.audiences:
            audiences[i, aud_ids.index(tag.audience)] = tag.score
    sums = topics.sum(axis=1, keepdims=True)
    return topics / np.where(sums == 0, 1.0, sums), audiences


def simulate(
    items: Sequence[Item],
    n_users_per_audience: int = 30,
    days: int = 30,
    seed: int = 0,
    *,
    end: datetime | None = None,
    slate_size: int = 8,
    audiences: Sequence[str] = (*SPECIFIC_AUDIENCES, "public"),
) -> tuple[list[User], list[Event]]:
    """Simulate `days` days of traffic ending at `end` (default: latest `published_at` + 1 day).

    Returns synthetic users (ids `sim-<audience>-<n>`) and their events in time order. Same inputs and
    seed → identical output.
    """
    if not items:
        raise ValueError("simulate: items is empty")
    if n_users_per_audience < 1 or days < 1 or slate_size < 1:
        raise ValueError("simulate: n_users_per_audience, days and slate_size must be >= 1")
    unknown = [a for a in audiences if a not in AUDIENCES]
    if unknown:
        raise ValueError(f"simulate: unknown audience(s) {unknown}")
    rng = np.random.default_rng(seed)
    end = (end or max(it.published_at for it in items) + timedelta(days=1)).astimezone(UTC)
    start = end - timedelta(days=days)
    topic_m, aud_m = _item_matrices(items)
    aud_ids = list(AUDIENCES)
    quality = rng.lognormal(0.0, 0.8, size=len(items))
    popularity = quality / quality.sum()
    published = np.array([it.published_at.timestamp() for it in items])
    towns = np.array([it.town or "" for it in items], dtype=object)
    is_activity = np.array([it.format in ("activity", "live", "exhibit") for it in items])

    users: list[User] = []
    events: list[Event] = []
    for audience in audiences:
        prior = _topic_prior(audience)
        town_prior = _town_prior(audience)
        a_col = aud_ids.index(audience)
        targeted = aud_m[:, a_col] + 0.05
        targeted = targeted / targeted.sum()
        for n in range(n_users_per_audience):
            taste = rng.dirichlet(prior * 30.0)
            interests = list(rng.choice(TOPIC_IDS, size=int(rng.integers(2, 4)), replace=False, p=taste))
            town = str(rng.choice(TOWNS, p=town_prior))
            user = User(
                id=f"sim-{audience}-{n:04d}",
                audiences=[audience],
                age_band=str(rng.choice(AUDIENCE_AGE_BANDS[audience])),  # type: ignore[arg-type]
                town=town,
                interests=interests,
            )
            users.append(user)
            appeal = (topic_m @ taste) * len(TOPIC_IDS) * 0.5 + aud_m[:, a_col] * 1.2 + np.log(quality) * 0.5
            appeal = appeal + np.where(is_activity & (towns == town), 1.5, 0.0) - 2.2
            click_p = 1.0 / (1.0 + np.exp(-appeal))
            sessions_per_day = rng.lognormal(-1.2, 0.9)
            n_sessions = rng.poisson(sessions_per_day * days)
            channel_choices = CHANNELS_BY_AUDIENCE[audience]
            for s in range(n_sessions):
                t = start.timestamp() + rng.uniform(0, days * 86_400)
                eligible = published <= t
                if eligible.sum() < slate_size:
                    eligible[:] = True
                exposure = (0.4 * popularity + 0.4 * targeted + 0.2 / len(items)) * eligible
                k = min(slate_size, int(eligible.sum()))
                slate = rng.choice(len(items), size=k, replace=False, p=exposure / exposure.sum())
                channel = str(rng.choice(channel_choices))
                session_id = f"{user.id}-s{s}"
                clock = t
                for pos, idx in enumerate(slate):

                    def emit(
                        kind: EventType,
                        dwell: float | None = None,
                        _i: int = int(idx),
                        _p: int = pos,
                        _u: str = user.id,
                        _s: str = session_id,
                        _c: str = channel,
                    ) -> None:
                        nonlocal clock
                        clock += float(rng.uniform(1, 20))
                        stamp = datetime.fromtimestamp(min(clock, end.timestamp() - 1), UTC)
                        events.append(
                            Event(
                                event_id=f"sim{seed}-{len(events)}",
                                user_id=_u,
                                session_id=_s,
                                item_id=items[_i].id,
                                type=kind,
                                dwell_seconds=dwell,
                                channel=_c,
                                position=_p,
                                timestamp=stamp,
                            )
                        )

                    emit(EventType.IMPRESSION)
                    p_click = click_p[idx] / np.log2(pos + 2)
                    if rng.random() < p_click:
                        emit(EventType.CLICK)
                        emit(EventType.VIEW)
                        dwell = float(rng.exponential(30 + 150 * click_p[idx]))
                        emit(EventType.DWELL, dwell=min(dwell, 3_600.0))
                        if dwell > 90 and rng.random() < 0.5:
                            emit(EventType.COMPLETE)
                        extras = ((EventType.LIKE, 0.25), (EventType.FAVORITE, 0.1), (EventType.SHARE, 0.06))
                        for kind, p in extras:
                            if rng.random() < p * click_p[idx] * 2:
                                emit(kind)
                    elif click_p[idx] < 0.12 and rng.random() < 0.03:
                        emit(EventType.HIDE if rng.random() < 0.5 else EventType.DISLIKE)
    events.sort(key=lambda e: (e.timestamp, e.event_id))
    return users, events
