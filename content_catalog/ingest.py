"""Item ingest from CSV, JSONL and Parquet: validate every row of every file, then write all or nothing.

A batch with any bad row anywhere is rejected whole with an `IngestError` listing `file:line: field:
reason` for every problem (all bad fields of all bad rows), so editors fix a feed in one pass.

Line numbers are 1-based positions in the file: CSV counts physical lines with the header as line 1
(a row's number is the line it starts on); JSONL counts lines including blank ones; Parquet gives
row index + 1 (0 = the whole file is unreadable). CSV cells: empty = missing (the field's default
applies); list fields (`topics`, `audiences`) are "a;b" / "a,b" strings or JSON arrays
(`[{"audience": "seniors", "source": "auto"}]`). A record without `published_at` is dated "now" when
new and keeps its stored date when the item already exists, so re-ingesting an undated feed is a no-op.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from content_catalog.schema import Item

if TYPE_CHECKING:
    from content_catalog.store import Store

LIST_FIELDS: frozenset[str] = frozenset({"topics", "audiences"})
"""Item fields that hold lists (a CSV cell may give them as a JSON array)."""

SUFFIXES: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
"""Recognised file extensions -> reader."""

MAX_LISTED_ERRORS = 200  # `str(IngestError)` lists at most this many; `.errors` always has all


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one row: which file, which line, which field ("-" for the whole row), and why."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


class IngestError(ValueError):
    """The batch was rejected and nothing was written; `errors` lists every bad row and field."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors: list[RowError] = list(errors)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        rows = len({(e.file, e.line) for e in self.errors})
        lines = [f"ingest rejected, nothing written: {len(self.errors)} error(s) in {rows} row(s)"]
        lines += [f"  {e}" for e in self.errors[:MAX_LISTED_ERRORS]]
        if len(self.errors) > MAX_LISTED_ERRORS:
            lines.append(f"  ... and {len(self.errors) - MAX_LISTED_ERRORS} more")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What an accepted ingest wrote."""

    files: list[str] = field(default_factory=list)
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(slots=True)
class ParsedFile:
    """Records read from one file plus the rows that could not even be parsed."""

    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- reading
def read_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, raw record) pairs of a CSV / JSONL / Parquet file.

    Raises IngestError when some line cannot be parsed (e.g. broken JSON), ValueError for an unknown
    extension and FileNotFoundError for a missing file.
    """
    parsed = parse_file(path)
    if parsed.errors:
        raise IngestError(parsed.errors)
    return parsed.records


