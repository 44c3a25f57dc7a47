"""Catalog items: upsert with audience-tag merging and history, reads, filters, soft delete, stats."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, or_, select
from sqlalchemy.orm import Session

from content_catalog.schema import AudienceTag, Item, TagSource
from content_catalog.store import audience_merge as merge
from content_catalog.store.base import StoreBase
from content_catalog.store.errors import ConflictError, NotFoundError
from content_catalog.store.item_rows import ITEM_COLUMNS, content_values, item_from_columns, item_from_row, row_content
from content_catalog.store.models import AudienceHistoryRow, ItemRow
from content_catalog.store.records import AudienceChange, ItemChanges, UpsertResult
from content_catalog.store.types import as_utc, utc_now
from content_catalog.taxonomy import AUDIENCES, FORMATS, TOPICS

_TIE_CAP = 64  # rows sharing the newest `updated_at` that catalog_version looks at


def _catalog_version_query() -> Select[Any]:
    latest = select(func.max(ItemRow.updated_at)).scalar_subquery()
    tied = select(ItemRow.row_version).where(ItemRow.updated_at == latest).limit(_TIE_CAP + 1).subquery()
    return select(latest, func.count(), func.coalesce(func.sum(tied.c.row_version), 0)).select_from(tied)


CATALOG_VERSION_QUERY = _catalog_version_query()
"""(newest `updated_at`, rows carrying it, their version sum): built once, also run inside the online read."""


def catalog_token(row: Sequence[Any]) -> str:
    """`catalog_version`'s token from one `CATALOG_VERSION_QUERY` row."""
    newest, count, versions = row
    if count > _TIE_CAP:  # a bulk write stamped this many rows at once: the capped count is stable
        count, versions = _TIE_CAP + 1, 0
    stamp = as_utc(newest).isoformat() if newest is not None else "-"
    return hashlib.sha256(f"{stamp}|{count}|{versions}".encode()).hexdigest()[:16]


_ID_CHUNK = 500  # ids per `IN (...)` query: well under SQLite's and PostgreSQL's parameter limits


