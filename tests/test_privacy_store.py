"""Personal-information rights on the store, on SQLite and PostgreSQL: an erasure leaves nothing of the
user in any table (the audit entry names only a reference), late events from before the erasure are
refused even while batches race the erasure, export returns everything held, and the retention purge
deletes old events and snapshots in bounded batches."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from content_catalog.schema import User
from content_catalog.store import Store
from content_catalog.store.models import Base
from content_catalog.store.subjects import SESSION_SUBJECT_PREFIX
from features.interactions import SESSION_PREFIX
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    make_event,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

USER = "erase-me-7"
SESSION = "sess-erase-7"
OTHER = "keep-me-3"


@pytest.fixture(name="held")
def held_fixture(store: Store) -> Iterator[Store]:
    """A store holding USER (profile, a linked session, events as user and as session, a snapshot)
    and OTHER (who must survive every erasure of USER)."""
    store.upsert_items([make_item("a"), make_item("b")])
    store.upsert_user(User(id=USER, town="沙溪镇", age_band="60_plus", interests=["health"], sessions=[SESSION]))
    store.upsert_user(User(id=OTHER, town="浏河镇"))
    store.add_events(
        [
            make_event("e1", user_id=USER),
            make_event("e2", user_id=None, session_id=SESSION, minutes=1),
            make_event("e3", item_id="b", user_id=OTHER, minutes=2),
        ]
    )
    store.save_snapshot("snap-user", {"ranked": ["a"], "context": {"u": USER}}, 600, owner=USER)
    store.save_snapshot("snap-sess", {"ranked": ["b"]}, 600, owner=f"session:{SESSION}")
    store.save_snapshot("snap-other", {"ranked": ["a"]}, 600, owner=OTHER)
    yield store


def every_row(store: Store) -> list[str]:
    """Every row of every table, as text (so a raw id anywhere, JSON included, is found)."""
    rows: list[str] = []
    with store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows += [f"{table.name}: {tuple(row)}" for row in connection.execute(select(table))]
    return rows


def test_session_subjects_match_the_bundle_keys() -> None:
    assert SESSION_SUBJECT_PREFIX == SESSION_PREFIX


def test_erasure_leaves_nothing_of_the_user_in_any_table(held: Store) -> None:
    assert any(USER in row for row in every_row(held)) and any(SESSION in row for row in every_row(held))
    result = held.erase_user(USER, actor="admin:abcd…")
    assert (result.profile, result.sessions, result.events, result.snapshots) == (True, 1, 2, 2)
    leftovers = [row for row in every_row(held) if USER in row or SESSION in row]
    assert leftovers == []
    assert held.get_user(USER) is None and held.user_for_session(SESSION) is None
    assert held.user_history(user_id=USER) == [] and held.user_history(session_id=SESSION) == []
    assert held.load_snapshot("snap-user") is None and held.load_snapshot("snap-sess") is None
    # OTHER is untouched.
    assert held.get_user(OTHER) is not None and len(held.user_history(user_id=OTHER)) == 1
    assert held.load_snapshot("snap-other") is not None
    # Audited without personal data: a reference and counts.
    entry = held.audit_log(1)[0]
    assert entry.action == "users.erase" and entry.target == f"erasure:{result.reference}"
    assert entry.payload == {"profile": True, "sessions": 1, "events": 2, "snapshots": 2}
    # Tombstones exist for the user and the session, under keyed hashes only.
    assert held.erased_at(USER) is not None and held.erased_at(f"session:{SESSION}") is not None
    assert held.erased_at(OTHER) is None


def test_erasure_is_repeatable_and_reports_unknown_users(held: Store) -> None:
    held.erase_user(USER, actor="admin")
    again = held.erase_user(USER, actor="admin")
    assert not again.found
    assert not held.erase_user("never-seen", actor="admin").found


def test_late_events_from_before_the_erasure_are_refused(held: Store) -> None:
    held.erase_user(USER, actor="admin")
    erased_at = held.erased_at(USER)
    assert erased_at is not None
    late = held.add_events(
        [
            make_event("late-1", user_id=USER),  # T0: long before the erasure (a retried batch)
            make_event("late-2", user_id=None, session_id=SESSION),
            make_event("late-3", user_id=OTHER, item_id="b"),
            make_event("late-4", user_id=OTHER, session_id=SESSION),  # OTHER on a shared device: theirs
        ]
    )
    assert (late.accepted, late.erased, late.duplicates) == (2, 2, 0)
    # The user may come back: events after the erasure are new data.
    back = held.add_events([make_event("new-1", user_id=USER, timestamp=erased_at + timedelta(seconds=1))])
    assert back.accepted == 1


def test_export_returns_everything_held(held: Store) -> None:
    exported = held.export_user(USER)
    assert exported is not None
    assert exported["profile"]["town"] == "沙溪镇" and exported["profile"]["interests"] == ["health"]
    assert [s["session_id"] for s in exported["sessions"]] == [SESSION]
    assert [e["event_id"] for e in exported["events"]] == ["e1", "e2"]
    assert sorted(s["ranked_item_ids"][0] for s in exported["feed_snapshots"]) == ["a", "b"]
    assert held.export_user("never-seen") is None
    held.erase_user(USER, actor="admin")
    assert held.export_user(USER) is None


def test_event_batches_racing_an_erasure_leave_nothing(store: Store) -> None:
    """Writers post events of the user (timestamped before the erasure) while it runs: whichever order
    the transactions take, none of those events survives."""
    store.upsert_items([make_item("a")])
    store.upsert_user(User(id=USER, sessions=[SESSION]))
    store.add_events([make_event("seed", user_id=USER)])
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def post(writer: int) -> None:
        try:
            start.wait()
            for batch in range(8):
                ids = [f"w{writer}-{batch}-{i}" for i in range(5)]
                store.add_events([make_event(i, user_id=USER, minutes=batch) for i in ids])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def erase() -> None:
        try:
            start.wait()
            store.erase_user(USER, actor="admin")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(w,)) for w in range(3)] + [threading.Thread(target=erase)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert store.user_history(user_id=USER) == [] and store.count_events() == 0


def test_retention_purge_deletes_old_events_and_snapshots_in_batches(store: Store) -> None:
    store.upsert_items([make_item("a")])
    store.add_events([make_event(f"old-{i}", minutes=i) for i in range(7)])
    store.add_events([make_event(f"new-{i}", minutes=60 * 24 * 30 + i) for i in range(3)])
    store.save_snapshot("live", {"ranked": []}, 600)
    result = store.purge_before(T0 + timedelta(days=1), batch_size=3)
    assert (result.events, result.snapshots) == (7, 0)
    assert result.batches == 3  # 3 + 3 + 1
    assert sorted(store.events_frame()["event_id"]) == ["new-0", "new-1", "new-2"]
    # Snapshots: expired ones and ones created before the cut-off go.
    later = store.purge_before(T0, now=T0 + timedelta(days=10_000))
    assert later.snapshots == 1 and store.load_snapshot("live") is None
    with pytest.raises(ValueError, match="batch_size"):
        store.purge_before(T0, batch_size=0)


def test_superseded_model_versions_can_be_deleted_but_not_the_served_ones(store: Store) -> None:
    from content_catalog.store import ConflictError, NotFoundError

    for version in ("old", "pinned", "live"):
        store.add_model_version(version, f"/models/{version}")
    store.activate_model_version("live")
    store.upsert_experiment("exp", {"a": 1, "b": 1}, params={"b": {"model_version": "pinned"}})
    assert store.delete_model_version("old", actor="dpo").path == "/models/old"
    assert [v.version for v in store.list_model_versions()] == ["live", "pinned"]
    assert store.audit_log(1)[0].action == "models.delete"
    with pytest.raises(ConflictError, match="active model version"):
        store.delete_model_version("live")
    with pytest.raises(ConflictError, match="active experiment"):
        store.delete_model_version("pinned")
    with pytest.raises(NotFoundError):
        store.delete_model_version("old")
