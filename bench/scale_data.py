"""SYNTHETIC large-scale data for the performance benchmarks (issue 8): catalogs, users and events at
100k items / 1M users / 10M events, built from real CSL Chinese text and the demo taxonomy.

Why a generator of its own: `features.simulator` walks every item per session (fine for the demo, hours
at 100k items), so these sizes come from vectorised numpy draws instead. What it models, all seeded:
- items: real CSL titles recombined (a title, optionally joined with a phrase of another title of the
  same discipline) and, for a share of items, a real CSL abstract; metadata derived deterministically
  from the discipline (`AUDIENCE_BY_DISCIPLINE`, `TOPIC_BY_DISCIPLINE`), formats by position;
- users: an audience each (public-heavy), an age band and 0–2 declared interests;
- events: heavy-tailed user activity (Zipf-like) and item popularity (log-normal quality), items drawn
  by the user's audience topic prior × popularity; types mostly views and clicks, some likes/completes.

Figures measured on this data describe the code's speed and memory, never recommendation quality.
Usage from a benchmark::

    items = scale_items(data_dir, 100_000)
    users = scale_users(1_000_000)
    events = scale_events(items, users, 10_000_000)       # columns (numpy), not 10M pydantic objects
    for batch in events.batches(50_000): store.add_events(batch)
    events.write_jsonl(path)                               # for `kepu events ingest`
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from content_catalog.encoders.evaluation import load_csl, resolve_csl_dir
from content_catalog.schema import Event, Item, User
from content_catalog.taxonomy import TOPICS
from features.simulator import AUDIENCE_AGE_BANDS, AUDIENCE_TOPIC_PRIORS

SEED = 0
AUDIENCE_BY_DISCIPLINE = {
    "农学": "farmers",
    "医学": "seniors",
    "教育学": "youth",
    "工学": "workers",
    "管理学": "officials",
    "法学": "officials",
    "经济学": "officials",
}
"""SYNTHETIC metadata over real CSL text: a discipline's audience (anything else → public)."""
TOPIC_BY_DISCIPLINE = {
    "农学": "agri_tech",
    "医学": "health",
    "教育学": "scientific_thinking",
    "工学": "advanced_manufacturing",
    "理学": "basic_science",
    "管理学": "digital_skills",
    "经济学": "energy_carbon",
    "法学": "anti_fraud_rumor",
    "军事学": "aerospace",
}
"""SYNTHETIC topic per discipline (humanities and anything else → scientist_spirit)."""
FORMAT_CYCLE = ("article", "article", "article", "video", "article", "course", "article", "video", "live", "article")
USER_AUDIENCES = ("public", "youth", "farmers", "workers", "seniors", "officials")
USER_AUDIENCE_SHARE = np.array([0.40, 0.15, 0.12, 0.15, 0.12, 0.06])
EVENT_TYPES = ("view", "click", "like", "complete", "favorite", "share")
EVENT_TYPE_SHARE = np.array([0.55, 0.30, 0.07, 0.05, 0.02, 0.01])
START = datetime(2026, 1, 1, tzinfo=UTC)


