"""Item ingest from CSV, JSONL and Parquet: good files land, any bad row rejects the whole batch with
every error named by file, line and field, and nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from content_catalog.ingest import (
    IngestError,
    RowError,
    ingest_files,
    ingest_items,
    main,
    read_records,
    validate_records,
)
from content_catalog.store import Store
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

CSV_GOOD = """id,title,summary,topics,format,audiences,published_at,expires_at,verified,duration_minutes
csv-1,防范电信诈骗十招,老年人防骗指南,anti_fraud_rumor;health,article,seniors,2025-03-01T08:00:00+08:00,,true,
csv-2,"水稻病虫害
绿色防控",田间管理,"[""agri_tech"", ""ecology""]",video,"[{""audience"": ""farmers"",
 ""score"": 0.9}]",2025-03-02,,1,12.5

csv-3,机器人进课堂,,ai,course,youth,2025-03-03T00:00:00Z,2025-12-31T00:00:00Z,no,45
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[object | str]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    return _write(path, "\n".join(lines) + "\n")


def test_read_csv_line_numbers_lists_and_empty_cells(tmp_path: Path) -> None:
    records = read_records(_write(tmp_path / "items.csv", CSV_GOOD))
    assert [line for line, _ in records] == [2, 3, 7], "quoted multi-line cell and blank line are counted"
    first, second, third = (r for _, r in records)
    assert first["topics"] == "anti_fraud_rumor;health" and "expires_at" not in first
    assert second["topics"] == ["agri_tech", "ecology"] and second["audiences"] == [
        {"audience": "farmers", "score": 0.9}
    ]
    assert "summary" not in third
    items, errors = validate_records(records, "items.csv")
    assert errors == []
    assert items[0].published_at == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert items[1].title == "水稻病虫害\n绿色防控" and items[1].duration_minutes == 12.5
    assert items[2].verified is False and items[2].audiences[0].audience == "youth"


def test_every_bad_field_of_every_bad_row_is_reported(tmp_path: Path) -> None:
    bad = _write(
        tmp_path / "bad.csv",
        "id,title,topics,format,audiences,url\n"
        "ok-1,好文章,health,article,seniors,\n"
        "bad id,,astrology,podcast,aliens,ftp://x\n"
        "ok-2,另一篇,ai,video,youth,\n"
        'bad-json,标题,"[""health""",article,,\n'
        "too-many,标题,health,article,,,extra\n",
    )
    with pytest.raises(IngestError) as caught:
        ingest_files(Store("sqlite://"), [bad])
    found = {(e.line, e.field) for e in caught.value.errors}
    assert found == {
        (3, "id"), (3, "title"), (3, "topics"), (3, "format"), (3, "audiences.0.audience"), (3, "url"),
        (5, "topics"), (6, "-"),
    }  # fmt: skip
    assert all(e.file == str(bad) for e in caught.value.errors)
    message = str(caught.value)
    assert f"{bad}:3: format:" in message and f"{bad}:6: -:" in message and "nothing written" in message


def test_good_files_in_all_formats_land_in_one_batch(store: Store, tmp_path: Path) -> None:
    csv_path = _write(tmp_path / "a.csv", CSV_GOOD)
    jsonl_path = _jsonl(
        tmp_path / "b.jsonl",
        [
            {
                "id": "j-1",
                "title": "气象灾害预警",
                "topics": ["meteorology"],
                "audiences": ["farmers", "public"],
            },
            "",
        ],
    )
    parquet_path = tmp_path / "c.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["p-1", "p-2"],
                "title": ["中国空间站", "心理健康"],
                "topics": [["aerospace"], ["mental_health"]],
                "published_at": [datetime(2025, 1, 1, 12), datetime(2025, 1, 2, 12)],
                "duration_minutes": [None, 8.0],
            }
        ),
        parquet_path,
    )
    report = ingest_files(store, [csv_path, jsonl_path, parquet_path], actor="feed")
    assert (report.rows, report.created, report.updated) == (6, 6, 0)
    p1 = store.get_item("p-1")
    assert p1 is not None and p1.published_at == datetime(2025, 1, 1, 12, tzinfo=UTC) and p1.duration_minutes is None
    assert store.get_item("j-1").audiences[1].audience == "public"  # type: ignore[union-attr]
    again = ingest_files(store, [csv_path, jsonl_path, parquet_path], actor="feed")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


def test_one_bad_row_in_any_file_writes_nothing(store: Store, tmp_path: Path) -> None:
    good = _jsonl(tmp_path / "good.jsonl", [{"id": "g-1", "title": "好"}, {"id": "g-2", "title": "也好"}])
    bad = _jsonl(
        tmp_path / "bad.jsonl",
        [{"id": "b-1", "title": "好"}, "{not json", [1, 2], {"id": "b-2", "title": "x", "colour": "red"}],
    )
    with pytest.raises(IngestError) as caught:
        ingest_files(store, [good, bad])
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "-"), (3, "-"), (4, "colour")]
    assert "invalid JSON" in caught.value.errors[0].reason
    assert store.count_items() == 0


def test_duplicate_ids_across_files_name_both_lines(tmp_path: Path) -> None:
    first = _jsonl(tmp_path / "one.jsonl", [{"id": "dup", "title": "甲"}])
    second = _write(tmp_path / "two.csv", "id,title\nx,乙\ndup,丙\n")
    with pytest.raises(IngestError) as caught:
        ingest_files(Store("sqlite://"), [first, second])
    assert caught.value.errors == [
        RowError(str(second), 3, "id", f"duplicate id 'dup' (first at {first}:1)"),
    ]


def test_parquet_bad_rows_use_row_number_plus_one(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table({"id": ["ok", "bad"], "title": ["好", ""], "format": ["video", "vinyl"]}), path)
    with pytest.raises(IngestError) as caught:
        ingest_files(Store("sqlite://"), [path])
    assert {(e.line, e.field) for e in caught.value.errors} == {(2, "title"), (2, "format")}


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"items\.xlsx.*unsupported"):
        read_records(_write(tmp_path / "items.xlsx", "x"))
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        read_records(tmp_path / "nope.csv")


def test_ingest_items_accepts_items_and_dicts(store: Store) -> None:
    report = ingest_items(store, [make_item("m-1"), {"id": "m-2", "title": "字典"}], actor="api")
    assert report.created == 2
    with pytest.raises(IngestError) as caught:
        ingest_items(store, [{"id": "m-3", "title": "好"}, {"id": "m-4"}, "junk"], actor="api")  # type: ignore[list-item]
    assert [(e.file, e.line, e.field) for e in caught.value.errors] == [
        ("<items>", 2, "title"),
        ("<items>", 3, "-"),
    ]
    assert store.get_item("m-3") is None


def test_command_line_ingest_reports_and_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    good = _jsonl(tmp_path / "good.jsonl", [{"id": "c-1", "title": "好"}])
    bad = _write(tmp_path / "bad.csv", "id,title\nc-2,\n")
    assert main([str(good), "--store-url", url]) == 0
    assert "1 created" in capsys.readouterr().out
    assert main([str(good), str(bad), "--store-url", url]) == 1
    assert f"{bad}:2: title:" in capsys.readouterr().err
    with Store(url) as store:
        assert [i.id for i in store.iter_items()] == ["c-1"]
