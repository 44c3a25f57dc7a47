"""Events → a users × items interaction matrix: event weights, dwell saturation and time decay.

Event weights (a positive matrix value means "this user liked this item this much"):

| event       | weight | why |
| ----------- | ------ | --- |
| impression  | 0.0    | shown, no signal of interest; kept only for CTR / exposure statistics |
| view        | 1.0    | opened the item |
| click       | 1.0    | clicked a card (same strength as a view) |
| dwell       | 0 … 2  | `2 · (1 − exp(−seconds / 60))`: saturates, so a forgotten tab is not a super-like |
| complete    | 2.0    | read / watched to the end |
| like        | 3.0    | explicit approval |
| favorite    | 3.0    | saved for later |
| share       | 4.0    | recommended it to others: strongest implicit signal |
| dislike     | neg.   | pair dropped from the positives, kept in `negatives`: never recommend again |
| hide        | neg.   | as dislike |

Each weight is multiplied by `0.5 ** (age_days / half_life_days)` (age counted back from `now`), and
weights of the same (user, item) pair are summed then capped at `max_value`.
A row key is the `user_id`, or `session:<session_id>` for anonymous events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.idmap import IdMap

if TYPE_CHECKING:
    from features.event_columns import EventColumns

EVENT_ID: Final = "event_id"
USER_ID: Final = "user_id"
SESSION_ID: Final = "session_id"
ITEM_ID: Final = "item_id"
TYPE: Final = "type"
TIMESTAMP: Final = "timestamp"
DWELL_SECONDS: Final = "dwell_seconds"
EVENT_COLUMNS: Final = (EVENT_ID, USER_ID, SESSION_ID, ITEM_ID, TYPE, TIMESTAMP, DWELL_SECONDS)

EVENT_WEIGHTS: Final[dict[str, float]] = {
    "impression": 0.0,
    "view": 1.0,
    "click": 1.0,
    "dwell": 2.0,
    "complete": 2.0,
    "like": 3.0,
    "favorite": 3.0,
    "share": 4.0,
    "dislike": -1.0,
    "hide": -1.0,
}
"""Default weight per event type; for `dwell` it is the saturation ceiling (see module docstring)."""

NEGATIVE_EVENTS: Final = frozenset({"dislike", "hide"})
POSITIVE_EVENTS: Final = frozenset(t for t, w in EVENT_WEIGHTS.items() if w > 0)
DWELL_SCALE_SECONDS: Final = 60.0
SESSION_PREFIX: Final = "session:"


def user_key(user_id: str | None, session_id: str | None) -> str:
    """The row key of an event: the user id, else `session:<session id>`."""
    if user_id:
        return str(user_id)
    if session_id:
        return f"{SESSION_PREFIX}{session_id}"
    raise ValueError("event has neither user_id nor session_id")


def dwell_weight(seconds: np.ndarray | float, ceiling: float = EVENT_WEIGHTS["dwell"]) -> np.ndarray:
    """Saturating dwell weight: 0 s → 0, 60 s → 63 % of the ceiling, 5 min → ≈ the ceiling."""
    s = np.clip(np.nan_to_num(np.asarray(seconds, dtype=np.float64), nan=0.0), 0.0, None)
    return ceiling * (1.0 - np.exp(-s / DWELL_SCALE_SECONDS))


def events_to_frame(events: Iterable[object]) -> pd.DataFrame:
    """A list of `Event` models (or dicts) → the events DataFrame the store's `events_frame` returns."""
    rows = []
    for e in events:
        row = e.model_dump() if hasattr(e, "model_dump") else dict(e)  # type: ignore[call-overload]
        row[TYPE] = str(row[TYPE].value if hasattr(row[TYPE], "value") else row[TYPE])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else list(EVENT_COLUMNS))
    for col in EVENT_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    return frame


@dataclass(frozen=True)
class Interactions:
    """A fitted interaction matrix with its id maps.

    `matrix`: float32 CSR (n_users × n_items) of decayed positive weights.
    `negatives`: bool CSR of disliked / hidden pairs (never to be recommended to that user).
    """

    matrix: sp.csr_matrix
    negatives: sp.csr_matrix
    user_map: IdMap
    item_map: IdMap
    n_events_used: int
    n_events_dropped: int


