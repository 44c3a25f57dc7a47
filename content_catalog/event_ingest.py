"""Event ingest from JSONL and CSV files (`kepu events ingest`): the file twin of `POST /v1/events`.

Policy, the same as the API's (docs/api.md) because events are telemetry, not curated content: every
row is validated on its own (the `Event` schema's rules, via `content_catalog.event_validation`);
valid rows are stored, bad rows are NOT stored and are reported as `file:line: field: reason`
(the `kepu catalog ingest` format), and the command then exits non-zero. Rows about an unknown or
deleted item are bad rows (field `item_id`). An event id already stored, or repeated in the files, is a
duplicate, never an error, so re-running a file (e.g. after fixing its bad rows) is idempotent. Events
of a user or session erased after they happened are refused and counted as `erased`. User and session
ids are stored under the deployment's pseudonym key (`KEPU_ID_PEPPER`), as the API stores them.

Files are streamed: rows are validated and written in batches (one transaction each), so a 10M-row
file never sits in memory; a batch that fails in the store stops the ingest with the earlier batches
kept (re-running is safe). Line numbers are 1-based physical lines (CSV: the header is line 1, a row's
number is the line it starts on; JSONL: blank lines count but are skipped). CSV cells: empty = missing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from content_catalog.event_validation import event_values_or_errors, newest_accepted
from content_catalog.ingest import RowError
from content_catalog.store.event_bulk import EventValues

if TYPE_CHECKING:
    from content_catalog.pseudonyms import ClientIds
    from content_catalog.store import Store

SUFFIXES: dict[str, str] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
BATCH_ROWS = {"sqlite": 50_000, "postgresql": 20_000}
"""Rows per transaction: large enough that per-transaction costs vanish, small enough to bound memory
and how long a PostgreSQL batch holds its (bucketed) subject locks against an erasure."""


@dataclass(slots=True)
class EventIngestReport:
    """What an ingest did; `rejected` lists every bad row (nothing of them was stored)."""

    files: list[str] = field(default_factory=list)
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    erased: int = 0
    rejected: list[RowError] = field(default_factory=list)


Numbered = tuple[str, int, Any]  # (file, line, raw record or RowError)


def read_event_records(path: Path) -> Iterator[Numbered]:
    """(file, line, record) of every row of a JSONL / CSV file; unparsable rows come as a RowError."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return _jsonl(path) if kind == "jsonl" else _csv(path)


def _jsonl(path: Path) -> Iterator[Numbered]:
    name = str(path)
    with path.open(encoding="utf-8-sig", errors="strict") as handle:
        line = 0
        try:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield name, line, RowError(name, line, "-", f"not JSON: {exc.msg} (column {exc.colno})")
                    continue
                if not isinstance(record, dict):
                    yield name, line, RowError(name, line, "-", "expected a JSON object")
                    continue
                yield name, line, record
        except UnicodeDecodeError:
            yield name, line + 1, RowError(name, line + 1, "-", "not UTF-8 text")


def _csv(path: Path) -> Iterator[Numbered]:
    name = str(path)
    with path.open(encoding="utf-8-sig", newline="", errors="strict") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield name, 1, RowError(name, 1, "-", f"bad CSV header: {exc}")
            return
        if len(set(header)) != len(header) or "" in header:
            yield name, 1, RowError(name, 1, "-", "bad CSV header: duplicate or empty column name")
            return
        previous_end = reader.line_num
        while True:
            start = previous_end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield name, start, RowError(name, start, "-", f"bad CSV row: {exc}")
                return
            previous_end = reader.line_num
            if not any(cells):
                continue
            if len(cells) != len(header):
                yield name, start, RowError(name, start, "-", f"expected {len(header)} cells, got {len(cells)}")
                continue
            yield name, start, {k: v for k, v in zip(header, cells, strict=True) if v != ""}


def ingest_event_files(
    store: Store, paths: Sequence[Path], ids: ClientIds | None = None, batch_rows: int | None = None
) -> EventIngestReport:
    """Validate and store the events of `paths` in batches (see the module docstring for the policy)."""
    report = EventIngestReport(files=[str(p) for p in paths])
    size = batch_rows or BATCH_ROWS.get(store.dialect, 5_000)
    known_items: set[str] = set()
    latest = newest_accepted()
    batch: list[tuple[str, int, EventValues]] = []
    for path in paths:
        for name, line, record in read_event_records(Path(path)):
            report.rows += 1
            if isinstance(record, RowError):
                report.rejected.append(record)
                continue
            checked = event_values_or_errors(record, latest)
            if isinstance(checked, list):
                report.rejected += [RowError(name, line, f, reason) for f, reason in checked]
                continue
            batch.append((name, line, checked))
            if len(batch) >= size:
                _write(store, batch, known_items, ids, report)
                batch = []
    if batch:
        _write(store, batch, known_items, ids, report)
    report.rejected.sort(key=lambda e: (e.file, e.line))
    return report


def _write(
    store: Store,
    batch: list[tuple[str, int, EventValues]],
    known_items: set[str],
    ids: ClientIds | None,
    report: EventIngestReport,
) -> None:
    """Store one batch: rows about unknown items become rejections, the rest one transaction."""
    wanted = {values.item_id for _, _, values in batch} - known_items
    known_items |= store.live_item_ids(wanted) if wanted else set()
    keep: list[EventValues] = []
    for name, line, values in batch:
        if values.item_id not in known_items:
            report.rejected.append(RowError(name, line, "item_id", f"unknown item {values.item_id!r}"))
        elif ids is not None and ids.hashed:
            user, session = ids.stored_or_none(values.user_id), ids.stored_or_none(values.session_id)
            keep.append(values._replace(user_id=user, session_id=session))
        else:
            keep.append(values)
    result = store.insert_event_values(keep)
    report.accepted += result.accepted
    report.duplicates += result.duplicates
    report.erased += result.erased