def parse_file(path: str | Path) -> ParsedFile:
    """Like `read_records`, but returns per-line parse errors instead of raising them."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; expected one of {sorted(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if kind == "csv":
        return _parse_csv(path)
    if kind == "jsonl":
        return _parse_jsonl(path)
    return _parse_parquet(path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # tolerate the BOM spreadsheet exports add
    except UnicodeDecodeError as exc:
        raise IngestError([RowError(str(path), _line_of_offset(path, exc.start), "-", "not UTF-8 text")]) from exc


def _line_of_offset(path: Path, offset: int) -> int:
    return path.read_bytes()[:offset].count(b"\n") + 1


def _parse_csv(path: Path) -> ParsedFile:
    result = ParsedFile()
    reader = csv.reader(_read_text(path).splitlines(keepends=True), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return result  # an empty file holds no records
    except csv.Error as exc:
        result.errors.append(RowError(str(path), 1, "-", f"bad CSV header: {exc}"))
        return result
    names = [h.strip() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or "" in names:
        reason = f"duplicate column(s) {dupes}" if dupes else "empty column name"
        result.errors.append(RowError(str(path), 1, "-", f"bad CSV header: {reason}"))
        return result
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.errors.append(RowError(str(path), start, "-", f"bad CSV row: {exc}"))
            break  # the reader cannot resynchronise after a quoting error
        previous_end = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            result.errors.append(
                RowError(str(path), start, "-", f"{len(cells)} cells but the header has {len(names)} columns")
            )
            continue
        record, errors = _csv_record(names, cells, str(path), start)
        result.errors.extend(errors)
        if not errors:
            result.records.append((start, record))
    return result


def _csv_record(names: list[str], cells: list[str], file: str, line: int) -> tuple[dict[str, Any], list[RowError]]:
    record: dict[str, Any] = {}
    errors: list[RowError] = []
    for name, raw in zip(names, cells, strict=False):
        value = raw.strip()
        if not value:
            continue  # empty cell = missing: the schema default applies
        if name in LIST_FIELDS and value.startswith("["):
            try:
                record[name] = json.loads(value)
            except json.JSONDecodeError as exc:
                errors.append(RowError(file, line, name, f"invalid JSON array: {exc.msg} at column {exc.colno}"))
            continue
        record[name] = value
    return record, errors


def _parse_jsonl(path: Path) -> ParsedFile:
    result = ParsedFile()
    for number, text in enumerate(_read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            result.errors.append(RowError(str(path), number, "-", f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(value, dict):
            result.errors.append(
                RowError(str(path), number, "-", f"expected a JSON object, got {type(value).__name__}")
            )
            continue
        result.records.append((number, value))
    return result


def _parse_parquet(path: Path) -> ParsedFile:
    import pyarrow.parquet as pq  # imported lazily: only Parquet ingest needs pyarrow

    result = ParsedFile()
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        result.errors.append(RowError(str(path), 0, "-", f"unreadable Parquet file: {exc}"))
        return result
    for index, row in enumerate(rows):
        result.records.append((index + 1, {k: v for k, v in row.items() if v is not None}))
    return result


# ------------------------------------------------------------------------------------------- validation
def validate_records(records: Iterable[tuple[int, dict[str, Any]]], source: str) -> tuple[list[Item], list[RowError]]:
    """Items from raw records, and a RowError for every bad field of every bad record (none are skipped)."""
    items: list[Item] = []
    errors: list[RowError] = []
    for line, record in records:
        try:
            items.append(Item.model_validate(record))
        except ValidationError as exc:
            errors.extend(_row_errors(exc, source, line))
    return items, errors


def _row_errors(exc: ValidationError, source: str, line: int) -> list[RowError]:
    out = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "-"
        reason = error["msg"].removeprefix("Value error, ")
        out.append(RowError(source, line, location, reason))
    return out


def _duplicate_ids(batches: Sequence[tuple[str, list[tuple[int, Item]]]]) -> list[RowError]:
    first_seen: dict[str, tuple[str, int]] = {}
    errors: list[RowError] = []
    for source, numbered in batches:
        for line, item in numbered:
            if item.id in first_seen:
                file, first_line = first_seen[item.id]
                errors.append(RowError(source, line, "id", f"duplicate id {item.id!r} (first at {file}:{first_line})"))
            else:
                first_seen[item.id] = (source, line)
    return errors


def _validated(
    records: list[tuple[int, dict[str, Any]]], source: str, undated: set[str]
) -> tuple[list[tuple[int, Item]], list[RowError]]:
    """Items with their line numbers; ids of records that gave no `published_at` go into `undated`."""
    numbered: list[tuple[int, Item]] = []
    errors: list[RowError] = []
    for line, record in records:
        items, row_errors = validate_records([(line, record)], source)
        errors.extend(row_errors)
        numbered.extend((line, item) for item in items)
        if items and record.get("published_at") is None:
            undated.add(items[0].id)
    return numbered, errors


def _keep_publication_dates(store: Store, items: list[Item], undated: set[str]) -> list[Item]:
    """A record without `published_at` gets "now" from the schema. For an item already in the store that
    would move its date (and count it as updated) on every re-ingest, so it keeps the stored date."""
    if not undated:
        return items
    stored = {item.id: item.published_at for item in store.get_items(sorted(undated))}
    return [item.model_copy(update={"published_at": stored[item.id]}) if item.id in stored else item for item in items]


# ------------------------------------------------------------------------------------------------ ingest
def ingest_files(store: Store, paths: Sequence[str | Path], actor: str = "ingest") -> IngestReport:
    """Validate ALL files, then upsert every item in one transaction.

    Any unparsable line, invalid field or duplicate id (within or across files) raises IngestError with
    every problem listed, and nothing is written.
    """
    batches: list[tuple[str, list[tuple[int, Item]]]] = []
    errors: list[RowError] = []
    undated: set[str] = set()
    for path in paths:
        parsed = parse_file(path)
        numbered, row_errors = _validated(parsed.records, str(path), undated)
        errors += parsed.errors + row_errors
        batches.append((str(path), numbered))
    errors += _duplicate_ids(batches)
    if errors:
        raise IngestError(sorted(errors, key=lambda e: (e.file, e.line)))
    items = _keep_publication_dates(store, [item for _, numbered in batches for _, item in numbered], undated)
    result = store.upsert_items(items, actor=actor)
    return IngestReport(
        files=[str(p) for p in paths],
        rows=len(items),
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
    )


def ingest_items(
    store: Store, items: Iterable[Item | dict[str, Any]], actor: str = "ingest", source: str = "<items>"
) -> IngestReport:
    """Programmatic ingest (e.g. the HTTP batch endpoint): same all-or-nothing rule, "lines" are 1-based
    positions in `items`."""
    numbered: list[tuple[int, Item]] = []
    errors: list[RowError] = []
    undated: set[str] = set()
    for position, entry in enumerate(items, start=1):
        if isinstance(entry, Item):
            numbered.append((position, entry))
            continue
        if not isinstance(entry, dict):
            errors.append(RowError(source, position, "-", f"expected an Item or a dict, got {type(entry).__name__}"))
            continue
        valid, row_errors = _validated([(position, entry)], source, undated)
        errors.extend(row_errors)
        numbered.extend(valid)
    errors += _duplicate_ids([(source, numbered)])
    if errors:
        raise IngestError(sorted(errors, key=lambda e: e.line))
    result = store.upsert_items(_keep_publication_dates(store, [i for _, i in numbered], undated), actor=actor)
    return IngestReport(
        files=[source],
        rows=len(numbered),
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m content_catalog.ingest FILE... [--store-url URL] [--actor NAME]`: exit 0 when written,
    1 with every `file:line: field: reason` on stderr when the batch was rejected."""
    from content_catalog.settings import Settings
    from content_catalog.store import Store

    parser = argparse.ArgumentParser(prog="python -m content_catalog.ingest", description=main.__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="CSV / JSONL / Parquet files, all or nothing")
    parser.add_argument("--store-url", default=None, help="SQLAlchemy URL (default: KEPU_STORE_URL or ./var)")
    parser.add_argument("--actor", default="ingest-cli", help="name recorded in the audit log and history")
    args = parser.parse_args(argv)
    with Store(args.store_url or Settings().resolved_store_url) as store:
        try:
            report = ingest_files(store, args.files, actor=args.actor)
        except (IngestError, ValueError, FileNotFoundError) as exc:
            print(exc, file=sys.stderr)
            return 1
    print(f"ingested {report.rows} rows: {report.created} created, {report.updated} updated, "
          f"{report.unchanged} unchanged")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
