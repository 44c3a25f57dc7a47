"""The daily roll-up behind the dashboard's reach and top items: closed UTC days pre-aggregated once.

A closed day (before the store clock's UTC today) is counted once into `stats_reach_daily` /
`stats_items_daily` by the same SQL as the live query (INSERT ... SELECT, nothing through Python) and
recorded as built in `stats_rollup_days`. Every write that changes a day's answer bumps that day's
`dirty` counter in its own transaction: new events (late ones included), `erase_user`, `purge_before`,
a user's new audiences and a session linked to a user (both re-attribute past events). A read rebuilds
only the days of its window that are not built or are dirty, one short transaction per day; today and
any partial day at the window's edges are aggregated live.

Concurrency: a rebuild clears `dirty` only if it still holds the value read before recounting, so a
write committed meanwhile leaves the day dirty for the next read. PostgreSQL rebuilds take an advisory
lock so two workers never insert a day twice; SQLite writers are serialised already.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, delete, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from content_catalog.store.base import StoreBase
from content_catalog.store.models import EventRow, StatsDayRow, StatsItemsDailyRow, StatsReachDailyRow
from content_catalog.store.types import as_utc

REACH_TYPES = ("impression", "click")
"""Event types the dashboard's reach and top items count."""
_ROLLUP_LOCK = 0x6B657075  # "kepu": PostgreSQL advisory lock key of roll-up rebuilds


def utc_day_sql(column: Any, dialect: str) -> ColumnElement[str]:
    """'YYYY-MM-DD' of a timestamp in UTC (SQLite stores UTC wall-clock text; PostgreSQL timestamptz)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)
    return func.substr(column, 1, 10, type_=String)


def day_of(moment: datetime) -> str:
    """The UTC day of an (aware or naive-UTC) datetime, as the SQL above spells it."""
    return as_utc(moment).date().isoformat()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def mark_days_dirty(session: Session, dialect: str, days: Iterable[str]) -> None:
    """Bump `dirty` of these days (creating their state row unbuilt) in the caller's transaction."""
    rows = [{"day": d, "built": False, "dirty": 1} for d in sorted(set(days))]
    if not rows:
        return
    table = StatsDayRow.__table__
    insert_: Any = _dialect_insert(dialect, table)
    statement = insert_.on_conflict_do_update(index_elements=["day"], set_={"dirty": table.c.dirty + 1})
    session.execute(statement, rows)


def mark_event_days_dirty(session: Session, dialect: str, condition: ColumnElement[bool]) -> None:
    """Mark dirty the days of the events matching `condition` (call before deleting them)."""
    day = utc_day_sql(EventRow.timestamp, dialect)
    days = session.scalars(select(day).where(condition).distinct()).all()
    mark_days_dirty(session, dialect, days)


def mark_days_before_dirty(session: Session, cutoff: datetime) -> None:
    """Mark dirty every built day up to the one holding `cutoff` (retention purge)."""
    table = StatsDayRow.__table__
    session.execute(update(table).where(table.c.day <= day_of(cutoff)).values(dirty=table.c.dirty + 1))


def _dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


class StatsRollupMixin(StoreBase):
    """Builds and refreshes the daily roll-up (see the module docstring)."""

    def reach_query(self, since: datetime, until: datetime) -> Select[Any]:  # pragma: no cover - StatsMixin
        raise NotImplementedError

    def top_items_query(self, since: datetime, until: datetime) -> Select[Any]:  # pragma: no cover - StatsMixin
        raise NotImplementedError

    def today(self) -> date:
        """The store clock's UTC day: it and later days are open (counted live), earlier ones closed."""
        return as_utc(self.clock()).date()

    def closed_days(self, since: datetime, until: datetime) -> tuple[date, date]:
        """[first, end) of the whole closed days inside [since, until) (empty when first >= end)."""
        start, stop = as_utc(since), as_utc(until)
        first = start.date() if start == day_start(start.date()) else start.date() + timedelta(days=1)
        return first, min(stop.date(), self.today())

    def refresh_stats_rollup(self, since: datetime, until: datetime) -> list[str]:
        """Count the closed days of [since, until) that are not built or are dirty; returns those days.

        Called by the dashboard reads; also usable ahead of time (e.g. after a bulk import)."""
        first, end = self.closed_days(since, until)
        days = [(first + timedelta(days=n)).isoformat() for n in range(max(0, (end - first).days))]
        if not days:
            return []
        with self._read() as session:
            table = StatsDayRow.__table__
            clean = set(
                session.scalars(
                    select(table.c.day).where(table.c.day.in_(days), table.c.built.is_(True), table.c.dirty == 0)
                )
            )
        stale = [d for d in days if d not in clean]
        for day in stale:
            self._rebuild_day(day)
        return stale

    def _rebuild_day(self, day: str) -> None:
        """Recount one closed day in one transaction (delete its rows, INSERT ... SELECT, mark built)."""
        table = StatsDayRow.__table__
        lo = day_start(date.fromisoformat(day))
        hi = lo + timedelta(days=1)
        with self._write() as session:
            if self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROLLUP_LOCK})
            state = session.execute(select(table.c.built, table.c.dirty).where(table.c.day == day)).first()
            if state is not None and state.built and state.dirty == 0:
                return  # another worker rebuilt it meanwhile
            for target in (StatsReachDailyRow, StatsItemsDailyRow):
                session.execute(delete(target).where(target.day == day))
            reach = self.reach_query(lo, hi).subquery()
            session.execute(
                insert(StatsReachDailyRow).from_select(
                    ["day", "audiences", "channel", "type", "n"],
                    select(*reach.c),
                )
            )
            items = self.top_items_query(lo, hi).subquery()
            session.execute(
                insert(StatsItemsDailyRow).from_select(
                    ["day", "audiences", "item_id", "type", "n"],
                    select(literal(day, String), *items.c),
                )
            )
            if state is None:
                insert_ = _dialect_insert(self.dialect, table)
                session.execute(
                    insert_.values(day=day, built=True, dirty=0).on_conflict_do_nothing(index_elements=["day"])
                )
            else:
                session.execute(
                    update(table).where(table.c.day == day, table.c.dirty == state.dirty).values(built=True, dirty=0)
                )