class ItemsMixin(StoreBase):
    """Item methods of the Store.

    Deletion is *soft*: `delete_item` sets `deleted_at`, the item disappears from every read, its audience
    history and events stay, and upserting the same id later brings it back (counted as created).
    """

    # ----------------------------------------------------------------------------------------- writes
    def upsert_items(self, items: Sequence[Item], actor: str = "ingest") -> UpsertResult:
        """Insert new items and update existing ones in ONE transaction (all or nothing).

        Identical re-ingests leave rows untouched (`unchanged`), so `catalog_version()` stays put.
        Audience tags merge as described in `content_catalog.store.audience_merge`: an editor override
        set through `set_audiences` survives every ingest; a record without editor tags keeps the editor
        tags an earlier record carried. Each change of the effective tags is written to the history.
        """
        if not items:
            return UpsertResult()
        ids = [item.id for item in items]
        if len(ids) != len(set(ids)):
            dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
            raise ConflictError(f"duplicate item id(s) in one batch: {dupes[:10]}")
        return self._retry_key_races(lambda: self._upsert_once(items, ids, actor))

    def _upsert_once(self, items: Sequence[Item], ids: list[str], actor: str) -> UpsertResult:
        now = utc_now()
        created = updated = unchanged = 0
        with self._write() as session:
            existing = self._rows_by_id(session, ids, include_deleted=True)
            new_rows: list[dict[str, Any]] = []
            histories: list[dict[str, Any]] = []
            for item in items:
                row = existing.get(item.id)
                if row is None:
                    new_row, history = self._new_row(item, actor, now)
                    new_rows.append(new_row)
                    histories.extend(history)
                    created += 1
                    continue
                revived = row.deleted_at is not None
                changed = self._apply_item(session, row, item, actor, now)
                if revived:
                    row.deleted_at = None
                    self._touch(row, now)
                    created += 1
                elif changed:
                    updated += 1
                else:
                    unchanged += 1
            # New rows go in as Core executemany inserts (no ORM objects: ~4x faster for big feeds);
            # items first, then their history, which references them.
            if new_rows:
                session.execute(insert(ItemRow.__table__), new_rows)
            if histories:
                session.execute(insert(AudienceHistoryRow.__table__), histories)
            self._audit(
                session,
                actor,
                "items.upsert",
                "items",
                {"created": created, "updated": updated, "unchanged": unchanged, "count": len(items)},
            )
        return UpsertResult(created=created, updated=updated, unchanged=unchanged)

    def set_audiences(
        self,
        item_id: str,
        tags: Sequence[AudienceTag | str],
        actor: str,
        source: TagSource | str = TagSource.EDITOR,
    ) -> list[AudienceTag]:
        """Write one tag layer of an item and return its new effective tags.

        source="editor": the editor override (wins over everything, survives ingests; [] clears it).
        source="auto": the tagger's layer (never replaces editor tags; it only shows when no editor
        tags exist). Tags' own `source` is replaced by `source`. Raises NotFoundError for unknown ids.
        """
        layer = TagSource(source)
        parsed = [AudienceTag(audience=t) if isinstance(t, str) else t for t in tags]
        names = [t.audience for t in parsed]
        if len(names) != len(set(names)):
            raise ValueError(f"tags: audience listed twice: {names}")
        tag_json = merge.tags_to_json(merge.with_source(parsed, layer))
        now = utc_now()
        with self._write() as session:
            row = self._live_row(session, item_id, for_update=True)
            old = list(row.audiences or [])
            if layer == TagSource.EDITOR:
                before = row.override_audiences
                row.override_audiences = tag_json or None
                changed_layer = before != row.override_audiences
            else:
                changed_layer = list(row.auto_audiences or []) != tag_json
                row.auto_audiences = tag_json
            new = merge.effective_tags(row.override_audiences, row.feed_audiences, row.auto_audiences)
            if changed_layer:
                self._set_effective(session, row, new, layer.value, actor, now, old=old)
                self._touch(row, now)
            if layer == TagSource.EDITOR:
                self._audit(session, actor, "items.set_audiences", f"item:{item_id}", {"tags": tag_json})
            return merge.tags_from_json(row.audiences)

    def delete_item(self, item_id: str, actor: str) -> bool:
        """Soft-delete an item; False when it does not exist or is already deleted."""
        now = utc_now()
        with self._write() as session:
            row = session.get(ItemRow, item_id, with_for_update=True)
            if row is None or row.deleted_at is not None:
                return False
            row.deleted_at = now
            self._touch(row, now)
            self._audit(session, actor, "items.delete", f"item:{item_id}", None)
            return True

    # ------------------------------------------------------------------------------------------ reads
    def get_item(self, item_id: str) -> Item | None:
        """The item, or None when unknown or deleted."""
        with self._read() as session:
            row = session.get(ItemRow, item_id)
            return None if row is None or row.deleted_at is not None else item_from_row(row)

    def get_items(self, ids: Sequence[str]) -> list[Item]:
        """Items for `ids` in the given order; unknown and deleted ids are left out."""
        with self._read() as session:
            rows = self._rows_by_id(session, ids, include_deleted=False)
        return [item_from_row(rows[i]) for i in dict.fromkeys(ids) if i in rows]

    def list_items(
        self,
        *,
        audience: str | None = None,
        topic: str | None = None,
        format: str | None = None,
        active_at: datetime | None = None,
        include_unverified: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Item]:
        """Live items matching every given filter, newest publication first (ties by id).

        audience: effective audience tag; topic: one of the item's topics; format: exact format;
        active_at: published at or before it and not yet expired; include_unverified=False drops
        unverified items.
        """
        _check_choice("audience", audience, AUDIENCES)
        _check_choice("topic", topic, TOPICS)
        _check_choice("format", format, FORMATS)
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError(f"limit/offset must be >= 0, got limit={limit} offset={offset}")
        query = self._filtered(audience, topic, format, active_at, include_unverified)
        query = query.order_by(ItemRow.published_at.desc(), ItemRow.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return [item_from_row(row) for row in session.scalars(query)]

    def iter_items(self, batch_size: int = 1000) -> Iterator[Item]:
        """All live items ordered by id, read in batches (keyset pagination, constant memory)."""
        last: str | None = None
        while True:
            query = select(*ITEM_COLUMNS).where(ItemRow.deleted_at.is_(None)).order_by(ItemRow.id).limit(batch_size)
            if last is not None:
                query = query.where(ItemRow.id > last)
            with self._read() as session:  # plain rows of the needed columns: no ORM instances, no tag layers
                rows = session.connection().execute(query).all()
            items = [item_from_columns(row) for row in rows]
            yield from items
            if len(rows) < batch_size:
                return
            last = items[-1].id

    def count_items(self, *, include_deleted: bool = False) -> int:
        """Number of live items (or of all rows with include_deleted=True)."""
        query = select(func.count()).select_from(ItemRow)
        if not include_deleted:
            query = query.where(ItemRow.deleted_at.is_(None))
        with self._read() as session:
            return int(session.scalar(query) or 0)

    def audience_history(self, item_id: str) -> list[AudienceChange]:
        """Every change of the item's effective audience tags, oldest first."""
        query = (
            select(AudienceHistoryRow)
            .where(AudienceHistoryRow.item_id == item_id)
            .order_by(AudienceHistoryRow.at, AudienceHistoryRow.id)
        )
        with self._read() as session:
            return [
                AudienceChange(
                    item_id=h.item_id,
                    old=merge.tags_from_json(h.old),
                    new=merge.tags_from_json(h.new),
                    source=h.source,
                    actor=h.actor,
                    at=h.at,
                )
                for h in session.scalars(query)
            ]

    def catalog_stats(self, at: datetime | None = None) -> dict[str, Any]:
        """Counts over live items: by effective audience, topic and format; untagged; editor- vs
        auto-tagged; active / expired / scheduled (not yet published) at `at` (default now); unverified."""
        now = as_utc(at) if at is not None else utc_now()
        query = select(
            ItemRow.audiences,
            ItemRow.topics,
            ItemRow.format,
            ItemRow.published_at,
            ItemRow.expires_at,
            ItemRow.verified,
        ).where(ItemRow.deleted_at.is_(None))
        by_audience = dict.fromkeys(AUDIENCES, 0)
        by_topic = dict.fromkeys(TOPICS, 0)
        by_format = dict.fromkeys(FORMATS, 0)
        counts = dict.fromkeys(
            (
                "items",
                "untagged",
                "editor_tagged",
                "auto_tagged",
                "active",
                "expired",
                "scheduled",
                "unverified",
            ),
            0,
        )
        with self._read() as session:
            for audiences, topics, fmt, published_at, expires_at, verified in session.execute(query):
                counts["items"] += 1
                for tag in audiences or []:
                    by_audience[tag["audience"]] = by_audience.get(tag["audience"], 0) + 1
                for topic in topics or []:
                    by_topic[topic] = by_topic.get(topic, 0) + 1
                by_format[fmt] = by_format.get(fmt, 0) + 1
                if not audiences:
                    counts["untagged"] += 1
                elif audiences[0]["source"] == TagSource.EDITOR.value:
                    counts["editor_tagged"] += 1
                else:
                    counts["auto_tagged"] += 1
                if published_at > now:
                    counts["scheduled"] += 1
                elif expires_at is not None and expires_at <= now:
                    counts["expired"] += 1
                else:
                    counts["active"] += 1
                counts["unverified"] += 0 if verified else 1
        return {**counts, "by_audience": by_audience, "by_topic": by_topic, "by_format": by_format}

    def catalog_version(self) -> str:
        """A short token that changes whenever any item row changes (insert, update, tag change, delete).

        Every change stamps its row's indexed `updated_at` (and bumps `row_version`), so the token is the
        latest `updated_at` plus how many rows carry it and their version sum: two changes within one clock
        tick still give a new token. Cost is independent of the catalog size (an index lookup and at most
        `_TIE_CAP` index entries), so services may check it on every request. A writer whose clock runs
        behind the newest row is not seen until the next change (hosts sharing a store keep NTP time).
        """
        with self._read() as session:  # one statement: an index lookup and at most _TIE_CAP + 1 entries
            return catalog_token(session.execute(CATALOG_VERSION_QUERY).one())

    def item_changes_since(
        self, mark: datetime | None, *, margin_seconds: float = 1.0, limit: int = 5_000
    ) -> ItemChanges:
        """Items written after `mark` (an indexed range on `updated_at`), for services that apply catalog
        changes incrementally; pass the returned `mark` to the next call.

        The returned mark trails this read by `margin_seconds` when rows are that recent, so a write that
        took its timestamp before this read but committed after it is read next time (a row may thus be
        returned twice: applying it again must be harmless). With `mark=None`, or more than `limit`
        changed rows, `complete` is False: reload everything (and continue from the returned mark)."""
        read_at = utc_now()
        with self._read() as session:
            latest = session.scalar(select(func.max(ItemRow.updated_at)))
            latest = as_utc(latest) if latest is not None else None
            if mark is None:
                return ItemChanges([], [], _trailing(latest, read_at, margin_seconds), complete=False)
            query = select(ItemRow).where(ItemRow.updated_at > mark).order_by(ItemRow.updated_at).limit(limit + 1)
            rows = list(session.scalars(query))
            if len(rows) > limit:
                return ItemChanges([], [], _trailing(latest, read_at, margin_seconds), complete=False)
            items = [item_from_row(row) for row in rows if row.deleted_at is None]
            deleted = [row.id for row in rows if row.deleted_at is not None]
        newest = max((as_utc(row.updated_at) for row in rows), default=as_utc(mark))
        return ItemChanges(items, deleted, max(as_utc(mark), _trailing(newest, read_at, margin_seconds)))

    # ---------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _rows_by_id(session: Session, ids: Iterable[str], *, include_deleted: bool) -> dict[str, ItemRow]:
        unique = list(dict.fromkeys(ids))
        rows: dict[str, ItemRow] = {}
        for start in range(0, len(unique), _ID_CHUNK):
            query = select(ItemRow).where(ItemRow.id.in_(unique[start : start + _ID_CHUNK]))
            if not include_deleted:
                query = query.where(ItemRow.deleted_at.is_(None))
            rows.update((row.id, row) for row in session.scalars(query))
        return rows

    @staticmethod
    def _live_row(session: Session, item_id: str, *, for_update: bool = False) -> ItemRow:
        row = session.get(ItemRow, item_id, with_for_update=for_update)
        if row is None or row.deleted_at is not None:
            raise NotFoundError(f"item {item_id!r} not found")
        return row

    @staticmethod
    def _touch(row: ItemRow, now: datetime) -> None:
        row.updated_at = now
        row.row_version = (row.row_version or 0) + 1

    @staticmethod
    def _set_effective(
        session: Session,
        row: ItemRow,
        new: list[dict[str, Any]],
        source: str,
        actor: str,
        now: datetime,
        *,
        old: list[dict[str, Any]],
    ) -> None:
        """Store the new effective tags and log the change (no-op when they did not change)."""
        if new == old:
            return
        row.audiences = new
        row.audience_keys = merge.audience_keys(new)
        session.add(AudienceHistoryRow(item_id=row.id, old=old, new=new, source=source, actor=actor, at=now))

    @staticmethod
    def _new_row(item: Item, actor: str, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Column values for a never-seen id, and its first history entry when it comes with tags."""
        editor, auto = merge.split_by_source(item.audiences)
        feed, auto_json = merge.tags_to_json(editor), merge.tags_to_json(auto)
        effective = merge.effective_tags(None, feed, auto_json)
        row = {
            "id": item.id,
            **content_values(item),
            "audiences": effective,
            "audience_keys": merge.audience_keys(effective),
            "feed_audiences": feed,
            "override_audiences": None,
            "auto_audiences": auto_json,
            "row_version": 1,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }
        if not effective:
            return row, []
        source = TagSource.EDITOR.value if feed else TagSource.AUTO.value
        history = {"item_id": item.id, "old": [], "new": effective, "source": source, "actor": actor, "at": now}
        return row, [history]

    def _apply_item(self, session: Session, row: ItemRow, item: Item, actor: str, now: datetime) -> bool:
        """Update `row` from `item`; True when anything changed."""
        values = content_values(item)
        editor, auto = merge.split_by_source(item.audiences)
        feed = merge.tags_to_json(editor) if editor else list(row.feed_audiences or [])
        auto_json = merge.tags_to_json(auto) if auto else list(row.auto_audiences or [])
        layers_changed = feed != list(row.feed_audiences or []) or auto_json != list(row.auto_audiences or [])
        content_changed = values != row_content(row)
        if not (layers_changed or content_changed):
            return False
        for name, value in values.items():
            setattr(row, name, value)
        old = list(row.audiences or [])
        row.feed_audiences, row.auto_audiences = feed, auto_json
        new = merge.effective_tags(row.override_audiences, feed, auto_json)
        source = TagSource.EDITOR.value if (row.override_audiences or feed) else TagSource.AUTO.value
        self._set_effective(session, row, new, source, actor, now, old=old)
        self._touch(row, now)
        return True

    @staticmethod
    def _filtered(
        audience: str | None,
        topic: str | None,
        fmt: str | None,
        active_at: datetime | None,
        include_unverified: bool,
    ) -> Select[tuple[ItemRow]]:
        query = select(ItemRow).where(ItemRow.deleted_at.is_(None))
        if audience is not None:
            query = query.where(ItemRow.audience_keys.like(f"%,{audience},%"))
        if topic is not None:
            query = query.where(ItemRow.topic_keys.like(f"%,{topic},%"))
        if fmt is not None:
            query = query.where(ItemRow.format == fmt)
        if active_at is not None:
            at = as_utc(active_at)
            query = query.where(ItemRow.published_at <= at, or_(ItemRow.expires_at.is_(None), ItemRow.expires_at > at))
        if not include_unverified:
            query = query.where(ItemRow.verified.is_(True))
        return query


def _check_choice(name: str, value: str | None, allowed: dict[str, str]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name}: unknown value {value!r}; expected one of {sorted(allowed)}")


def _trailing(newest: datetime | None, read_at: datetime, margin_seconds: float) -> datetime:
    """Where the next change-feed read starts: the newest row seen, but no later than `margin_seconds`
    before this read (rows stamped that recently may still be committing)."""
    floor = read_at - timedelta(seconds=margin_seconds)
    return floor if newest is None else min(newest, floor)
