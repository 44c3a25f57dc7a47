"""Events as compact columns (int32 row-key and item codes, int8 types, int64 ns timestamps), built chunk by
chunk from the store's streaming reader or from an events DataFrame.

Why: training on 10M events must not hold several pandas copies of a 10M-row frame with Python string
objects (the issue measured 6.1 GB at 935k events). Columns cost ~21 bytes per event, the id strings are
held once in the vocabularies, and every later step (interaction matrix, time split, validation truth)
is vectorised over them. Codes follow the order of first appearance in the (time-ordered) input, so a
matrix built from them has the same row order as `InteractionMatrixBuilder` on the same events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from features.interactions import (
    DWELL_SECONDS,
    EVENT_WEIGHTS,
    ITEM_ID,
    SESSION_ID,
    SESSION_PREFIX,
    TIMESTAMP,
    TYPE,
    USER_ID,
)

EVENT_TYPES: Final[tuple[str, ...]] = tuple(EVENT_WEIGHTS)
"""Event type names in code order (`EventColumns.type` indexes this)."""
_TYPE_CODE: Final = {name: code for code, name in enumerate(EVENT_TYPES)}


@dataclass(frozen=True)
class EventColumns:
    """Time-ordered events: `key[i]` indexes `keys` (user id or `session:<id>`), `item[i]` indexes `items`,
    `type[i]` indexes `EVENT_TYPES`, `timestamp` is int64 ns since the epoch (UTC), `dwell` NaN if absent."""

    key: np.ndarray
    item: np.ndarray
    type: np.ndarray
    timestamp: np.ndarray
    dwell: np.ndarray
    keys: list[str]
    items: list[str]

    @property
    def n(self) -> int:
        return len(self.key)

    def __len__(self) -> int:
        return self.n

    def take(self, mask: np.ndarray) -> EventColumns:
        """The events where `mask` holds (same vocabularies, so codes stay comparable)."""
        return EventColumns(
            self.key[mask],
            self.item[mask],
            self.type[mask],
            self.timestamp[mask],
            self.dwell[mask],
            self.keys,
            self.items,
        )

    def before(self, cutoff: datetime) -> EventColumns:
        return self.take(self.timestamp < _ns(cutoff))

    def since(self, cutoff: datetime) -> EventColumns:
        return self.take(self.timestamp >= _ns(cutoff))

    def latest(self) -> datetime:
        return pd.Timestamp(int(self.timestamp.max()), tz="UTC").to_pydatetime()

    def cutoff(self, fraction: float) -> datetime:
        """The timestamp splitting off the last `fraction` of events (as `validation_store.cutoff_time`)."""
        stamps = pd.Series(pd.to_datetime(self.timestamp, utc=True))
        return pd.Timestamp(stamps.quantile(1.0 - fraction)).floor("us").to_pydatetime()

    def recoded_like(self, other: EventColumns) -> EventColumns:
        """These events with codes in `other`'s vocabularies (extended by ids `other` lacks), so codes of
        both can be compared; `self` when they already share them."""
        if self.keys is other.keys and self.items is other.items:
            return self
        keys, items = list(other.keys), list(other.items)
        key_code, item_code = {k: i for i, k in enumerate(keys)}, {k: i for i, k in enumerate(items)}
        key_map = np.array([key_code.setdefault(k, len(key_code)) for k in self.keys], dtype=np.int32)
        item_map = np.array([item_code.setdefault(k, len(item_code)) for k in self.items], dtype=np.int32)
        keys.extend(list(key_code)[len(keys) :])
        items.extend(list(item_code)[len(items) :])
        key = key_map[self.key] if self.n else self.key
        item = item_map[self.item] if self.n else self.item
        return EventColumns(key, item, self.type, self.timestamp, self.dwell, keys, items)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.key, self.item, self.type, self.timestamp, self.dwell))

    @classmethod
    def from_frame(cls, events: pd.DataFrame) -> EventColumns:
        """An events DataFrame (`EVENT_COLUMNS` of the store, any order of rows kept) → columns."""
        missing = [c for c in (ITEM_ID, TYPE, TIMESTAMP) if c not in events.columns]
        if missing:
            raise ValueError(f"events frame is missing column(s) {missing}")
        n = len(events)

        def column(name: str) -> Sequence[Any]:
            return events[name].tolist() if name in events.columns else [None] * n

        builder = EventColumnsBuilder()
        stamps = pd.to_datetime(events[TIMESTAMP], utc=True) if n else pd.Series([], dtype="datetime64[ns, UTC]")
        builder.add(
            column(USER_ID),
            column(SESSION_ID),
            column(ITEM_ID),
            column(TYPE),
            _as_ns(stamps),
            events[DWELL_SECONDS].to_numpy(dtype=np.float64, na_value=np.nan)
            if DWELL_SECONDS in events.columns
            else np.full(n, np.nan),
        )
        return builder.build()


def _ns(when: datetime) -> int:
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value)


def _as_ns(stamps: Any) -> np.ndarray:
    """Timestamps (a tz-aware Series / DatetimeIndex) → int64 ns since the epoch."""
    values = pd.DatetimeIndex(stamps)
    values = values.tz_localize("UTC") if values.tz is None else values.tz_convert("UTC")
    return values.as_unit("ns").asi8.astype(np.int64, copy=False)


def _as_text(values: Sequence[Any]) -> np.ndarray:
    """An object array of `str` (enum members by their value, other non-strings through `str`)."""
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values.astype(object)
    if array.ndim != 1:  # a sequence of sequences would become 2-D
        array = np.fromiter(values, dtype=object, count=len(values))
    if pd.api.types.infer_dtype(array, skipna=False) != "string":
        array = np.array([str(getattr(v, "value", v)) for v in array], dtype=object)
    return array


def _cleaned(values: Sequence[Any]) -> np.ndarray:
    """Ids as an object array of `str`, with None / NaN / NA / "" as None."""
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values.astype(object)
    if array.ndim != 1:
        array = np.fromiter(values, dtype=object, count=len(values))
    absent = pd.isna(array)
    present = ~absent
    if present.any() and pd.api.types.infer_dtype(array[present], skipna=False) != "string":
        array = array.copy()
        array[present] = [str(v) for v in array[present]]
    array[absent | (array == "")] = None
    return array


def _global_codes(values: np.ndarray, vocabulary: dict[str, int]) -> np.ndarray:
    """int32 codes of `values` in `vocabulary` (extended in order of first appearance)."""
    local, uniques = pd.factorize(values)
    table = np.fromiter(
        (vocabulary.setdefault(u, len(vocabulary)) for u in uniques), dtype=np.int32, count=len(uniques)
    )
    return table[local] if len(local) else np.empty(0, np.int32)


class EventColumnsBuilder:
    """Accumulates chunks (from `Store.iter_event_chunks` or a frame) into `EventColumns`."""

    def __init__(self) -> None:
        self._keys: dict[str, int] = {}
        self._items: dict[str, int] = {}
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._seen = 0

    def add(
        self,
        user_ids: Sequence[Any],
        session_ids: Sequence[Any],
        item_ids: Sequence[Any],
        types: Sequence[Any],
        timestamps_ns: np.ndarray,
        dwell: np.ndarray,
    ) -> None:
        """One chunk of events, in time order; raises ValueError naming the (overall) row for bad rows.

        Vectorised: ids are hashed by `pd.factorize` (C), and only the chunk's distinct ids pass through
        Python to get their global code (first appearance overall, as the per-row loop gave)."""
        uid, sid = _cleaned(user_ids), _cleaned(session_ids)
        anonymous = pd.isna(uid)
        keys = uid
        if anonymous.any():
            missing = anonymous & pd.isna(sid)
            if missing.any():
                raise ValueError(f"events row {self._seen + int(np.argmax(missing))}: neither user_id nor session_id")
            keys = uid.copy()
            keys[anonymous] = (SESSION_PREFIX + pd.Series(sid[anonymous], dtype=object)).to_numpy(dtype=object)
        key_codes = _global_codes(keys, self._keys)
        item_codes = _global_codes(_as_text(item_ids), self._items)
        kinds, names = pd.factorize(_as_text(types))
        names = [str(getattr(n, "value", n)) for n in names]
        unknown = sorted(set(names) - set(_TYPE_CODE))
        if unknown:
            raise ValueError(f"events column 'type': unknown event type(s) {unknown}")
        table = np.array([_TYPE_CODE[n] for n in names], dtype=np.int8)
        type_codes = table[kinds] if len(kinds) else np.empty(0, np.int8)
        stamps = np.asarray(timestamps_ns, dtype=np.int64)
        self._parts.append((key_codes, item_codes, type_codes, stamps, np.asarray(dwell, dtype=np.float32)))
        self._seen += len(item_codes)

    def build(self) -> EventColumns:
        if not self._parts:
            empty = np.empty(0, dtype=np.int32)
            return EventColumns(
                empty, empty.copy(), np.empty(0, np.int8), np.empty(0, np.int64), np.empty(0, np.float32), [], []
            )
        parts = list(zip(*self._parts, strict=True))
        self._parts = []
        key, item, kind, stamp, dwell = (np.concatenate(p) for p in parts)
        return EventColumns(key, item, kind, stamp, dwell, list(self._keys), list(self._items))


def columns_from_chunks(chunks: Iterable[Mapping[str, Any]]) -> EventColumns:
    """`Store.iter_event_chunks()` → `EventColumns` (each chunk is freed once encoded)."""
    builder = EventColumnsBuilder()
    for chunk in chunks:
        builder.add(
            chunk[USER_ID],
            chunk[SESSION_ID],
            chunk[ITEM_ID],
            chunk[TYPE],
            chunk[TIMESTAMP],
            chunk[DWELL_SECONDS],
        )
    return builder.build()
