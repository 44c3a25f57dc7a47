"""Trending as of the request time: the positive event mass of the training events per (hour, item),
decayed from `now`, so a request dated inside the training span counts only events up to `now`.

A bundle's `trending` prior is the decayed popularity at the end of training; a request for an earlier
moment (a visitor asked for at their arrival, a replayed evaluation) would otherwise see popularity from
its future. Only hours that ended by `now` count (an hour still running at `now` is left out whole), and
at or after the last training event the exact prior applies, so live requests rank as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from features.event_columns import EVENT_TYPES, EventColumns
from features.idmap import IdMap
from features.interactions import EVENT_WEIGHTS

BUCKET_SECONDS = 3_600
HISTORY_DAYS = 400
"""Hours kept before the last training event: enough for a year of replayed requests, bounded storage
(≤ 12 bytes per distinct (hour, item) pair with events)."""
ARRAYS = ("trending_hours", "trending_items", "trending_mass")
"""Bundle array names: int32 hour index (epoch seconds // 3600, sorted), int32 item column, float32 mass."""


@dataclass(frozen=True)
class TrendingHistory:
    """Event mass per (hour, item) of the training events; `latest` is the last event's epoch seconds."""

    hours: np.ndarray
    items: np.ndarray
    mass: np.ndarray
    n_items: int
    latest: float
    half_life_days: float

    @classmethod
    def build(cls, events: EventColumns, item_map: IdMap, half_life_days: float) -> TrendingHistory:
        """From the training events (positive types weighted as training weighs them; items outside
        `item_map` dropped)."""
        weight = np.array([max(0.0, EVENT_WEIGHTS[t]) for t in EVENT_TYPES], dtype=np.float64)[events.type]
        columns = np.array([item_map.get(i) for i in events.items], dtype=np.int64)[events.item] if events.n else []
        seconds = np.asarray(events.timestamp, dtype=np.int64) // 1_000_000_000
        latest = float(seconds.max()) if events.n else 0.0
        keep = (weight > 0) & (np.asarray(columns) >= 0) & (seconds >= latest - HISTORY_DAYS * 86_400)
        hours = seconds[keep] // BUCKET_SECONDS
        n_items = len(item_map)
        codes, mass = np.unique(hours * n_items + np.asarray(columns)[keep], return_inverse=True)
        totals = np.bincount(mass, weights=weight[keep], minlength=len(codes)) if len(codes) else np.zeros(0)
        return cls(
            (codes // n_items).astype(np.int32),
            (codes % n_items).astype(np.int32),
            totals.astype(np.float32),
            n_items,
            latest,
            float(half_life_days),
        )

    def hour_key(self, now_ts: float) -> int | None:
        """The hour `now` falls in when it lies before the last training event, else None (the exact
        end-of-training prior applies). Trending is the same within one hour (see `at`)."""
        return int(now_ts // BUCKET_SECONDS) if now_ts < self.latest else None

    def at(self, now_ts: float) -> np.ndarray:
        """(n_items,) trending at `now`, scaled to max 1: the mass of the hours that ended by `now`, each
        halved every `half_life_days` of its age. Within one hour the set of hours and their relative
        decay are fixed, so the scaled result depends on the hour only."""
        ends = (self.hours.astype(np.int64) + 1) * BUCKET_SECONDS
        n = int(np.searchsorted(ends, now_ts, side="right"))
        decay = np.power(0.5, (now_ts - ends[:n]) / 86_400.0 / self.half_life_days)
        out = np.bincount(self.items[:n], weights=self.mass[:n] * decay, minlength=self.n_items)
        top = out.max(initial=0.0)
        return (out / top if top > 0 else out).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(zip(ARRAYS, (self.hours, self.items, self.mass), strict=True))

    def spec(self) -> dict[str, float]:
        return {"latest": self.latest, "half_life_days": self.half_life_days}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], spec: Mapping[str, float], n_items: int) -> TrendingHistory:
        hours, items, mass = (np.asarray(arrays[n]) for n in ARRAYS)
        return cls(hours, items, mass, n_items, float(spec["latest"]), float(spec["half_life_days"]))
