"""`kepu events ingest` on SQLite and PostgreSQL: stored rows, file:line:field errors, idempotent re-runs,
erasure and roll-up dirtiness; and the fast event validator agreeing with the `Event` schema."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app
from content_catalog.event_validation import event_tuple_or_errors, fast_event_tuple, time_bounds
from content_catalog.schema import Event
from content_catalog.store import Store
from content_catalog.store.models import StatsDayRow
from tests.store_fixtures import (  # noqa: F401
    T0,
    backend_fixture,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

runner = CliRunner()


def _event(n: int, **fields: Any) -> dict[str, Any]:
    record = {
        "event_id": f"f{n}",
        "user_id": f"u{n % 3}",
        "item_id": "a",
        "type": "click",
        "timestamp": (T0 + timedelta(minutes=n)).isoformat(),
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def _ingest(store: Store, *files: Path, pepper: str = "") -> Any:
    env = {"KEPU_STORE_URL": store.url, "KEPU_ID_PEPPER": pepper}
    return runner.invoke(app, ["events", "ingest", "--json", *map(str, files)], env=env)


def _write_jsonl(path: Path, lines: list[Any]) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def _summary(output: str) -> dict[str, Any]:
    return json.loads(next(line for line in output.splitlines() if line.startswith("{")))


def test_ingest_stores_valid_rows_and_reruns_as_duplicates(store: Store, tmp_path: Path) -> None:
    store.upsert_items([make_item("a"), make_item("b")])
    jsonl = _write_jsonl(tmp_path / "events.jsonl", [_event(n) for n in range(5)])
    csv_file = tmp_path / "more.csv"
    csv_file.write_text(
        "event_id,user_id,session_id,item_id,type,timestamp,dwell_seconds,position\n"
        f"c1,,sess-9,b,dwell,{T0.isoformat()},12.5,3\n"
        f"f0,u0,,a,click,{T0.isoformat()},,\n",  # repeats f0 of the JSONL file: a duplicate
        encoding="utf-8",
    )
    first = _ingest(store, jsonl, csv_file)
    assert first.exit_code == 0, first.output
    assert _summary(first.output) | {"seconds": 0} == {
        "files": [str(jsonl), str(csv_file)],
        "rows": 7,
        "accepted": 6,
        "duplicates": 1,
        "erased": 0,
        "rejected_rows": 0,
        "seconds": 0,
    }
    frame = store.events_frame()
    assert sorted(frame["event_id"]) == ["c1", "f0", "f1", "f2", "f3", "f4"]
    dwell = frame[frame["event_id"] == "c1"].iloc[0]
    assert (dwell["dwell_seconds"], dwell["position"], dwell["session_id"]) == (12.5, 3, "sess-9")
    again = _ingest(store, jsonl, csv_file)
    assert again.exit_code == 0, again.output
    assert (_summary(again.output)["accepted"], _summary(again.output)["duplicates"]) == (0, 7)
    assert store.count_events() == 6


def test_bad_rows_exit_nonzero_with_file_line_field(store: Store, tmp_path: Path) -> None:
    store.upsert_items([make_item("a")])
    path = _write_jsonl(
        tmp_path / "events.jsonl",
        [
            _event(1),
            _event(2, type="teleport"),
            "",
            "{not json",
            _event(5, item_id="nope"),
            _event(6, user_id=None),
            _event(7, colour="red"),
            _event(8),
        ],
    )
    result = _ingest(store, path)
    assert result.exit_code == 1
    for expected in (
        f"{path}:2: type: Input should be",
        f"{path}:4: -: not JSON",
        f"{path}:5: item_id: unknown item 'nope'",
        f"{path}:6: -: either user_id or session_id is required",
        f"{path}:7: colour: unknown field (not allowed)",
    ):
        assert expected in result.output, result.output
    assert sorted(store.events_frame()["event_id"]) == ["f1", "f8"], "valid rows are stored"
    assert "f8 " not in result.output


def test_erased_subjects_and_rollup_days(store: Store, tmp_path: Path) -> None:
    store.upsert_items([make_item("a")])
    store.erase_user("u1", actor="test", now=T0 + timedelta(days=1))
    path = _write_jsonl(tmp_path / "e.jsonl", [_event(n) for n in range(3)])  # users u0, u1, u2
    result = _ingest(store, path)
    assert result.exit_code == 0, result.output
    assert (_summary(result.output)["accepted"], _summary(result.output)["erased"]) == (2, 1)
    day = T0.date().isoformat()
    with store.engine.connect() as connection:
        dirty = connection.execute(select(StatsDayRow.dirty).where(StatsDayRow.day == day)).scalar_one()
    assert dirty == 1, "one bump per batch with new reach events"
    assert _ingest(store, path).exit_code == 0
    with store.engine.connect() as connection:
        again = connection.execute(select(StatsDayRow.dirty).where(StatsDayRow.day == day)).scalar_one()
    assert again == 1, "duplicates alone change no day"


def test_pseudonymised_ids_match_the_api(store: Store, tmp_path: Path) -> None:
    from content_catalog.pseudonyms import ClientIds

    store.upsert_items([make_item("a")])
    path = _write_jsonl(tmp_path / "e.jsonl", [_event(1, user_id="wx-openid-1")])
    assert _ingest(store, path, pepper="pepper-for-tests").exit_code == 0
    assert list(store.events_frame()["user_id"]) == [ClientIds("pepper-for-tests").stored("wx-openid-1")]


RECORDS: list[dict[str, Any]] = [
    _event(1),
    _event(2, timestamp="2025-03-01T08:00:00Z"),
    _event(3, timestamp="2025-03-01T16:00:00.5+08:00"),
    _event(4, timestamp="2025-03-01T08:00:00"),
    _event(5, timestamp=1_740_816_000),
    _event(6, timestamp="1999-12-31T23:59:59+00:00"),
    _event(7, timestamp="2025-02-30T08:00:00+00:00"),
    _event(8, timestamp="0001-01-01T00:00:00+14:00"),
    _event(9, type="dwell"),
    _event(10, type="dwell", dwell_seconds="3.5"),
    _event(11, type="dwell", dwell_seconds=86_401),
    _event(12, dwell_seconds=float("nan")),
    _event(13, position="7"),
    _event(14, position=True),
    _event(15, position=10_001),
    _event(16, position="007"),
    _event(17, user_id=" u1 "),
    _event(18, user_id="bad id"),
    _event(19, event_id=""),
    _event(20, event_id="x\u202ey"),
    _event(21, channel="wechat"),
    _event(22, channel="carrier-pigeon"),
    _event(23, experiment="exp-1"),
    _event(24, experiment="e" * 201),
    _event(25, user_id=None, session_id="s-1"),
    _event(26, type="CLICK"),
    _event(27, item_id=5),
    _event(28, extra=1),
    _event(29, timestamp="2025-03-01T08:00:00.123456Z"),
    _event(30, timestamp="2025-03-01T08:00:00.000001+00:00"),
    _event(31, timestamp="2025-02-29T08:00:00.000000Z"),
    _event(32, timestamp="1999-12-31T23:59:59.999999Z"),
    _event(33, timestamp="2999-01-01T00:00:00.000000+00:00"),
    _event(34, timestamp="2025-03-01T24:00:00.000000Z"),
]


@pytest.mark.parametrize("record", RECORDS, ids=[str(r["event_id"]) if "event_id" in r else "-" for r in RECORDS])
def test_fast_validator_agrees_with_the_schema(record: dict[str, Any]) -> None:
    bounds = time_bounds()
    try:
        event = Event.model_validate(record)
    except ValidationError:
        assert fast_event_tuple(record, bounds) is None
        assert isinstance(event_tuple_or_errors(record, bounds), list)
        return
    values = event_tuple_or_errors(record, bounds)
    assert not isinstance(values, list)
    stamp = event.timestamp.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    expected = (event.event_id, event.user_id, event.session_id, event.item_id, event.type.value, stamp)
    assert tuple(values[:6]) == expected
    assert values[6:] == (event.dwell_seconds, event.channel, event.experiment, event.position)


def test_a_batch_naming_thousands_of_subjects_fits_the_lock_table(store: Store) -> None:
    """PostgreSQL's lock table holds ~6,400 locks by default: subject locks are bucketed, so a bulk batch
    of 8,000 distinct users (a file batch) is one transaction that neither fails nor leaves a lock."""
    from content_catalog.store.event_bulk import EventValues

    store.erase_user("u-erased", actor="test", now=T0 + timedelta(days=1))
    rows = [EventValues(f"m{n}", f"u-{n}", None, "a", "view", T0, None, None, None, None) for n in range(8_000)]
    rows.append(EventValues("gone", "u-erased", None, "a", "view", T0, None, None, None, None))
    result = store.insert_event_values(rows)
    assert (result.accepted, result.erased, store.count_events()) == (8_000, 1, 8_000)


def test_batch_order_is_kept_when_an_event_id_repeats(store: Store) -> None:
    from content_catalog.store.event_bulk import EventValues

    def row(event_id: str, item: str) -> EventValues:
        return EventValues(event_id, "u1", None, item, "view", T0, None, None, None, None)

    result = store.insert_event_values([row("x", "a"), row("y", "b"), row("x", "c")])
    assert (result.accepted, result.duplicates) == (2, 1)
    frame = store.events_frame()  # same timestamp: ordered by insertion (id)
    assert list(zip(frame["event_id"], frame["item_id"], strict=True)) == [("x", "a"), ("y", "b")]


def test_parsing_in_a_child_process_gives_the_same_report(store: Store, tmp_path: Path) -> None:
    """Big files are parsed in a forked process (`parallel`): same verdicts, pseudonyms and errors."""
    from content_catalog.event_ingest import ingest_event_files
    from content_catalog.pseudonyms import ClientIds

    store.upsert_items([make_item("a")])
    records = [
        _event(1),
        _event(2, type="teleport"),
        _event(3, item_id="nope"),
        _event(4, user_id=None, session_id="s"),
    ]
    path = _write_jsonl(tmp_path / "e.jsonl", records)
    ids = ClientIds("pepper-for-tests")
    report = ingest_event_files(store, [path], ids=ids, parallel=True)
    assert (report.rows, report.accepted, [(e.line, e.field) for e in report.rejected]) == (
        4,
        2,
        [(2, "type"), (3, "item_id")],
    )
    frame = store.events_frame()
    assert sorted(frame["session_id"].dropna()) == [ids.stored("s")]
    assert sorted(frame["user_id"].dropna()) == [ids.stored("u1")]
    with pytest.raises(ValueError, match="unsupported file type"):
        ingest_event_files(store, [path, tmp_path / "events.txt"], parallel=True)
