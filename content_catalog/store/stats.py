"""Read-only aggregates for the editors' dashboard, computed by the database (GROUP BY), never in Python.

Every query returns already-aggregated rows, so what crosses into Python grows with catalog size,
audiences, channels and days, never with the number of events. Event queries are served by the
covering index `ix_events_stats` (type, timestamp, channel, item_id, user_id, session_id) and the
experiment index `ix_events_experiment_type` (experiment, type, timestamp); `bench/stats_queries.py`
prints their EXPLAIN plans and timings on a million events.

An event's audience is its user's audiences (a session linked to a user counts as that user, as in
`events_frame`); events of unknown users count under `ANONYMOUS`. A user with several audiences counts
for each of them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, Text, and_, case, cast, func, or_, outerjoin, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from content_catalog.store.models import (
    EventRow,
    ItemRow,
    StatsItemsDailyRow,
    StatsReachDailyRow,
    UserRow,
    UserSessionRow,
)
from content_catalog.store.stats_rollup import REACH_TYPES, StatsRollupMixin, day_start, utc_day_sql
from content_catalog.store.types import as_utc, utc_now

ANONYMOUS = "anonymous"
"""Audience bucket of events whose user is unknown (anonymous sessions never linked to a user)."""


@dataclass(frozen=True, slots=True)
class ItemBrief:
    """An item named in a dashboard list, with the figure that put it there."""

    id: str
    title: str
    value: float | str | None = None


@dataclass(frozen=True, slots=True)
class CatalogCoverage:
    """Live items per (audience, topic), and the items an editor should look at."""

    items: int
    cells: dict[tuple[str, str], int]
    untagged_count: int
    untagged: list[ItemBrief]
    expiring_count: int
    expiring: list[ItemBrief]
    low_confidence_count: int
    low_confidence: list[ItemBrief]


@dataclass(frozen=True, slots=True)
class ReachRow:
    """Impressions and clicks of one audience on one channel on one UTC day."""

    day: str
    audience: str
    channel: str
    impressions: int
    clicks: int


@dataclass(frozen=True, slots=True)
class TopItem:
    """An item's clicks and impressions within one audience."""

    id: str
    title: str
    impressions: int
    clicks: int


@dataclass(frozen=True, slots=True)
class VariantCounts:
    """Impressions and clicks logged with one experiment label `<experiment>/<variant>`."""

    impressions: int = 0
    clicks: int = 0


@dataclass(slots=True)
class _Tally:
    impressions: int = 0
    clicks: int = 0

    def add(self, kind: str, n: int) -> None:
        if kind == "impression":
            self.impressions += n
        elif kind == "click":
            self.clicks += n


def audiences_of(raw: str | None) -> list[str]:
    """Audience ids of a user's stored `audiences` JSON text; [ANONYMOUS] for no user or no audience."""
    return list(_audience_tuple(raw))


@lru_cache(maxsize=4096)
def _audience_tuple(raw: str | None) -> tuple[str, ...]:
    """`audiences_of`, memoised: aggregate rows repeat a handful of audience texts thousands of times, and
    parsing each again cost more than the SQL (profiled in `bench/stats_queries.py`'s top items)."""
    if raw is None:
        return (ANONYMOUS,)
    parsed = json.loads(raw)
    names = tuple(str(a) for a in parsed) if isinstance(parsed, list) else ()
    return names or (ANONYMOUS,)