def csl_papers(data_dir: Path) -> list[tuple[str, str, str]]:
    """(title, abstract, discipline) of every CSL paper: dev+test with abstracts, cls_ctg/train titles only."""
    corpus = load_csl(data_dir)
    papers = list(zip(corpus.titles, corpus.abstracts, corpus.labels, strict=True))
    train_path = resolve_csl_dir(data_dir) / "cls_ctg" / "train.tsv"
    with train_path.open(encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(row) != 3:
                raise ValueError(f"{train_path}:{line_no}: expected 3 tab-separated fields, got {len(row)}")
            papers.append((row[1].strip(), "", row[2].strip()))
    return [p for p in papers if p[0]]


def scale_items(data_dir: Path, n: int, seed: int = SEED, abstract_share: float = 0.3) -> list[Item]:
    """`n` catalog items from recombined real CSL text (ids `scale-000000`…), deterministic for a seed.

    The first len(CSL) items are the papers themselves; later ones join a paper's title with the second
    half of another title of the same discipline, so texts stay Chinese, on-topic and mostly distinct.
    """
    papers = csl_papers(data_dir)
    by_discipline: dict[str, list[int]] = {}
    for i, (_, _, d) in enumerate(papers):
        by_discipline.setdefault(d, []).append(i)
    abstracts = [i for i, p in enumerate(papers) if p[1]]
    rng = np.random.default_rng(seed)
    items: list[Item] = []
    for i in range(n):
        base = i % len(papers)
        title, abstract, discipline = papers[base]
        if i >= len(papers):
            peers = by_discipline[discipline]
            other = papers[peers[int(rng.integers(len(peers)))]][0]
            title = f"{title}：{other[len(other) // 2 :]}"
            abstract = papers[abstracts[int(rng.integers(len(abstracts)))]][1] if rng.random() < abstract_share else ""
        items.append(
            Item(
                id=f"scale-{i:06d}",
                title=title[:300],
                summary=abstract[:2000],
                topics=[TOPIC_BY_DISCIPLINE.get(discipline, "scientist_spirit")],
                format=FORMAT_CYCLE[i % len(FORMAT_CYCLE)],
                audiences=[AUDIENCE_BY_DISCIPLINE.get(discipline, "public")],
                source_org=f"CSL {discipline}",
                published_at=START + timedelta(minutes=(i * 7_919) % (300 * 24 * 60)),
                reading_level="advanced",
            )
        )
    return items


@dataclass(frozen=True)
class ScaleUsers:
    """`n` users as columns; `audience[i]` indexes `USER_AUDIENCES`. `user(i)` builds one `User`."""

    audience: np.ndarray
    age_band: list[str]

    @property
    def n(self) -> int:
        return len(self.audience)

    @staticmethod
    def user_id(i: int) -> str:
        return f"u{i:07d}"

    def user(self, i: int) -> User:
        return User(id=self.user_id(i), audiences=[USER_AUDIENCES[int(self.audience[i])]], age_band=self.age_band[i])

    def batches(self, size: int = 50_000) -> Iterator[list[User]]:
        for start in range(0, self.n, size):
            yield [self.user(i) for i in range(start, min(start + size, self.n))]


def scale_users(n: int, seed: int = SEED) -> ScaleUsers:
    rng = np.random.default_rng(seed + 1)
    audience = rng.choice(len(USER_AUDIENCES), size=n, p=USER_AUDIENCE_SHARE).astype(np.int8)
    bands = [AUDIENCE_AGE_BANDS[a] for a in USER_AUDIENCES]
    picks = rng.integers(0, 3, size=n)
    age = [bands[a][p % len(bands[a])] for a, p in zip(audience.tolist(), picks.tolist(), strict=True)]
    return ScaleUsers(audience=audience, age_band=age)


@dataclass(frozen=True)
class ScaleEvents:
    """Events as columns (time-ordered): user index, item index, type index, unix seconds."""

    user: np.ndarray
    item: np.ndarray
    type: np.ndarray
    timestamp: np.ndarray
    item_ids: list[str]

    @property
    def n(self) -> int:
        return len(self.user)

    def record(self, i: int) -> dict[str, object]:
        """Event i as the JSON record `/v1/events` and `kepu events ingest` accept."""
        return {
            "event_id": f"e{i:09d}",
            "user_id": ScaleUsers.user_id(int(self.user[i])),
            "item_id": self.item_ids[int(self.item[i])],
            "type": EVENT_TYPES[int(self.type[i])],
            "timestamp": datetime.fromtimestamp(float(self.timestamp[i]), UTC).isoformat(),
        }

    def batches(self, size: int = 50_000, start: int = 0, stop: int | None = None) -> Iterator[list[Event]]:
        stop = self.n if stop is None else min(stop, self.n)
        for lo in range(start, stop, size):
            yield [Event.model_validate(self.record(i)) for i in range(lo, min(lo + size, stop))]

    def write_jsonl(self, path: Path, start: int = 0, stop: int | None = None) -> Path:
        stop = self.n if stop is None else min(stop, self.n)
        with path.open("w", encoding="utf-8") as handle:
            for i in range(start, stop):
                handle.write(json.dumps(self.record(i), ensure_ascii=False) + "\n")
        return path


def scale_events(items: list[Item], users: ScaleUsers, n: int, seed: int = SEED, days: int = 90) -> ScaleEvents:
    """`n` events over `days` days ending at the newest item + 1 day; deterministic for a seed."""
    rng = np.random.default_rng(seed + 2)
    topic_ids = {t: k for k, t in enumerate(TOPICS)}
    item_topic = np.array([topic_ids[it.topics[0]] for it in items], dtype=np.int32)
    quality = rng.lognormal(0.0, 1.0, size=len(items))
    activity = 1.0 / np.arange(1, users.n + 1) ** 0.8
    activity = activity[rng.permutation(users.n)]
    user = rng.choice(users.n, size=n, p=activity / activity.sum()).astype(np.int32)
    item = np.empty(n, dtype=np.int32)
    for a, audience in enumerate(USER_AUDIENCES):
        rows = np.flatnonzero(users.audience[user] == a)
        prior = AUDIENCE_TOPIC_PRIORS[audience]
        weight = quality * np.array([prior.get(t, 0.3) for t in TOPICS])[item_topic]
        item[rows] = rng.choice(len(items), size=len(rows), p=weight / weight.sum())
    kinds = rng.choice(len(EVENT_TYPES), size=n, p=EVENT_TYPE_SHARE).astype(np.int8)
    end = max(it.published_at for it in items) + timedelta(days=1)
    stamps = np.sort(rng.uniform(end.timestamp() - days * 86_400, end.timestamp(), size=n))
    return ScaleEvents(user=user, item=item, type=kinds, timestamp=stamps, item_ids=[it.id for it in items])