class InteractionMatrixBuilder:
    """Builds the interaction matrix from an events DataFrame (scikit-learn style fit / transform).

    Parameters
    ----------
    weights: event type → weight (defaults to `EVENT_WEIGHTS`; missing types fall back to the default).
    half_life_days: time-decay half-life; None disables decay.
    now: reference time for the decay; None uses the latest event timestamp (reproducible).
    max_value: cap on the summed weight of one (user, item) pair.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        half_life_days: float | None = 30.0,
        now: datetime | None = None,
        max_value: float = 10.0,
    ) -> None:
        self.weights = weights
        self.half_life_days = half_life_days
        self.now = now
        self.max_value = max_value

    def _validate(self) -> dict[str, float]:
        weights = {**EVENT_WEIGHTS, **(dict(self.weights) if self.weights else {})}
        unknown = sorted(set(weights) - set(EVENT_WEIGHTS))
        if unknown:
            raise ValueError(f"weights: unknown event type(s) {unknown}; expected some of {sorted(EVENT_WEIGHTS)}")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be > 0 or None, got {self.half_life_days}")
        if self.max_value <= 0:
            raise ValueError(f"max_value must be > 0, got {self.max_value}")
        return weights

    @staticmethod
    def _check_frame(events: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (ITEM_ID, TYPE, TIMESTAMP) if c not in events.columns]
        if missing:
            raise ValueError(f"events frame is missing column(s) {missing}")
        frame = events.copy()
        for col in (USER_ID, SESSION_ID, DWELL_SECONDS):
            if col not in frame.columns:
                frame[col] = None
        frame[TYPE] = frame[TYPE].map(lambda t: str(getattr(t, "value", t)))
        unknown = sorted(set(frame[TYPE]) - set(EVENT_WEIGHTS))
        if unknown:
            raise ValueError(f"events column 'type': unknown event type(s) {unknown}")
        # object dtype first: on pandas' string dtype `where(…, None)` puts NaN back, which reads as a key
        users, sessions = frame[USER_ID].astype(object), frame[SESSION_ID].astype(object)
        users = users.where(users.notna() & (users != ""), None)
        sessions = sessions.where(sessions.notna() & (sessions != ""), None)
        if (users.isna() & sessions.isna()).any():
            row = int(np.flatnonzero((users.isna() & sessions.isna()).to_numpy())[0])
            raise ValueError(f"events row {row}: neither user_id nor session_id")
        frame["_key"] = [user_key(u, s) for u, s in zip(users, sessions, strict=True)]
        frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
        frame[ITEM_ID] = frame[ITEM_ID].astype(str)
        return frame

    def fit(
        self,
        events: pd.DataFrame,
        item_ids: Iterable[str] | None = None,
        user_ids: Iterable[str] | None = None,
    ) -> InteractionMatrixBuilder:
        """Learn the user and item id maps (plus `now_`). `item_ids` / `user_ids` put rows/columns first
        (e.g. the whole catalog, so items without events still get a column)."""
        self.weights_ = self._validate()
        frame = self._check_frame(events)
        self.item_map_ = IdMap.from_values([*(item_ids or []), *frame[ITEM_ID]])
        self.user_map_ = IdMap.from_values([*(user_ids or []), *frame["_key"]])
        if self.now is not None:
            self.now_ = (
                pd.Timestamp(self.now).tz_convert(UTC)
                if pd.Timestamp(self.now).tzinfo
                else pd.Timestamp(self.now).tz_localize(UTC)
            )
        elif len(frame):
            self.now_ = frame[TIMESTAMP].max()
        else:
            self.now_ = pd.Timestamp(datetime.now(UTC))
        return self

    def transform(self, events: pd.DataFrame) -> Interactions:
        """Weighted, decayed CSR over the fitted maps; events of unknown users/items are dropped (counted)."""
        if not hasattr(self, "item_map_"):
            raise RuntimeError("InteractionMatrixBuilder is not fitted; call fit(events) first")
        frame = self._check_frame(events)
        rows = self.user_map_.convert_to_internal(frame["_key"], strict=False)
        cols = self.item_map_.convert_to_internal(frame[ITEM_ID], strict=False)
        known = (rows >= 0) & (cols >= 0)
        frame, rows, cols = frame[known], rows[known], cols[known]
        types = frame[TYPE].to_numpy()
        base = np.array([self.weights_[t] for t in types], dtype=np.float64)
        is_dwell = types == "dwell"
        if is_dwell.any():
            base[is_dwell] = dwell_weight(
                frame[DWELL_SECONDS].to_numpy(dtype=np.float64)[is_dwell], self.weights_["dwell"]
            )
        if self.half_life_days is not None and len(frame):
            age_days = ((self.now_ - frame[TIMESTAMP]).dt.total_seconds().to_numpy() / 86_400.0).clip(0.0)
            base = base * np.power(0.5, age_days / self.half_life_days)
        shape = (self.user_map_.size, self.item_map_.size)
        negative = np.isin(types, list(NEGATIVE_EVENTS))
        pos, neg = positive_and_negative(rows, cols, base, negative, shape, self.max_value)
        return Interactions(
            matrix=pos,
            negatives=neg,
            user_map=self.user_map_,
            item_map=self.item_map_,
            n_events_used=int(known.sum()),
            n_events_dropped=int((~known).sum()),
        )

    def fit_transform(
        self,
        events: pd.DataFrame,
        item_ids: Iterable[str] | None = None,
        user_ids: Iterable[str] | None = None,
    ) -> Interactions:
        return self.fit(events, item_ids=item_ids, user_ids=user_ids).transform(events)


def first_appearance(codes: np.ndarray) -> np.ndarray:
    """The distinct values of `codes` in order of first appearance."""
    values, first = np.unique(np.asarray(codes), return_index=True)
    return values[np.argsort(first, kind="stable")].astype(np.int64)


def interactions_from_columns(
    events: EventColumns,
    item_ids: Iterable[str],
    builder: InteractionMatrixBuilder,
) -> Interactions:
    """`builder.fit_transform(frame, item_ids)` on `EventColumns` (same maps, weights, decay and caps), with
    int32 indices and no per-event Python objects: the path training uses at any scale."""
    weights = builder._validate()
    catalog = [str(i) for i in item_ids]
    catalog_pos = {item: pos for pos, item in enumerate(catalog)}
    # item columns: the catalog first, then event items outside it in order of first appearance
    vocab_to_col = np.array([catalog_pos.get(item, -1) for item in events.items], dtype=np.int64)
    extra = [code for code in first_appearance(events.item) if vocab_to_col[code] < 0]
    vocab_to_col[extra] = len(catalog) + np.arange(len(extra))
    item_map = IdMap([*catalog, *(events.items[c] for c in extra)])
    order = first_appearance(events.key)
    key_to_row = np.full(len(events.keys), -1, dtype=np.int64)
    key_to_row[order] = np.arange(len(order))
    user_map = IdMap([events.keys[c] for c in order])
    if builder.now is not None:
        stamp = pd.Timestamp(builder.now)
        now_ns = int((stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).value)
    elif events.n:
        now_ns = int(events.timestamp.max())
    else:
        now_ns = int(pd.Timestamp(datetime.now(UTC)).value)
    rows = key_to_row[events.key].astype(np.int32)
    cols = vocab_to_col[events.item].astype(np.int32)
    type_weight = np.array([weights[t] for t in EVENT_WEIGHTS], dtype=np.float64)
    base = type_weight[events.type]
    is_dwell = events.type == list(EVENT_WEIGHTS).index("dwell")
    if is_dwell.any():
        base[is_dwell] = dwell_weight(events.dwell[is_dwell].astype(np.float64), weights["dwell"])
    if builder.half_life_days is not None and events.n:
        age_days = np.clip((now_ns - events.timestamp) / 86_400e9, 0.0, None)
        base *= np.power(0.5, age_days / builder.half_life_days)
    shape = (len(user_map), len(item_map))
    negative_codes = [list(EVENT_WEIGHTS).index(t) for t in NEGATIVE_EVENTS]
    negative = np.isin(events.type, negative_codes)
    pos, neg = positive_and_negative(rows, cols, base, negative, shape, builder.max_value)
    return Interactions(pos, neg, user_map, item_map, n_events_used=events.n, n_events_dropped=0)


def positive_and_negative(
    rows: np.ndarray,
    cols: np.ndarray,
    base: np.ndarray,
    negative: np.ndarray,
    shape: tuple[int, int],
    max_value: float,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """One (user, item) matrix pair from weighted events, shared by the DataFrame and the column paths so
    both give the same matrix: positives summed per pair and capped at `max_value`, zeroed where the pair
    also has a negative event (float32, sorted); negatives as a boolean CSR."""
    neg = sp.csr_matrix((np.ones(int(negative.sum()), dtype=bool), (rows[negative], cols[negative])), shape=shape)
    neg.sum_duplicates()
    neg.data[:] = True
    positive = base > 0
    pos = sp.csr_matrix((base[positive], (rows[positive], cols[positive])), shape=shape, dtype=np.float64)
    pos.sum_duplicates()
    np.minimum(pos.data, max_value, out=pos.data)
    if neg.nnz:
        pos = pos - pos.multiply(neg.astype(np.float64))
    pos = sp.csr_matrix(pos, dtype=np.float32)
    pos.eliminate_zeros()
    pos.sort_indices()
    return pos, neg.tocsr()
