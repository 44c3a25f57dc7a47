"""tag_jsonl: adds audiences + scores, keeps every other field as written, rejects bad lines by file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from content_catalog.audience import AudienceTagger, ItemFileError, tag_jsonl
from tests.test_audience_fixtures import fixture_items


@pytest.fixture(scope="module")
def tagger() -> AudienceTagger:
    return AudienceTagger(inner_folds=3).fit(fixture_items())


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    )
    return path


def test_tags_and_keeps_other_fields(tmp_path: Path, tagger: AudienceTagger) -> None:
    rows = [
        {
            "id": "a1",
            "title": "水稻病虫害防治",
            "summary": "农户科学用药",
            "published_at": "2026-01-02T08:00:00+08:00",
            "topics": "agri_tech",
        },
        {"id": "a2", "title": "老年人高血压管理", "audiences": ["officials"], "url": "https://x.example/a2"},
    ]
    source = _write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out" / "tagged.jsonl"
    assert tag_jsonl(source, out, tagger=tagger) == 2
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written[0]["published_at"] == "2026-01-02T08:00:00+08:00"  # original text, not re-serialised
    assert written[0]["topics"] == "agri_tech"
    assert written[0]["audiences"][0] == "farmers"
    assert set(written[0]["audience_scores"]) == set(written[0]["audiences"])
    assert written[1]["audiences"] == ["officials"]  # editor label kept
    assert written[1]["audience_scores"] == {"officials": 1.0}
    assert written[1]["url"] == "https://x.example/a2"
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_bad_line_is_named_and_nothing_is_written(tmp_path: Path, tagger: AudienceTagger) -> None:
    source = _write(
        tmp_path / "in.jsonl",
        [{"id": "ok", "title": "好"}, "", {"id": "b", "title": "x", "format": "podcast"}, "{not json"],
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(ItemFileError) as info:
        tag_jsonl(source, out, tagger=tagger)
    message = str(info.value)
    assert f"{source}:3:format" in message
    assert f"{source}:4: invalid JSON" in message
    assert not out.exists()