class StatsMixin(StatsRollupMixin):
    """Dashboard aggregates of the Store (catalog coverage, reach, top items, experiment counts)."""

    # ---------------------------------------------------------------------------------------- catalog
    def catalog_coverage(
        self,
        *,
        at: datetime | None = None,
        expiring_within: timedelta = timedelta(days=30),
        low_confidence_below: float = 0.5,
        limit: int = 20,
    ) -> CatalogCoverage:
        """Live (not deleted, not expired at `at`) items per audience × topic; untagged items; items
        expiring within `expiring_within`; auto-tagged items whose best tagger score is below
        `low_confidence_below` (editors should review those first). Lists hold at most `limit` items."""
        now = as_utc(at) if at is not None else utc_now()
        live = (ItemRow.deleted_at.is_(None), or_(ItemRow.expires_at.is_(None), ItemRow.expires_at > now))
        with self._read() as session:
            cells: dict[tuple[str, str], int] = defaultdict(int)
            total = 0
            grouped = select(ItemRow.audience_keys, ItemRow.topic_keys, func.count()).where(*live)
            grouped = grouped.group_by(ItemRow.audience_keys, ItemRow.topic_keys)
            for audience_keys, topic_keys, n in session.execute(grouped):
                total += n
                for audience in _keys(audience_keys):
                    for topic in _keys(topic_keys):
                        cells[(audience, topic)] += n
            untagged_where = (*live, ItemRow.audience_keys == ",")
            untagged_count = _count(session, untagged_where)
            untagged = [
                ItemBrief(i, t)
                for i, t in session.execute(
                    select(ItemRow.id, ItemRow.title).where(*untagged_where).order_by(ItemRow.id).limit(limit)
                )
            ]
            soon = (*live, ItemRow.expires_at.is_not(None), ItemRow.expires_at <= now + expiring_within)
            expiring_count = _count(session, soon)
            expiring = [
                ItemBrief(i, t, as_utc(e).isoformat())
                for i, t, e in session.execute(
                    select(ItemRow.id, ItemRow.title, ItemRow.expires_at)
                    .where(*soon)
                    .order_by(ItemRow.expires_at, ItemRow.id)
                    .limit(limit)
                )
            ]
            low_count, low = self._low_confidence(session, live, low_confidence_below, limit)
        return CatalogCoverage(
            items=total,
            cells=dict(cells),
            untagged_count=untagged_count,
            untagged=untagged,
            expiring_count=expiring_count,
            expiring=expiring,
            low_confidence_count=low_count,
            low_confidence=low,
        )

    def _low_confidence(
        self, session: Session, live: tuple[ColumnElement[bool], ...], below: float, limit: int
    ) -> tuple[int, list[ItemBrief]]:
        """Items whose effective tags all come from the tagger, ranked by their best tag score (lowest
        first). The tag array is unnested by the database (`json_each` / `json_array_elements`)."""
        score, source, tags = self._tag_elements()
        best = func.max(score)
        per_item = (
            select(ItemRow.id.label("id"), ItemRow.title.label("title"), best.label("best"))
            .select_from(ItemRow)
            .join(tags, true())
            .where(*live)
            .group_by(ItemRow.id, ItemRow.title)
            .having(func.sum(case((source == "auto", 0), else_=1)) == 0, best < below)
            .subquery()
        )
        count = int(session.scalar(select(func.count()).select_from(per_item)) or 0)
        rows = session.execute(
            select(per_item.c.id, per_item.c.title, per_item.c.best)
            .order_by(per_item.c.best, per_item.c.id)
            .limit(limit)
        )
        return count, [ItemBrief(i, t, round(float(b), 4)) for i, t, b in rows]

    def _tag_elements(self) -> tuple[ColumnElement[Any], ColumnElement[Any], Any]:
        """(score, source, table) of the elements of `items.audiences`, in this database's JSON dialect."""
        if self.dialect == "postgresql":
            tags = func.json_array_elements(ItemRow.audiences).table_valued("value")
            score = cast(tags.c.value.op("->>")("score"), Float)
            source = tags.c.value.op("->>")("source")
        else:
            tags = func.json_each(ItemRow.audiences).table_valued("value")
            score = cast(func.json_extract(tags.c.value, "$.score"), Float)
            source = func.json_extract(tags.c.value, "$.source")
        return score, source, tags

    # ------------------------------------------------------------------------------------------ reach
    def reach_query(self, since: datetime, until: datetime) -> Select[Any]:
        """The reach aggregate: (day, users.audiences JSON text, channel, type, count), one pass over the
        index range with the user looked up per event (cheaper than grouping per user first: measured in
        `bench/stats_queries.py`)."""
        day = self._utc_day(EventRow.timestamp).label("day")
        audiences = cast(UserRow.audiences, Text).label("audiences")
        return (
            select(day, audiences, EventRow.channel, EventRow.type, func.count())
            .select_from(self._events_with_users())
            .where(*self._reach_window(since, until))
            .group_by(day, audiences, EventRow.channel, EventRow.type)
        )

    def reach_by_day(self, since: datetime, until: datetime) -> list[ReachRow]:
        """Impressions and clicks per UTC day × audience × channel, for events with `since <= timestamp <
        until`, ordered by day, audience, channel (days without events are absent).

        Closed days come from the daily roll-up (refreshed first where dirty), the rest is counted live."""
        tallies: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
        for day_value, raw, channel, kind, n in self._reach_rows(since, until):
            for audience in _audience_tuple(raw):
                tallies[(str(day_value), audience, channel or "unknown")].add(kind, int(n))
        return [ReachRow(d, a, c, t.impressions, t.clicks) for (d, a, c), t in sorted(tallies.items())]

    def reach_by_day_live(self, since: datetime, until: datetime) -> list[ReachRow]:
        """`reach_by_day` counted from the events alone, without the roll-up (the reference it must equal)."""
        tallies: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
        with self._read() as session:
            for day_value, raw, channel, kind, n in session.execute(self.reach_query(since, until)):
                for audience in _audience_tuple(raw):
                    tallies[(str(day_value), audience, channel or "unknown")].add(kind, int(n))
        return [ReachRow(d, a, c, t.impressions, t.clicks) for (d, a, c), t in sorted(tallies.items())]

    def _reach_rows(self, since: datetime, until: datetime) -> list[Any]:
        """(day, audiences JSON text, channel, type, count) rows: roll-up for closed days, live elsewhere."""
        self.refresh_stats_rollup(since, until)
        first, end = self.closed_days(since, until)
        with self._read() as session:
            if first >= end:
                return list(session.execute(self.reach_query(since, until)))
            r = StatsReachDailyRow
            rolled = (
                select(r.day, r.audiences, r.channel, r.type, func.sum(r.n))
                .where(r.day >= first.isoformat(), r.day < end.isoformat())
                .group_by(r.day, r.audiences, r.channel, r.type)
            )
            rows = list(session.execute(rolled))
            for lo, hi in _live_ranges(since, until, first, end):
                rows.extend(session.execute(self.reach_query(lo, hi)))
            return rows

    def top_items_query(self, since: datetime, until: datetime) -> Select[Any]:
        """The top-items aggregate: (users.audiences JSON text, item_id, type, count)."""
        audiences = cast(UserRow.audiences, Text).label("audiences")
        return (
            select(audiences, EventRow.item_id, EventRow.type, func.count())
            .select_from(self._events_with_users())
            .where(*self._reach_window(since, until))
            .group_by(audiences, EventRow.item_id, EventRow.type)
        )

    def top_items_by_audience(self, since: datetime, until: datetime, k: int = 5) -> dict[str, list[TopItem]]:
        """Per audience, the `k` items with most clicks (then impressions) in `[since, until)` (closed days
        from the daily roll-up, the rest live, as in `reach_by_day`)."""
        return self._top_items(self._top_item_rows(since, until), k)

    def top_items_by_audience_live(self, since: datetime, until: datetime, k: int = 5) -> dict[str, list[TopItem]]:
        """`top_items_by_audience` counted from the events alone (the reference the roll-up must equal)."""
        with self._read() as session:
            rows = list(session.execute(self.top_items_query(since, until)))
        return self._top_items(rows, k)

    def _top_item_rows(self, since: datetime, until: datetime) -> list[Any]:
        """(audiences JSON text, item_id, type, count) rows: roll-up for closed days, live elsewhere."""
        self.refresh_stats_rollup(since, until)
        first, end = self.closed_days(since, until)
        with self._read() as session:
            if first >= end:
                return list(session.execute(self.top_items_query(since, until)))
            r = StatsItemsDailyRow
            rolled = (
                select(r.audiences, r.item_id, r.type, func.sum(r.n))
                .where(r.day >= first.isoformat(), r.day < end.isoformat())
                .group_by(r.audiences, r.item_id, r.type)
            )
            rows = list(session.execute(rolled))
            for lo, hi in _live_ranges(since, until, first, end):
                rows.extend(session.execute(self.top_items_query(lo, hi)))
            return rows

    def _top_items(self, rows: list[Any], k: int) -> dict[str, list[TopItem]]:
        tallies: dict[str, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
        for raw, item_id, kind, n in rows:
            for audience in _audience_tuple(raw):
                tallies[audience][item_id].add(kind, int(n))
        best = {
            audience: sorted(per_item.items(), key=lambda kv: (-kv[1].clicks, -kv[1].impressions, kv[0]))[:k]
            for audience, per_item in tallies.items()
        }
        ids = sorted({item_id for rows in best.values() for item_id, _ in rows})
        with self._read() as session:
            titles = {i: t for i, t in session.execute(select(ItemRow.id, ItemRow.title).where(ItemRow.id.in_(ids)))}
        return {
            audience: [TopItem(i, titles.get(i, i), t.impressions, t.clicks) for i, t in rows]
            for audience, rows in sorted(best.items())
        }

    # ------------------------------------------------------------------------------------ experiments
    def experiment_counts(
        self, experiment: str, variants: list[str], since: datetime | None = None
    ) -> dict[str, VariantCounts]:
        """Impressions and clicks per variant of events labelled `<experiment>/<variant>` (from `since`).

        Labels are matched by equality (`IN`), so the `(experiment, type, timestamp)` index serves it."""
        labels = {f"{experiment}/{v}": v for v in variants}
        tallies = {v: _Tally() for v in variants}
        with self._read() as session:
            for label, kind, n in session.execute(self.experiment_query(list(labels), since)):
                tallies[labels[label]].add(kind, int(n))
        return {v: VariantCounts(t.impressions, t.clicks) for v, t in tallies.items()}

    @staticmethod
    def experiment_query(labels: list[str], since: datetime | None = None) -> Select[Any]:
        """The experiment aggregate: (label, type, count) of impressions and clicks with these labels."""
        query = (
            select(EventRow.experiment, EventRow.type, func.count())
            .where(EventRow.experiment.in_(labels), EventRow.type.in_(REACH_TYPES))
            .group_by(EventRow.experiment, EventRow.type)
        )
        return query if since is None else query.where(EventRow.timestamp >= as_utc(since))

    def explain(self, query: Select[Any]) -> list[str]:
        """The database's plan for `query` (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL), one
        line per step: what `bench/stats_queries.py` prints and a test checks for the dashboard indexes."""
        with self._read() as session:
            rows = session.execute(Explain(query)).all()
        if self.dialect == "sqlite":
            return [str(row[-1]) for row in rows]
        return [str(row[0]) for row in rows]

    # ---------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _reach_window(since: datetime, until: datetime) -> tuple[ColumnElement[bool], ...]:
        return (
            EventRow.type.in_(REACH_TYPES),
            EventRow.timestamp >= as_utc(since),
            EventRow.timestamp < as_utc(until),
        )

    @staticmethod
    def _events_with_users() -> Any:
        """events LEFT JOIN the session link of events without a user id, LEFT JOIN users on the resolved
        id (joins, not correlated subqueries: PostgreSQL hashes the small tables instead of planning a
        lookup per event)."""
        linked = and_(EventRow.user_id.is_(None), UserSessionRow.session_id == EventRow.session_id)
        resolved = func.coalesce(EventRow.user_id, UserSessionRow.user_id)
        return outerjoin(EventRow, UserSessionRow, linked).outerjoin(UserRow, UserRow.id == resolved)

    def _utc_day(self, column: Any) -> ColumnElement[str]:
        """'YYYY-MM-DD' of a timestamp in UTC."""
        return utc_day_sql(column, self.dialect)


def _live_ranges(since: datetime, until: datetime, first: date, end: date) -> list[tuple[datetime, datetime]]:
    """The parts of [since, until) outside the closed days [first, end): a partial first day, and
    today (or a partial last day) onwards."""
    ranges = [(as_utc(since), day_start(first)), (day_start(end), as_utc(until))]
    return [(lo, hi) for lo, hi in ranges if lo < hi]


def _keys(keys: str | None) -> list[str]:
    """ ",a,b," -> ["a", "b"]."""
    return [k for k in (keys or "").split(",") if k]


def _count(session: Session, where: tuple[ColumnElement[bool], ...]) -> int:
    return int(session.scalar(select(func.count()).select_from(ItemRow).where(*where)) or 0)


class Explain(Executable, ClauseElement):
    """`EXPLAIN` of a SELECT, with the SELECT's parameters bound as usual (SQLAlchemy has no built-in one)."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)
